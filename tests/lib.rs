//! Cross-crate end-to-end tests: the real sync server (on a throwaway PostgreSQL cluster that
//! the server's test harness starts with `initdb` in a temporary folder), real devices (SQLite
//! stores and the device sync engine over HTTP), and the head-office admin API.
//!
//! Where tests go:
//! - `sync_e2e.rs`: devices of one store and of another tenant, selling offline, converging
//!   through the server.
//! - `hostile_e2e.rs`: each change the server must refuse (or accept and flag), each its own
//!   test, with the master checked untouched.
//! - `props_e2e.rs`: random operations and random delivery (`pos-sync-testkit`), then every
//!   till equals the server by digest.
//! - `mesh_e2e.rs`: the store mesh with the real server: a dead till's sales carried to the
//!   cloud by another device, once, as the dead till's; a store of a back office, three tills
//!   and two kitchen screens working over loopback links while the cloud is away (tickets on
//!   the right station, a tab across three tills), then equal to the master by digest.
//! - `mesh_netns_e2e.rs`: the store mesh with every device a process (`mesh/device.rs`) in a
//!   network namespace of its own, found by mDNS, the cloud's link cut and restored (root only).
//! - `transfers_e2e.rs`: stock transfers between stores.
//! - `reports_e2e.rs`: head office's reports against the tills' documents and Z reports.
//! - `instances_e2e.rs`: two server instances behind a TCP balancer, killed and restarted
//!   mid-push while tills sell.
//! - `upgrade_e2e.rs`: an earlier release's master (`fixtures/`, see its README) upgraded in
//!   place by the current server; a fixture per release whose migration changes what is kept.
//! - `faults_e2e.rs`: the fault campaign (issue 16): four tills and the server as processes,
//!   a PostgreSQL cluster of its own, a fault proxy between them; `kill -9` of tills mid-write
//!   and mid-push and of the server mid-push, `pg_ctl stop -m immediate`, connections cut,
//!   delayed, duplicated and truncated, all at seeded moments (`POS_FAULT_SEED`); then nothing
//!   lost, nothing doubled, receipt numbers gapless, every till equal to the master. The CI run
//!   sells 400 sales; the long run (`POS_FAULT_SALES=10000`) is in `docs/benchmarks.md`. Its
//!   processes are the bins `faults/till.rs` (`fault-till`) and `faults/server.rs`
//!   (`fault-server`, the server's own `main`). A defect it finds gets a regression test named
//!   after it, in the crate where it is fixed.
//! - Crate-level tests stay in their crates (`crates/*/tests`, `apps/*/tests`).
//! - `examples/sell.rs` is not a test: a till for the console's end-to-end test
//!   (`console/e2e/run.mjs`), enrolling with a code and selling one known sale.
//!
//! This library holds the shared fixtures: [`TestServer`] and [`TestDevice`].

use std::net::SocketAddr;

use clap::Parser;
use pos_core::store::{DeviceIdentity, Store};
use pos_sync::device::{SyncEngine, SyncError, SyncReport, Transport};
use pos_sync::headoffice::HeadOffice;
use pos_sync::http::{enrol, HttpTransport};
use tempfile::TempDir;
use uuid::Uuid;

pub const ROOT_EMAIL: &str = "root@platform.test";
pub const ROOT_PASSWORD: &str = "correct horse battery staple";
/// The password of every tenant owner [`TestServer::tenant_with_store`] creates.
pub const OWNER_PASSWORD: &str = "a long owner password";

/// The real sync server on 127.0.0.1 (or an address given), on a fresh database of the
/// throwaway cluster.
pub struct TestServer {
    /// `http://ADDRESS:PORT`
    pub url: String,
    pub rt: tokio::runtime::Runtime,
    db: pos_sync_server::pg::testing::TestDb,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: TempDir,
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_on("127.0.0.1:0")
    }

    /// [`TestServer::start`] listening on `addr` (an address of an interface the test made).
    pub fn start_on(addr: &str) -> TestServer {
        // Server logs (JSON) go to the test's output, shown when a test fails.
        let _ = tracing_subscriber::fmt()
            .json()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .with_test_writer()
            .try_init();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let db = rt
            .block_on(pos_sync_server::pg::testing::test_db())
            .expect("throwaway postgres database");
        let dir = tempfile::tempdir().expect("temp dir");
        let config = pos_sync_server::Config::parse_from([
            "pos-sync-server",
            "--database-url",
            &db.url,
            "--data-dir",
            &dir.path().display().to_string(),
            "--jwt-secret",
            "end-to-end-secret-end-to-end-secret-0123",
            "--bootstrap-admin-email",
            ROOT_EMAIL,
            "--bootstrap-admin-password",
            ROOT_PASSWORD,
            // No compulsory TOTP here: two-factor login has its own tests (it/twofactor.rs).
            "--admin-2fa",
            "optional",
            "--shutdown-grace-secs",
            "2",
            "--log",
            "warn",
        ]);
        let app = rt
            .block_on(pos_sync_server::app::prepare(&config))
            .expect("server prepared");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(async move {
            let _ = pos_sync_server::app::serve(&config, app, listener, async {
                let _ = rx.await;
            })
            .await;
        });
        TestServer {
            url: format!("http://{addr}"),
            rt,
            db,
            stop: Some(tx),
            _dir: dir,
        }
    }

    pub fn root(&self) -> HeadOffice {
        HeadOffice::login(&self.url, ROOT_EMAIL, ROOT_PASSWORD).expect("root login")
    }

    /// A new tenant `name` whose owner (`email`) is logged in, with one euro store `S01`
    /// (tax inclusive, 19 % standard rate): the tenant's id, the owner's session, the store's id.
    pub fn tenant_with_store(&self, name: &str, email: &str) -> (Uuid, HeadOffice, Uuid) {
        let tenant = self
            .root()
            .create_tenant(name, email, OWNER_PASSWORD)
            .expect("tenant");
        let owner = HeadOffice::login(&self.url, email, OWNER_PASSWORD).expect("owner login");
        let store = owner
            .create_store(
                serde_json::json!({"code": "S01", "name": name, "currency": "EUR",
                "tax_mode": "Inclusive", "tax_rates": {"standard": 1900},
                "discount_threshold_bp": 2000}),
            )
            .expect("store");
        (tenant, owner, store)
    }

    /// The server's digest of what a store's devices replicate.
    pub fn store_digest(&self, tenant: Uuid, store: Uuid) -> String {
        self.rt
            .block_on(pos_sync_server::docs::store_digest(
                &self.db.pool,
                tenant,
                store,
            ))
            .expect("server digest")
    }

    /// Runs SQL returning one bigint (a count) on the server's database.
    pub fn count(&self, sql: &str, tenant: Uuid) -> i64 {
        self.rt
            .block_on(pos_sync_server::docs::count(&self.db.pool, sql, tenant))
            .expect("count")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// A device enrolled with a one-time code: its store and engine.
pub struct TestDevice {
    pub store: Store,
    pub engine: SyncEngine,
    pub http: HttpTransport,
}

impl TestDevice {
    /// Enrols with `code` and bootstraps a new store in `dir`.
    pub fn enrol(server: &str, code: &str, dir: &std::path::Path, name: &str) -> TestDevice {
        let (e, cred) = enrol(server, code, name).expect("enrol");
        let store = Store::create(
            &dir.join(format!("{name}.sqlite")),
            DeviceIdentity {
                tenant_id: e.tenant_id,
                store_id: e.store_id,
                device_id: e.device_id,
                store_code: e.store_code,
                device_code: e.device_code,
                kind: e.kind,
            },
        )
        .expect("store");
        let mut d = TestDevice {
            store,
            engine: SyncEngine::new(),
            http: HttpTransport::new(cred),
        };
        d.engine
            .bootstrap(&mut d.store, &mut d.http, |_, _| {})
            .expect("bootstrap");
        d
    }

    pub fn sync(&mut self) -> Result<SyncReport, SyncError> {
        self.engine.sync_once(&mut self.store, &mut self.http)
    }

    /// Syncs through a transport that may drop requests or lose answers.
    pub fn sync_via(&mut self, t: &mut dyn Transport) -> Result<SyncReport, SyncError> {
        self.engine.sync_once(&mut self.store, t)
    }
}

/// What the test binaries (`fault-till`, `mesh-device`) share: their flags and their one line
/// of output per event.
pub mod bin {
    use std::io::Write;

    /// The value after flag `name` (the last one given), or a panic that names the flag.
    pub fn arg(args: &[String], name: &str) -> String {
        args.windows(2)
            .rev()
            .find(|w| w[0] == name)
            .map(|w| w[1].clone())
            .unwrap_or_else(|| panic!("{name} is required"))
    }

    /// One line on stdout, flushed: the test reads it as soon as it is said.
    pub fn say(line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}
