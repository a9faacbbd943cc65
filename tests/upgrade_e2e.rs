//! Upgrading in place: the master an earlier release left (`fixtures/master-at-60961ff.sql`,
//! migrations 0001–0011, with a demo day's sales, refunds, stock, Z report, users and audit
//! log) is loaded into an empty database, and the current server starts on it as an operator's
//! upgraded package would. It must run every later migration, seal the personal data that
//! release kept in clear, and lose nothing: every change of the change log, every sale and its
//! total, every audit event; the owner logs in with the same password, and a till enrolled
//! after the upgrade bootstraps the old documents and equals the master by digest.

use clap::Parser;
use e2e::TestDevice;
use pos_sync::headoffice::HeadOffice;
use pos_sync_server::pg::testing::{empty_db, run_script, scalar};
use uuid::Uuid;

const FIXTURE: &str = include_str!("fixtures/master-at-60961ff.sql");
/// The release's demo accounts (apps/pos-demo at that commit).
const ROOT: (&str, &str) = ("admin@platform.demo", "demo platform password");
const OWNER: (&str, &str) = ("olivia@cafe.demo", "café owner password");
const MASTER_KEY: &str = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";

/// What must be the same before and after the upgrade, as SQL returning one bigint.
const KEPT: &[(&str, &str)] = &[
    ("changes", "SELECT count(*) FROM change_log"),
    (
        "the change log's fingerprint",
        "SELECT ('x' || substr(md5(string_agg(hash || ':' || seq, ',' ORDER BY tenant_id, seq)), 1, 15))::bit(60)::bigint FROM change_log",
    ),
    ("documents", "SELECT count(*) FROM documents"),
    (
        "closed sales",
        "SELECT count(*) FROM p_sales WHERE status = 'closed'",
    ),
    (
        "the closed sales' total",
        "SELECT coalesce(sum(total), 0)::bigint FROM p_sales WHERE status = 'closed'",
    ),
    ("refunds", "SELECT count(*) FROM p_refunds"),
    ("Z reports", "SELECT count(*) FROM p_z_reports"),
    ("users", "SELECT count(*) FROM users"),
    ("devices", "SELECT count(*) FROM devices"),
];

#[test]
fn a_master_of_the_release_before_2fa_and_sealing_upgrades_in_place_and_loses_nothing() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let db = rt.block_on(empty_db()).expect("empty database");
    rt.block_on(run_script(&db.url, FIXTURE))
        .expect("the earlier release's dump loads");
    let q = |sql: &str| rt.block_on(scalar(&db.pool, sql)).expect(sql);
    assert_eq!(
        q("SELECT max(version) FROM _sqlx_migrations"),
        11,
        "the fixture is at migration 0011"
    );
    let before: Vec<i64> = KEPT.iter().map(|(_, sql)| q(sql)).collect();
    assert!(before[4] > 0, "the fixture has sales");
    let audit_before = q("SELECT count(*) FROM audit_events");
    let clear_before = q("SELECT count(*) FROM users WHERE email IS NOT NULL");
    assert!(clear_before > 0, "that release kept emails in clear");

    // The current server starts on it: migrations, sealing, then it serves.
    let dir = tempfile::tempdir().unwrap();
    let config = pos_sync_server::Config::parse_from([
        "pos-sync-server",
        "--database-url",
        &db.url,
        "--data-dir",
        &dir.path().display().to_string(),
        "--master-key",
        MASTER_KEY,
        "--admin-2fa",
        "optional",
        "--log",
        "warn",
    ]);
    let app = rt
        .block_on(pos_sync_server::app::prepare(&config))
        .expect("the server starts on the earlier release's master");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(async move {
        pos_sync_server::app::serve(&config, app, listener, async {
            let _ = stopped.await;
        })
        .await
    });

    // Every migration ran, once.
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql"))
        })
        .count() as i64;
    assert_eq!(
        q("SELECT count(*) FROM _sqlx_migrations WHERE success"),
        migrations
    );
    // Nothing lost, nothing doubled.
    for ((what, sql), was) in KEPT.iter().zip(&before) {
        assert_eq!(q(sql), *was, "{what} changed in the upgrade");
    }
    assert!(q("SELECT count(*) FROM audit_events") >= audit_before);
    // The personal data that release kept in clear is sealed now.
    assert_eq!(q("SELECT count(*) FROM users WHERE email IS NOT NULL"), 0);
    assert_eq!(
        q("SELECT count(*) FROM users WHERE email_sealed IS NOT NULL AND email_index IS NOT NULL"),
        clear_before,
        "every email that was in clear is sealed and indexed"
    );

    // People log in as before (the email is found by its blind index now).
    let root = HeadOffice::login(&url, ROOT.0, ROOT.1).expect("the platform admin logs in");
    let owner = HeadOffice::login(&url, OWNER.0, OWNER.1).expect("the owner logs in");
    let tenants = root.get("/v1/admin/tenants").unwrap();
    let cafe = tenants
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "Café Demo")
        .expect("the café is still a tenant");
    let tenant: Uuid = cafe["tenant_id"].as_str().unwrap().parse().unwrap();
    let stores = owner.get("/v1/admin/stores").unwrap();
    let store: Uuid = stores[0]["store_id"].as_str().unwrap().parse().unwrap();

    // A till enrolled after the upgrade reads every old document and equals the master.
    let till_dir = tempfile::tempdir().unwrap();
    let till = TestDevice::enrol(
        &url,
        &owner.enrolment_code(store).unwrap(),
        till_dir.path(),
        "till-after-upgrade",
    );
    let master = rt
        .block_on(pos_sync_server::docs::store_digest(&db.pool, tenant, store))
        .unwrap();
    assert_eq!(till.store.projection_digest().unwrap(), master);
    assert_eq!(
        till.store.closed_sales(1000).unwrap().len() as i64,
        q("SELECT count(*) FROM p_sales WHERE status = 'closed'")
    );

    let _ = stop.send(());
    rt.block_on(server).unwrap().expect("clean shutdown");
}
