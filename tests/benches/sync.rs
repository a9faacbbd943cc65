//! Benchmarks of sync through the real server on a real (durable, fsync on) PostgreSQL cluster:
//! catch-up after a busy offline day, sustained push throughput from two devices at once,
//! bootstrap of a 50,000-item store, and how fast a fired order reaches another device through
//! the live channel. Run: `cargo bench -p e2e --bench sync` (figures in docs/benchmarks.md).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use pos_core::catalog::Item;
use pos_core::money::{Currency, Money};
use pos_core::sale::{Sale, Tender};
use pos_core::store::{DeviceIdentity, Store};
use pos_sync::device::{wire_changes, SyncEngine, PUSH_BATCH};
use pos_sync::headoffice::HeadOffice;
use pos_sync::http::{enrol, DeviceCredential, HttpTransport};
use pos_sync::runner::SyncRunner;
use pos_sync::wire::{PushRequest, PushResult, PROTOCOL_VERSION};
use serde_json::json;
use uuid::Uuid;

/// The server's allocator, as in its binary (the server runs in this process).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ADMIN: &str = "bench@platform.test";
const PW: &str = "benchmark password 123";

struct Dev {
    store: Store,
    cred: DeviceCredential,
}

fn device(server: &str, ho: &HeadOffice, store: Uuid, dir: &Path, name: &str) -> Dev {
    let (e, cred) = enrol(server, &ho.enrolment_code(store).expect("code"), name).expect("enrol");
    let mut s = Store::create(
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
    SyncEngine::new()
        .bootstrap(&mut s, &mut HttpTransport::new(cred.clone()), |_, _| {})
        .expect("bootstrap");
    Dev { store: s, cred }
}

fn sync(d: &mut Dev) -> pos_sync::device::SyncReport {
    SyncEngine::new()
        .sync_once(&mut d.store, &mut HttpTransport::new(d.cred.clone()))
        .expect("sync")
}

/// A busy offline day: `sales` sales of 7 lines, paid card + cash. Returns the changes made.
fn busy_day(d: &mut Dev, cashier: Uuid, items: &[Uuid], sales: usize) -> i64 {
    let c = d.store.actor(cashier).expect("cashier");
    let eur = Currency::from_code("EUR").expect("eur");
    let before = d.store.outbox_len().expect("outbox");
    for n in 0..sales {
        let sale = d.store.open_sale(&c, None).expect("open");
        for k in 0..7 {
            d.store
                .add_item(&c, sale, items[(n + k) % items.len()], 1, &[], 1)
                .expect("add");
        }
        let due = d
            .store
            .get::<Sale>(sale)
            .expect("sale")
            .totals()
            .expect("totals")
            .due;
        d.store
            .pay(
                &c,
                sale,
                Tender::Card,
                Money::new(due - 100, eur),
                Some("R".into()),
            )
            .expect("card");
        d.store
            .pay(&c, sale, Tender::Cash, Money::new(500, eur), None)
            .expect("cash");
    }
    d.store.outbox_len().expect("outbox") - before
}

fn pct(mut v: Vec<Duration>, q: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 * q) as usize).min(v.len() - 1)]
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    // As the server binary does.
    pos_sync_server::tune_allocator();
    let dir = tempfile::tempdir().expect("dir");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("rt");
    let config = pos_sync_server::Config::parse_from([
        "pos-sync-server",
        "--data-dir",
        &dir.path().join("server").display().to_string(),
        "--bootstrap-admin-email",
        ADMIN,
        "--bootstrap-admin-password",
        PW,
        // No compulsory TOTP here: two-factor login has its own tests (it/twofactor.rs).
        "--admin-2fa",
        "optional",
        "--login-per-ip-per-min",
        "100000",
    ]);
    let app = rt
        .block_on(pos_sync_server::app::prepare(&config))
        .expect("server");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let served = rt.spawn(async move {
        let _ = pos_sync_server::app::serve(&config, app, listener, async {
            let _ = stop_rx.await;
        })
        .await;
    });

    let root = HeadOffice::login(&url, ADMIN, PW).expect("root");
    root.create_tenant("Bench", "owner@bench.test", PW)
        .expect("tenant");
    let ho = HeadOffice::login(&url, "owner@bench.test", PW).expect("owner");
    let store = ho
        .create_store(
            json!({"code": "S01", "name": "Bench", "currency": "EUR", "tax_mode": "Inclusive",
            "tax_rates": {"standard": 1900}, "discount_threshold_bp": 2000}),
        )
        .expect("store");
    let owner = ho
        .create_staff(store, "Olivia", "owner", "1111")
        .expect("owner");
    let cashier = ho
        .create_staff(store, "Carl", "cashier", "3333")
        .expect("cashier");
    let mut items = Vec::new();
    for n in 0..12 {
        items.push(
            ho.publish_item(json!({"sku": format!("I{n}"), "name": format!("Item {n}"), "currency": "EUR",
                "price": 100 + n * 37, "tax_class": "standard", "station": if n % 3 == 0 { Some("grill") } else { None::<&str> },
                "track_stock": n % 2 == 0}))
                .expect("item"),
        );
    }
    println!("server on {url}, PostgreSQL with fsync on (the server's own cluster)");

    // SYNC_BENCH_ONLY=catch-up,sustained,fired,bootstrap runs some sections only.
    let only = std::env::var("SYNC_BENCH_ONLY").ok();
    let run = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|x| x == name))
    };
    if run("catch-up") {
        // 1. Catch-up after a busy offline day.
        let mut a = device(&url, &ho, store, dir.path(), "a");
        let t = Instant::now();
        let changes = busy_day(&mut a, cashier, &items, 1_000);
        let selling = t.elapsed();
        let t = Instant::now();
        let r = sync(&mut a);
        let catchup = t.elapsed();
        assert_eq!(r.accepted as i64, changes, "every change accepted");
        println!(
            "catch-up: 1,000 offline sales = {changes} changes (sold locally in {:.1} s) pushed and acknowledged in {:.2} s = {:.0} changes/s   target ≤ 3 s: {}",
            selling.as_secs_f64(),
            catchup.as_secs_f64(),
            changes as f64 / catchup.as_secs_f64(),
            if catchup <= Duration::from_secs(3) { "MET" } else { "MISSED" }
        );
    }

    if run("sustained") {
        // 2. Sustained server throughput: four devices each sold a long offline day
        //    (SUSTAINED_SALES sales each, 2,500 by default: 27,500 changes a device); their
        //    outboxes are read into push requests and encoded as JSON bodies beforehand (with
        //    each device's access token), then all four push at once, batch after batch. The clock
        //    runs from the first request to the last answer, so it measures the server (merge +
        //    authorization + persistence), not the devices' bookkeeping or JSON encoding. Every
        //    answer is timestamped, so the slowest full second shows whether the rate holds while
        //    the tables grow, not only on average (answers come 1,000 changes at a time, so a
        //    second's count is a multiple of 1,000).
        let sales: usize = std::env::var("SUSTAINED_SALES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2_500);
        let mut requests: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
        let mut total = 0usize;
        for name in ["b", "c", "d", "e"] {
            let mut dev = device(&url, &ho, store, dir.path(), name);
            busy_day(&mut dev, cashier, &items, sales);
            let device_id = dev.store.identity().device_id;
            let entries = dev.store.outbox_batch(usize::MAX >> 1).expect("outbox");
            total += entries.len();
            let bodies = entries
                .chunks(PUSH_BATCH)
                .map(|chunk| {
                    serde_json::to_vec(&PushRequest {
                        protocol: PROTOCOL_VERSION,
                        changes: wire_changes(chunk, device_id),
                    })
                    .expect("encode")
                })
                .collect();
            let token = HttpTransport::new(dev.cred).token().expect("token");
            requests.push((token, bodies));
        }
        let (cpu_self, cpu_pg, faults) =
            (cpu_seconds("self"), postgres_cpu_seconds(), minor_faults());
        // SUSTAINED_WITH_REPORTS=1: head office asks for reports without pause while the
        // devices push (issue 11: pushes never wait for reports).
        let with_reports = std::env::var("SUSTAINED_WITH_REPORTS").is_ok_and(|v| v == "1");
        let stop_reports = std::sync::atomic::AtomicBool::new(false);
        let reports_served = std::sync::atomic::AtomicUsize::new(0);
        let today = jiff::Zoned::now().date();
        let t = Instant::now();
        let answers: Vec<(Duration, usize)> = std::thread::scope(|s| {
            if with_reports {
                for _ in 0..2 {
                    let (url, stop, served) = (&url, &stop_reports, &reports_served);
                    s.spawn(move || {
                        let ho = HeadOffice::login(url, "owner@bench.test", PW).expect("owner");
                        // What the console's dashboard asks, refreshed as fast as the server
                        // answers (a screen refreshes every few seconds; this is a worst case).
                        let max_age = std::env::var("REPORTS_MAX_AGE_SECS").unwrap_or_else(|_| "5".into());
                        let paths = [
                            format!("/v1/admin/reports/sales-summary?from={today}&to={today}&group=hour&max_age_secs={max_age}"),
                            format!("/v1/admin/reports/items?from={today}&to={today}&max_age_secs={max_age}"),
                            format!("/v1/admin/reports/tenders?from={today}&to={today}&max_age_secs={max_age}"),
                        ];
                        // REPORTS_PAUSE_MS between requests (0: none, the worst case).
                        let pause = std::env::var("REPORTS_PAUSE_MS")
                            .ok()
                            .and_then(|v| v.parse().ok())
                            .unwrap_or(0u64);
                        let mut i = 0;
                        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                            ho.get(&paths[i % paths.len()]).expect("report");
                            served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            i += 1;
                            std::thread::sleep(Duration::from_millis(pause));
                        }
                    });
                }
            }
            let handles: Vec<_> = requests
                .iter()
                .map(|(token, bodies)| {
                    let url = &url;
                    s.spawn(move || {
                        let agent = ureq::Agent::new_with_defaults();
                        let mut answers = Vec::with_capacity(bodies.len());
                        for body in bodies {
                            let resp: pos_sync::wire::PushResponse = agent
                                .post(&format!("{url}/v1/sync/push"))
                                .header("authorization", &format!("Bearer {token}"))
                                .header("content-type", "application/json")
                                .send(&body[..])
                                .expect("push")
                                .body_mut()
                                .with_config()
                                .limit(64 << 20)
                                .read_json()
                                .expect("push response");
                            let n = resp
                                .results
                                .iter()
                                .filter(|x| matches!(x, PushResult::Accepted { .. }))
                                .count();
                            answers.push((t.elapsed(), n));
                        }
                        answers
                    })
                })
                .collect();
            let all = handles
                .into_iter()
                .flat_map(|h| h.join().expect("pusher"))
                .collect();
            stop_reports.store(true, std::sync::atomic::Ordering::Relaxed);
            all
        });
        let el = t.elapsed().as_secs_f64();
        let (cpu_self, cpu_pg, faults) = (
            cpu_seconds("self") - cpu_self,
            postgres_cpu_seconds() - cpu_pg,
            minor_faults() - faults,
        );
        let accepted: usize = answers.iter().map(|(_, n)| n).sum();
        assert_eq!(accepted, total, "every change accepted");
        // Changes acknowledged in each full second from the first answer on (before it, four
        // requests of 1,000 changes are in flight and nothing can be acknowledged yet; the last,
        // partial second is left out).
        let first = answers.iter().map(|(at, _)| *at).min().unwrap_or_default();
        let mut per_second = vec![0usize; (el - first.as_secs_f64()) as usize];
        for (at, n) in &answers {
            if let Some(slot) = per_second.get_mut((*at - first).as_secs() as usize) {
                *slot += n;
            }
        }
        let slowest = per_second.iter().min().copied();
        let rate = total as f64 / el;
        println!(
            "sustained: four devices pushing {total} changes at once, {PUSH_BATCH} a request: {el:.2} s = {rate:.0} changes/s (merge + authorization + Postgres); slowest full second {}   target ≥ 10,000/s: {}",
            slowest.map_or("(run shorter than a second)".to_string(), |n| format!("{n} changes")),
            if rate >= 10_000.0 && slowest.is_none_or(|n| n >= 10_000) { "MET" } else { "MISSED" }
        );
        println!("  per second: {per_second:?}");
        if with_reports {
            println!(
                "  with head office's reports running: {} reports answered meanwhile ({:.0}/s)",
                reports_served.load(std::sync::atomic::Ordering::Relaxed),
                reports_served.load(std::sync::atomic::Ordering::Relaxed) as f64 / el
            );
        }
        println!(
            "  CPU per change: {:.0} µs in the server process (merge, authorization, HTTP; the pushers are idle threads), {:.0} µs in PostgreSQL; 2 cores give 200 µs a change at 10,000/s; {:.2} page faults a change in the server process",
            cpu_self / total as f64 * 1e6,
            cpu_pg / total as f64 * 1e6,
            faults / total as f64
        );
    }

    if run("fired") {
        // 3. A fired order reaching another device through the server and the live channel.
        let kds = device(&url, &ho, store, dir.path(), "kds");
        let kitchen = Arc::new(Mutex::new(kds.store));
        // Each runner says when it has finished a round; the measurement waits on that, not on a
        // clock.
        let (round_tx, rounds) = std::sync::mpsc::channel::<()>();
        let (kds_tx, kds_rounds) = std::sync::mpsc::channel::<()>();
        let tx = round_tx.clone();
        let kds_runner = SyncRunner::start(kitchen.clone(), kds.cred, move |_| {
            let _ = tx.send(());
            let _ = kds_tx.send(());
        });
        let t2 = device(&url, &ho, store, dir.path(), "till");
        let till = Arc::new(Mutex::new(t2.store));
        let till_runner = SyncRunner::start(till.clone(), t2.cred, move |_| {
            let _ = round_tx.send(());
        });
        // Wait until both runners have done a first round (their live channels connect first).
        while !(till_runner.status().online && kds_runner.status().online) {
            rounds
                .recv_timeout(Duration::from_secs(10))
                .expect("sync runners never came online");
        }
        let o = till.lock().expect("till").actor(owner).expect("owner");
        let mut lat = Vec::new();
        for n in 0..40 {
            let before = kitchen
                .lock()
                .expect("kds")
                .kitchen_tickets(None, true)
                .expect("tickets")
                .len();
            let t = Instant::now();
            {
                let mut s = till.lock().expect("till");
                let sale = s.open_sale(&o, Some(format!("Table {n}"))).expect("open");
                s.add_item(&o, sale, items[0], 1, &[], 1).expect("add");
                s.fire(&o, sale, None).expect("fire");
            }
            while kds_rounds.try_recv().is_ok() {}
            till_runner.nudge();
            // Checked after each of the kitchen runner's rounds (a round applies what it pulled).
            while kitchen
                .lock()
                .expect("kds")
                .kitchen_tickets(None, true)
                .expect("tickets")
                .len()
                <= before
            {
                kds_rounds
                    .recv_timeout(Duration::from_secs(10))
                    .expect("the order never reached the kitchen");
            }
            lat.push(t.elapsed());
        }
        println!(
            "fired order visible on the kitchen device (till write → push → NOTIFY → live → pull → apply): p50 {:.0} ms, p95 {:.0} ms   target p95 ≤ 250 ms: {}",
            pct(lat.clone(), 0.5).as_secs_f64() * 1e3,
            pct(lat.clone(), 0.95).as_secs_f64() * 1e3,
            if pct(lat, 0.95) <= Duration::from_millis(250) { "MET" } else { "MISSED" }
        );
        drop(till_runner);
        drop(kds_runner);
    }

    if run("bootstrap") {
        // 4. Bootstrap of a new device for a store with 50,000 items.
        let mut big = device(&url, &ho, store, dir.path(), "catalog");
        let o = big.store.actor(owner).expect("owner");
        let t = Instant::now();
        for chunk in 0..50 {
            big.store
                .write(&o, |w| {
                    for i in 0..1000 {
                        let n = chunk * 1000 + i;
                        w.create(Item {
                            sku: format!("BULK-{n:05}"),
                            name: format!("Bulk item {n}"),
                            category_id: None,
                            currency: "EUR".into(),
                            price: 100 + n as i64 % 900,
                            store_prices: Default::default(),
                            tax_class: "standard".into(),
                            station: None,
                            track_stock: false,
                            low_stock_threshold: 0,
                            barcodes: vec![],
                            modifier_groups: Default::default(),
                            active: true,
                        })?;
                    }
                    Ok(())
                })
                .expect("items");
            sync(&mut big);
        }
        println!(
            "  (50,000 items created and pushed in {:.1} s)",
            t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        let newcomer = device(&url, &ho, store, dir.path(), "newcomer");
        let el = t.elapsed();
        let n = newcomer
            .store
            .search_items("bulk", 1)
            .expect("search")
            .len();
        assert_eq!(n, 1);
        println!(
            "bootstrap of a new device, store with 50,000+ items: {:.1} s   target ≤ 10 s: {}",
            el.as_secs_f64(),
            if el <= Duration::from_secs(10) {
                "MET"
            } else {
                "MISSED"
            }
        );
    }

    let _ = stop_tx.send(());
    let _ = rt.block_on(served);
}

/// User + system CPU seconds of a process so far, from /proc (10 ms resolution).
fn cpu_seconds(pid: &str) -> f64 {
    let f = stat_fields(pid);
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

/// Minor page faults of this process so far (each one a page the kernel zeroed for it).
fn minor_faults() -> f64 {
    stat_fields("self").get(7).copied().unwrap_or(0.0)
}

/// The numeric fields of `/proc/<pid>/stat` after the command name: minflt is the 8th, utime
/// the 12th and stime the 13th.
fn stat_fields(pid: &str) -> Vec<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    rest.split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect()
}

/// CPU seconds of every `postgres` process on the machine (the benchmark's own cluster is the
/// only busy one).
fn postgres_cpu_seconds() -> f64 {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|c| c.trim() == "postgres")
        })
        .map(|pid| cpu_seconds(&pid))
        .sum()
}
