//! Many devices on the live channel: the resident memory of the real `pos-sync-server` process
//! (started as its own process, with its own PostgreSQL cluster) while 1,000 enrolled devices
//! hold a WebSocket open, and how long one change takes to reach all of them.
//!
//! Run: `cargo bench -p pos-sync-server --bench live` (`LIVE_DEVICES=N` for another count).
//! Figures in docs/benchmarks.md.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use pos_sync::headoffice::HeadOffice;
use pos_sync::http::{enrol, HttpTransport};
use pos_sync::wire::LiveMessage;
use serde_json::json;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const ADMIN: &str = "live-bench@platform.test";
const PW: &str = "benchmark password 123";

/// The server process; stopped with SIGTERM (a graceful shutdown that also stops its cluster).
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid has no memory-safety preconditions.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        // Wait for the exit itself; a watchdog kills the server if it has not gone in 30 s.
        let pid = self.child.id() as i32;
        let (exited, watch) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            if watch.recv_timeout(Duration::from_secs(30)).is_err() {
                // SAFETY: as above.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        });
        let _ = self.child.wait();
        let _ = exited.send(());
        let _ = watchdog.join();
    }
}

/// Resident and peak resident memory of a process, in MiB (from /proc).
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn start_server(dir: &Path) -> (Server, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let log = std::fs::File::create(dir.join("server.log")).expect("log file");
    let child = Command::new(env!("CARGO_BIN_EXE_pos-sync-server"))
        .args([
            "--data-dir",
            &dir.join("server").display().to_string(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--bootstrap-admin-email",
            ADMIN,
            "--bootstrap-admin-password",
            PW,
            // No compulsory TOTP here: two-factor login has its own tests (it/twofactor.rs).
            "--admin-2fa",
            "optional",
            "--login-per-ip-per-min",
            "100000",
        ])
        .stdout(Stdio::piped())
        .stderr(log.try_clone().expect("log file"))
        .spawn()
        .expect("start pos-sync-server");
    let mut child = child;
    // The server logs JSON lines to stdout; they go to the log file, and its "listening" line
    // (after the cluster, the migrations and the bootstrap admin) says it is ready.
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
        .recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| {
            panic!(
                "the server never came up: see {}",
                dir.join("server.log").display()
            )
        });
    (server, format!("http://127.0.0.1:{port}"))
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let n: usize = std::env::var("LIVE_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let dir = tempfile::tempdir().expect("dir");
    let (server, url) = start_server(dir.path());
    let pid = server.child.id();

    let root = HeadOffice::login(&url, ADMIN, PW).expect("admin login");
    root.create_tenant("Live", "owner@live.test", PW)
        .expect("tenant");
    let ho = HeadOffice::login(&url, "owner@live.test", PW).expect("owner");
    let store = ho
        .create_store(json!({"code": "S01", "name": "Live", "currency": "EUR",
            "tax_mode": "Inclusive", "tax_rates": {"standard": 1900}, "discount_threshold_bp": 2000}))
        .expect("store");
    let (idle, _) = rss_mib(pid);

    let t = Instant::now();
    let mut tokens = Vec::with_capacity(n);
    for k in 0..n {
        let code = ho.enrolment_code(store).expect("code");
        let (_, cred) = enrol(&url, &code, &format!("KDS {k}")).expect("enrol");
        tokens.push(HttpTransport::new(cred).token().expect("token"));
    }
    println!(
        "{n} devices enrolled and given tokens in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ws_url = format!("{}/v1/sync/live", url.replacen("http", "ws", 1));
    let t = Instant::now();
    let mut sockets = rt.block_on(async {
        let mut sockets = Vec::with_capacity(n);
        for token in &tokens {
            let mut req = ws_url.as_str().into_client_request().expect("request");
            req.headers_mut().insert(
                "authorization",
                format!("Bearer {token}").parse().expect("header"),
            );
            let (mut ws, _) = tokio_tungstenite::connect_async(req)
                .await
                .expect("connect");
            // The server says "more" once at connect: the channel is live.
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                Ok(Some(Ok(Message::Text(_)))) => {}
                other => panic!("no greeting on the live channel: {other:?}"),
            }
            sockets.push(ws);
        }
        sockets
    });
    println!(
        "{n} live connections open in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let (connected, _) = rss_mib(pid);

    // One change (head office publishes an item): every device must hear of it.
    let t = Instant::now();
    ho.publish_item(
        json!({"sku": "LIVE-1", "name": "Live item", "currency": "EUR",
        "price": 250, "tax_class": "standard"}),
    )
    .expect("publish");
    let latencies = rt.block_on(async {
        let waits = sockets.iter_mut().map(|ws| async move {
            loop {
                match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) => {
                        if let Ok(LiveMessage::More { .. }) = serde_json::from_str(t.as_str()) {
                            return Some(Instant::now());
                        }
                    }
                    Ok(Some(Ok(_))) => {}
                    _ => return None,
                }
            }
        });
        futures_util::future::join_all(waits).await
    });
    let mut ms: Vec<f64> = latencies
        .iter()
        .map(|l| {
            l.map(|at| (at - t).as_secs_f64() * 1e3)
                .unwrap_or(f64::INFINITY)
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    let heard = ms.iter().filter(|m| m.is_finite()).count();
    let (after, peak) = rss_mib(pid);
    assert_eq!(heard, n, "every device heard of the change");
    println!(
        "one change reached all {n} devices (publish → NOTIFY → live channel): p50 {:.0} ms, max {:.0} ms",
        ms[n / 2],
        ms[n - 1]
    );
    println!(
        "server RSS: {idle:.1} MiB idle, {connected:.1} MiB with {n} live devices, {after:.1} MiB after the fan-out, peak {peak:.1} MiB   target < 150 MB: {}",
        if peak * 1.048_576 < 150.0 { "MET" } else { "MISSED" }
    );
    drop(sockets);
    drop(server);
}
