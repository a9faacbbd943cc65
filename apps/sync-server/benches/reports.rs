//! Head office's reports at scale (issue 11): a generated tenant of 20 stores and 1,000,000
//! closed sales (lines, payments, taxes, and a refund for one sale in a hundred) over a year,
//! served by the real `pos-sync-server` process on its own PostgreSQL cluster, asked over HTTP.
//!
//! Measured:
//! - a month's sales summary for all stores, by day;
//! - a day's item mix for one store;
//! - the dashboard's request (today by store, all stores) from 8 clients at once: throughput
//!   and latency, beside `GET /health/live` from the same clients as the baseline.
//!
//! Run: `cargo bench -p pos-sync-server --bench reports`. The data is generated once (a few
//! minutes) into `$CARGO_TARGET_TMPDIR/reports-bench` and kept for the next runs. Figures in
//! docs/benchmarks.md.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pos_sync::headoffice::HeadOffice;
use serde_json::json;

const ADMIN: &str = "reports-bench@platform.test";
const PW: &str = "benchmark password 123";
const OWNER: &str = "owner@chain.bench";
const SALES: i64 = 1_000_000;
const STORES: usize = 20;
const ZONES: [&str; 4] = [
    "Europe/Paris",
    "Europe/London",
    "America/New_York",
    "Asia/Tokyo",
];

struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn start_server(dir: &Path, pg_port: u16) -> (Server, String) {
    let port = free_port();
    let log = std::fs::File::create(dir.join("server.log")).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pos-sync-server"))
        .args([
            "--data-dir",
            &dir.join("server").display().to_string(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--pg-port",
            &pg_port.to_string(),
            "--bootstrap-admin-email",
            ADMIN,
            "--bootstrap-admin-password",
            PW,
            // No compulsory TOTP here: two-factor login has its own tests (it/twofactor.rs).
            "--admin-2fa",
            "optional",
            "--login-per-ip-per-min",
            "100000",
            "--daily-summary-every-secs",
            "0",
            "--log",
            "warn,pos_sync_server=info",
        ])
        .stdout(Stdio::piped())
        .stderr(log.try_clone().expect("log"))
        .spawn()
        .expect("start pos-sync-server");
    let (ready, listening) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        let mut log = log;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("\"listening\"") {
                let _ = ready.send(());
            }
            let _ = writeln!(log, "{line}");
        }
    });
    let server = Server { child };
    listening
        .recv_timeout(Duration::from_secs(180))
        .expect("the server came up");
    (server, format!("http://127.0.0.1:{port}"))
}

fn psql(pg_port: u16, sql: &str) -> String {
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", "/usr/lib/postgresql/15/bin/psql"]);
        c
    } else {
        Command::new("/usr/lib/postgresql/15/bin/psql")
    };
    let out = cmd
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &pg_port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .args(["-v", "ON_ERROR_STOP=1", "-qtAc", sql])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One year of sales ending now, spread over the stores and the opening hours.
fn generate(pg_port: u16, tenant: &str) {
    let t0 = Instant::now();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let start = now_ms - 365 * 86_400_000;
    let span = 365 * 86_400_000i64;
    let sql = format!(
        "BEGIN;
         CREATE TEMP TABLE st AS SELECT (row_number() OVER (ORDER BY code) - 1)::int AS k,
             store_id::text AS sid FROM stores WHERE tenant_id = '{tenant}';
         INSERT INTO p_sales (tenant_id, doc_id, store_id, device_id, kind, status, opened_at,
             opened_by, closed_at, receipt_no, currency, subtotal, discount, tax, total, paid,
             change_given, line_count)
         SELECT '{tenant}', 'bench-' || g, st.sid, 'device-' || (g % 3), 'Quick', 'closed', t - 90000,
             'cashier-' || (g % 60), t, 'B-' || g, 'EUR', 1000 + g % 900, (g % 7) * 10,
             (1000 + g % 900 - (g % 7) * 10) * 1900 / 11900, 1000 + g % 900 - (g % 7) * 10,
             1000 + g % 900 - (g % 7) * 10, 0, 2
         FROM generate_series(1, {SALES}) g
         JOIN st ON st.k = g % {STORES}
         CROSS JOIN LATERAL (SELECT {start}::bigint + g::bigint * {span} / {SALES} AS t) x;
         INSERT INTO p_sale_lines (tenant_id, doc_id, line_id, pos, item_id, sku, name, qty,
             unit_price, gross, discount, total, tax_rate_bp)
         SELECT s.tenant_id, s.doc_id, 'l' || n, n, 'item-' || ((hashtext(s.doc_id) + n) & 63),
             'SKU' || ((hashtext(s.doc_id) + n) & 63), 'Item ' || ((hashtext(s.doc_id) + n) & 63), 1,
             s.subtotal / 2, s.subtotal / 2, s.discount / 2, s.total / 2, 1900
         FROM p_sales s CROSS JOIN generate_series(1, 2) n WHERE s.tenant_id = '{tenant}';
         INSERT INTO p_sale_payments (tenant_id, doc_id, payment_id, tender, amount, tendered,
             change_given, at)
         SELECT tenant_id, doc_id, 'p1', CASE WHEN hashtext(doc_id) & 1 = 0 THEN 'card' ELSE 'cash' END,
             total, total, 0, closed_at FROM p_sales WHERE tenant_id = '{tenant}';
         INSERT INTO p_sale_taxes (tenant_id, doc_id, rate_bp, net, tax, gross)
         SELECT tenant_id, doc_id, 1900, total - tax, tax, total FROM p_sales WHERE tenant_id = '{tenant}';
         INSERT INTO p_refunds (tenant_id, doc_id, store_id, device_id, sale_id, sale_receipt_no,
             receipt_no, created_at, reason, tax, total, refunded_by)
         SELECT tenant_id, 'refund-' || doc_id, store_id, device_id, doc_id, receipt_no,
             'BR-' || receipt_no, closed_at + 3600000, 'bench', tax / 2, total / 2, opened_by
         FROM p_sales WHERE tenant_id = '{tenant}' AND hashtext(doc_id) % 100 = 0;
         INSERT INTO p_refund_lines (tenant_id, doc_id, line_id, sale_line_id, item_id, name, qty, amount, restock)
         SELECT r.tenant_id, r.doc_id, 'rl1', 'l1', l.item_id, l.name, 1, r.total, 0
         FROM p_refunds r JOIN p_sale_lines l ON l.tenant_id = r.tenant_id AND l.doc_id = r.sale_id AND l.line_id = 'l1'
         WHERE r.tenant_id = '{tenant}';
         INSERT INTO p_refund_tenders (tenant_id, doc_id, payment_id, tender, amount)
         SELECT tenant_id, doc_id, 't1', 'card', total FROM p_refunds WHERE tenant_id = '{tenant}';
         INSERT INTO p_refund_taxes (tenant_id, doc_id, rate_bp, net, tax, gross)
         SELECT tenant_id, doc_id, 1900, total - tax, tax, total FROM p_refunds WHERE tenant_id = '{tenant}';
         INSERT INTO server_meta (key, value) VALUES ('reports_bench', '{SALES}');
         COMMIT;
         ANALYZE;"
    );
    psql(pg_port, &sql);
    eprintln!(
        "generated {SALES} sales in {:.0} s",
        t0.elapsed().as_secs_f64()
    );
}

fn pct(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn timed(n: usize, mut f: impl FnMut()) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}

/// Each session asks `per_client` times from its own thread; (requests per second, latencies
/// in ms). Sessions are logged in once (logins are rate-limited per email).
fn load(sessions: &[HeadOffice], path: &str, per_client: usize, strict: bool) -> (f64, Vec<f64>) {
    let t0 = Instant::now();
    let all: Vec<f64> = std::thread::scope(|s| {
        let handles: Vec<_> = sessions
            .iter()
            .map(|ho| {
                s.spawn(move || {
                    timed(per_client, || {
                        // `/health/live` answers plain text, which the JSON client refuses: the
                        // request was still made and answered.
                        let r = ho.get(path);
                        assert!(r.is_ok() || !strict, "{path}: {r:?}");
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("client"))
            .collect()
    });
    let secs = t0.elapsed().as_secs_f64();
    ((sessions.len() * per_client) as f64 / secs, all)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reports-bench");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let port_file = dir.join("pg-port");
    let pg_port: u16 = std::fs::read_to_string(&port_file)
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| {
            let p = free_port();
            std::fs::write(&port_file, p.to_string()).expect("port file");
            p
        });
    let (_server, url) = start_server(&dir, pg_port);
    let root = HeadOffice::login(&url, ADMIN, PW).expect("admin login");
    let tenants = root.get("/v1/admin/tenants").expect("tenants");
    let exists = tenants
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t["name"] == "Bench Chain"));
    if !exists {
        root.create_tenant("Bench Chain", OWNER, PW)
            .expect("tenant");
    }
    let ho = HeadOffice::login(&url, OWNER, PW).expect("owner");
    let tenant = psql(
        pg_port,
        "SELECT tenant_id FROM tenants WHERE name = 'Bench Chain'",
    );
    if psql(
        pg_port,
        "SELECT count(*) FROM server_meta WHERE key = 'reports_bench'",
    ) != "1"
    {
        for i in 0..STORES {
            ho.create_store(
                json!({"code": format!("C{i:02}"), "name": format!("Store {i}"),
                "currency": "EUR", "tax_mode": "Inclusive", "tax_rates": {"standard": 1900},
                "time_zone": ZONES[i % ZONES.len()], "business_day_start": "04:00"}),
            )
            .expect("store");
        }
        generate(pg_port, &tenant);
    }
    let stores = ho.get("/v1/admin/stores").expect("stores");
    let store_ids: Vec<String> = stores
        .as_array()
        .expect("stores")
        .iter()
        .map(|s| s["store_id"].as_str().unwrap().to_string())
        .collect();
    let one = &store_ids[0];
    let today = jiff::Zoned::now().date();
    let month_from = today.checked_sub(jiff::Span::new().days(45)).unwrap();
    let month_to = today.checked_sub(jiff::Span::new().days(15)).unwrap();
    let day = today.checked_sub(jiff::Span::new().days(20)).unwrap();

    let month =
        format!("/v1/admin/reports/sales-summary?from={month_from}&to={month_to}&limit=10000");
    let mix = format!("/v1/admin/reports/items?stores={one}&from={day}&to={day}");
    let dashboard = format!("/v1/admin/reports/sales-summary?from={today}&to={today}&group=store");
    // Warm up the caches (and check the answers are full).
    let m = ho.get(&month).expect("month");
    let rows = m["data"].as_array().map_or(0, |r| r.len());
    let sales: i64 = m["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sales_count"].as_i64().unwrap())
        .sum();
    eprintln!("month summary: {rows} rows, {sales} sales");
    ho.get(&mix).expect("mix");
    ho.get(&dashboard).expect("dashboard");

    let health = timed(200, || {
        ho.get("/health/live").ok();
    });
    let month_t = timed(30, || {
        ho.get(&month).expect("month");
    });
    let mix_t = timed(100, || {
        ho.get(&mix).expect("mix");
    });
    println!("| what | n | p50 | p95 | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| baseline: GET /health/live, one client | 200 | {:.2} ms | {:.2} ms | |",
        pct(health.clone(), 0.5),
        pct(health, 0.95)
    );
    println!(
        "| a month's sales summary, 20 stores by day ({rows} rows, {sales} sales) | 30 | {:.1} ms | {:.1} ms | p95 ≤ 100 ms |",
        pct(month_t.clone(), 0.5),
        pct(month_t, 0.95)
    );
    println!(
        "| a day's item mix, one store | 100 | {:.1} ms | {:.1} ms | p95 ≤ 100 ms |",
        pct(mix_t.clone(), 0.5),
        pct(mix_t, 0.95)
    );
    let clients = 8;
    let sessions: Vec<HeadOffice> = (0..clients)
        .map(|_| HeadOffice::login(&url, OWNER, PW).expect("login"))
        .collect();
    let (base_rps, _) = load(&sessions, "/health/live", 500, false);
    let (rps, lat) = load(&sessions, &dashboard, 250, true);
    println!(
        "| baseline: GET /health/live, {clients} clients | {} | {:.0} req/s | | |",
        clients * 500,
        base_rps
    );
    println!(
        "| dashboard (today by store, 20 stores), {clients} clients | {} | {:.0} req/s (p50 {:.1} ms) | p95 {:.1} ms | ≥ 1,000 req/s, p95 ≤ 100 ms |",
        clients * 250,
        rps,
        pct(lat.clone(), 0.5),
        pct(lat, 0.95)
    );
}
