//! Two server instances on one database behind a round-robin TCP balancer on loopback, as an
//! operator runs them for an upgrade without downtime. Two tills sell and push continuously
//! while one instance, then the other, is killed in the middle of pushes (its runtime dropped:
//! every request it was serving dies at whatever point it had reached, its database
//! transactions roll back) and started again on the same port. The balancer sends new
//! connections to the instance that answers, as HAProxy's `redispatch` does.
//!
//! At the end: every sale each till committed exists exactly once in the master, no change
//! appears twice in the change log, the receipt numbers are gapless per till, the tills never
//! recorded a refused change, and each till equals the master by digest.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use e2e::{TestDevice, OWNER_PASSWORD, ROOT_EMAIL, ROOT_PASSWORD};
use pos_core::money::{Currency, Money};
use pos_core::sale::{Sale, Tender};
use pos_sync::headoffice::HeadOffice;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

/// One server instance in its own runtime, so that dropping the runtime kills it mid-request
/// like `kill -9` kills a process.
struct Instance {
    rt: Option<tokio::runtime::Runtime>,
}

fn config(db_url: &str, data_dir: &std::path::Path) -> pos_sync_server::Config {
    pos_sync_server::Config::parse_from([
        "pos-sync-server",
        "--database-url",
        db_url,
        "--data-dir",
        &data_dir.display().to_string(),
        "--jwt-secret",
        "two-instances-secret-two-instances-secret",
        "--bootstrap-admin-email",
        ROOT_EMAIL,
        "--bootstrap-admin-password",
        ROOT_PASSWORD,
        "--admin-2fa",
        "optional",
        "--shutdown-grace-secs",
        "1",
        "--log",
        "warn",
    ])
}

impl Instance {
    /// Starts an instance on `addr` (retrying the bind while the old socket is released).
    fn start(db_url: &str, data_dir: &std::path::Path, addr: SocketAddr) -> Instance {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let config = config(db_url, data_dir);
        let app = rt
            .block_on(pos_sync_server::app::prepare(&config))
            .expect("instance prepared");
        let listener = rt.block_on(async {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match TcpListener::bind(addr).await {
                    Ok(l) => break l,
                    Err(e) if Instant::now() < deadline => {
                        let _ = e;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => panic!("bind {addr}: {e}"),
                }
            }
        });
        rt.spawn(async move {
            let _ =
                pos_sync_server::app::serve(&config, app, listener, std::future::pending()).await;
        });
        Instance { rt: Some(rt) }
    }

    /// Kills it: every task stops where it is, its sockets close, its transactions roll back.
    fn kill(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// A round-robin TCP balancer: each new connection goes to the next backend that accepts it.
fn balancer(rt: &tokio::runtime::Runtime, backends: Vec<SocketAddr>) -> SocketAddr {
    let listener = rt
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind balancer");
    let addr = listener.local_addr().expect("addr");
    let next = Arc::new(AtomicUsize::new(0));
    rt.spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                continue;
            };
            let backends = backends.clone();
            let first = next.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                for i in 0..backends.len() {
                    let target = backends[(first + i) % backends.len()];
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        return;
                    }
                }
            });
        }
    });
    addr
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::from_code("EUR").unwrap())
}

fn sell(d: &mut TestDevice, cashier: Uuid, item: Uuid) -> String {
    let c = d.store.actor(cashier).unwrap();
    let sale = d.store.open_sale(&c, None).unwrap();
    d.store.add_item(&c, sale, item, 1, &[], 1).unwrap();
    let due = d.store.get::<Sale>(sale).unwrap().totals().unwrap().due;
    d.store
        .pay(&c, sale, Tender::Cash, eur(due), None)
        .unwrap()
        .receipt_no
        .unwrap()
}

#[test]
fn two_instances_behind_a_balancer_one_killed_mid_push_lose_and_double_nothing() {
    let control = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let db = control
        .block_on(pos_sync_server::pg::testing::test_db())
        .expect("throwaway database");
    // Both instances share the data directory, as they share the master key and JWT secret.
    let data = tempfile::tempdir().unwrap();
    let (a_addr, b_addr) = (free_addr(), free_addr());
    let mut a = Instance::start(&db.url, data.path(), a_addr);
    let mut b = Instance::start(&db.url, data.path(), b_addr);
    let url = format!("http://{}", balancer(&control, vec![a_addr, b_addr]));

    let root = HeadOffice::login(&url, ROOT_EMAIL, ROOT_PASSWORD).expect("root login");
    let tenant = root
        .create_tenant("Gamma", "owner@gamma.test", OWNER_PASSWORD)
        .unwrap();
    let owner = HeadOffice::login(&url, "owner@gamma.test", OWNER_PASSWORD).unwrap();
    let store = owner
        .create_store(json!({"code": "S01", "name": "Gamma", "currency": "EUR",
            "tax_mode": "Inclusive", "tax_rates": {"standard": 1900},
            "discount_threshold_bp": 2000}))
        .unwrap();
    let cashier = owner
        .create_staff(store, "Cleo", "cashier", "3333")
        .unwrap();
    let tea = owner
        .publish_item(
            json!({"sku": "TEA", "name": "Tea", "currency": "EUR", "price": 250,
            "tax_class": "standard", "station": null, "track_stock": false,
            "low_stock_threshold": 0}),
        )
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tills: Vec<TestDevice> = (1..=2)
        .map(|n| {
            let mut d = TestDevice::enrol(
                &url,
                &owner.enrolment_code(store).unwrap(),
                dir.path(),
                &format!("till-{n}"),
            );
            let c = d.store.actor(cashier).unwrap();
            d.store.open_shift(&c, 10_000).unwrap();
            d
        })
        .collect();

    // The tills sell and push without pause; a failed round (its instance killed under it) is
    // simply tried again, as the app's runner does.
    const SALES: usize = 60;
    let selling = Arc::new(AtomicBool::new(true));
    let pushes = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = tills
        .into_iter()
        .map(|mut d| {
            let selling = selling.clone();
            let pushes = pushes.clone();
            std::thread::spawn(move || {
                let mut receipts = Vec::new();
                let mut failures = 0;
                for _ in 0..SALES {
                    receipts.push(sell(&mut d, cashier, tea));
                    match d.sync() {
                        Ok(_) => {
                            pushes.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(_) => failures += 1,
                    }
                }
                selling.store(false, Ordering::Relaxed);
                (d, receipts, failures)
            })
        })
        .collect();

    // Kill each instance twice while pushes flow, and start it again on its port.
    for round in 0..4 {
        let before = pushes.load(Ordering::Relaxed);
        let deadline = Instant::now() + Duration::from_secs(30);
        while pushes.load(Ordering::Relaxed) < before + 5 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if !selling.load(Ordering::Relaxed) {
            break;
        }
        let (victim, addr) = if round % 2 == 0 {
            (&mut a, a_addr)
        } else {
            (&mut b, b_addr)
        };
        victim.kill();
        // `start` binds again as soon as the killed instance's socket is released.
        *victim = Instance::start(&db.url, data.path(), addr);
    }
    let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let failures: usize = results.iter().map(|r| r.2).sum();

    // Settle: every till pushes what is left and pulls the other's sales.
    let mut tills: Vec<TestDevice> = Vec::new();
    let mut all_receipts = BTreeSet::new();
    for (d, receipts, _) in results {
        // Gapless per till: S01-T1-000001 … S01-T1-000060.
        let seqs: Vec<u64> = receipts
            .iter()
            .map(|r| r.rsplit('-').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(seqs, (1..=SALES as u64).collect::<Vec<_>>(), "{receipts:?}");
        all_receipts.extend(receipts);
        tills.push(d);
    }
    for _ in 0..4 {
        for d in tills.iter_mut() {
            d.sync().expect("sync once both instances are up");
        }
    }
    assert_eq!(all_receipts.len(), 2 * SALES);
    let in_master = |sql: &str| {
        control
            .block_on(pos_sync_server::docs::count(&db.pool, sql, tenant))
            .expect("count")
    };
    assert_eq!(
        in_master("SELECT count(*) FROM p_sales WHERE tenant_id = $1 AND status = 'closed'"),
        (2 * SALES) as i64,
        "every sale exactly once in the master"
    );
    assert_eq!(
        in_master(
            "SELECT count(DISTINCT receipt_no) FROM p_sales WHERE tenant_id = $1 AND status = 'closed'"
        ),
        (2 * SALES) as i64
    );
    assert_eq!(
        in_master("SELECT count(*) - count(DISTINCT hash) FROM change_log WHERE tenant_id = $1"),
        0,
        "no change twice in the change log"
    );
    let master = control
        .block_on(pos_sync_server::docs::store_digest(&db.pool, tenant, store))
        .expect("digest");
    for d in &tills {
        assert!(d.store.sync_problems().unwrap().is_empty());
        assert_eq!(d.store.projection_digest().unwrap(), master);
        let seen: BTreeSet<String> = d
            .store
            .closed_sales(1000)
            .unwrap()
            .into_iter()
            .filter_map(|s| s.receipt_no)
            .collect();
        assert_eq!(seen, all_receipts);
    }
    // The kills did land mid-traffic: some rounds failed and were retried.
    eprintln!("rounds that failed and were retried: {failures}");
    a.kill();
    b.kill();
}
