//! Load and abuse (issue 16): the real `pos-sync-server` process (release build, its own
//! PostgreSQL cluster, on loopback) while 1,000 honest tills push real sales at a till's pace,
//! first alone (the baseline), then with 500 hostile connections attacking, then alone again.
//!
//! - **Honest devices**: `ABUSE_DEVICES` (1,000) tills enrolled in 20 stores of 4 tenants, each
//!   store behind its own source address (127.0.1.x, a store's NAT address). Every sale is a
//!   real till's (a `pos-core` store per device: open, one to three lines, paid in cash), made
//!   before the clock starts; each push carries one sale, on a new connection (a till idle for
//!   30 s finds its keep-alive connection closed by the header timeout anyway). A till pushes
//!   once every `ABUSE_PERIOD_SECS` (30 s) on average, jittered ±⅓: a busy till at lunch sells
//!   one sale every 30–60 s, so 1,000 of them are ~33 pushes a second. A push that fails (an
//!   error, a 503, a 30 s wait) is sent again after a second, as the device's engine does; its
//!   latency runs from its first try to the answer that acknowledges it.
//! - **Attackers**: `ABUSE_ATTACKERS` (500) connections from four other addresses (127.0.2.x),
//!   of thirteen kinds (below), each reconnecting when the server has closed it (at most once
//!   a second), for the attack phase. Per kind: connections made, answers by status, how long the server held
//!   the longest connection before closing it.
//! - **Phases**: `ABUSE_QUIET_SECS` (60) honest only, the baseline; `ABUSE_ATTACK_SECS` (90)
//!   honest + attackers; `ABUSE_AFTER_SECS` (30) honest only again. The honest p95 under attack
//!   is printed as a ratio to the quiet phase's, measured in the same run.
//! - **Memory**: the server's VmRSS sampled every 100 ms from `/proc`, and its VmHWM at the end.
//! - **Nothing lost**: at the end, the master (read directly in PostgreSQL) must hold every
//!   acknowledged change exactly once, and every sale made and acknowledged, closed, once.
//!
//! Run: `cargo bench -p pos-sync-server --bench abuse`. Figures in docs/benchmarks.md.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pos_core::money::{Currency, Money};
use pos_core::sale::Tender;
use pos_core::store::{DeviceIdentity, Store};
use pos_sync::device::{wire_changes, Transport};
use pos_sync::headoffice::HeadOffice;
use pos_sync::http::{enrol, HttpTransport};
use pos_sync::wire::{PushRequest, PushResponse, PushResult, PROTOCOL_VERSION};
use rand::{Rng, SeedableRng};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use uuid::Uuid;

const ADMIN: &str = "abuse-bench@platform.test";
const PW: &str = "benchmark password 123";
const JWT_SECRET: &str = "abuse-bench-secret-abuse-bench-secret-0123456789";
const TENANTS: usize = 4;
const STORES_PER_TENANT: usize = 5;
const ATTACK_ADDRESSES: u8 = 4;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

// ------------------------------------------------------------------------- the server process

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

/// (VmRSS, VmHWM) of a process, in MiB.
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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn start_server(dir: &Path, port: u16, pg_port: u16) -> Server {
    let log = std::fs::File::create(dir.join("server.log")).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pos-sync-server"))
        .args([
            "--data-dir",
            &dir.join("server").display().to_string(),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--pg-port",
            &pg_port.to_string(),
            "--jwt-secret",
            JWT_SECRET,
            "--bootstrap-admin-email",
            ADMIN,
            "--bootstrap-admin-password",
            PW,
            "--admin-2fa",
            "optional",
            // Setup enrols 1,000 devices from one address (enrolment shares the login's limit).
            "--login-per-ip-per-min",
            "100000",
            // The tokens are taken once, before the run (a real till refreshes its own).
            "--access-ttl-secs",
            "7200",
            // Every other limit (timeouts, connection caps, body limits) at its default, and
            // the logs at `info`, as in production.
        ])
        .stdout(Stdio::piped())
        .stderr(log.try_clone().expect("log file"))
        .spawn()
        .expect("start pos-sync-server");
    let (ready, listening) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        let mut log = log;
        let mut ready = Some(ready);
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("\"listening\"") {
                if let Some(r) = ready.take() {
                    let _ = r.send(());
                }
            }
            let _ = writeln!(log, "{line}");
        }
    });
    let server = Server { child };
    // The "listening" line is logged at info; at warn the port answering says it is up.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if listening.try_recv().is_ok() || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the server never came up: see {}",
            dir.join("server.log").display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

/// Server-side TCP sockets of `port` whose peer is one of the attackers' addresses, by state
/// (from /proc/net/tcp): what the server still holds open for them.
fn attacker_sockets(port: u16) -> (usize, usize) {
    let text = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    let (mut established, mut close_wait) = (0, 0);
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || f[1] != local {
            continue;
        }
        // 127.0.2.x in /proc's little-endian hex: XX02007F.
        if !f[2].get(2..8).is_some_and(|s| s == "02007F") {
            continue;
        }
        match f[3] {
            "01" => established += 1,
            "08" => close_wait += 1,
            _ => {}
        }
    }
    (established, close_wait)
}

/// The kernel's count of connections dropped because a listen queue was full (TcpExt
/// ListenOverflows, for the whole machine).
fn listen_overflows() -> u64 {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(keys), Some(values)) = (lines.next(), lines.next()) else {
        return 0;
    };
    keys.split_whitespace()
        .zip(values.split_whitespace())
        .find(|(k, _)| *k == "ListenOverflows")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

// ------------------------------------------------------------------------ plain HTTP/1.1 client

async fn connect_from(src: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpSocket::new_v4()?;
    s.bind(SocketAddr::V4(SocketAddrV4::new(src, 0)))?;
    s.connect(to).await
}

/// Reads one HTTP/1.1 answer (head and a `content-length` body). Returns (status, body).
async fn read_answer(s: &mut TcpStream) -> std::io::Result<(u16, Vec<u8>)> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or(std::io::ErrorKind::InvalidData)?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok((status, body))
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nhost: pos.test\r\nconnection: close\r\n");
    for (k, v) in headers {
        r.push_str(&format!("{k}: {v}\r\n"));
    }
    r.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut r = r.into_bytes();
    r.extend_from_slice(body);
    r
}

// -------------------------------------------------------------------------------- honest tills

struct Sale {
    id: Uuid,
    tenant: Uuid,
    hashes: Vec<String>,
    /// The whole HTTP request (head with the device's token, and the JSON body).
    request: Arc<Vec<u8>>,
}

struct Till {
    src: Ipv4Addr,
    sales: Vec<Sale>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Phase {
    Quiet,
    Attack,
    After,
}

#[derive(Default)]
struct Outcomes {
    /// (phase, latency from the first try to the acknowledging answer)
    latencies: Vec<(Phase, Duration)>,
    /// (when the push started, from the run's start; its latency)
    timeline: Vec<(Duration, Duration)>,
    /// Connects (TCP handshakes) that took longer than 500 ms: a SYN dropped by a full accept
    /// queue is sent again after 1 s, then 3 s...
    slow_connects: usize,
    slowest_connect: Duration,
    /// Tries that failed, by what happened.
    failed_tries: BTreeMap<String, usize>,
    accepted: usize,
    duplicate: usize,
    rejected: Vec<String>,
    /// Sales given up after 20 tries.
    given_up: usize,
    /// Sales acknowledged: (tenant, sale, hashes).
    acked: Vec<(Uuid, Uuid, Vec<String>)>,
}

fn phase_at(at: Duration, quiet: Duration, attack: Duration) -> Phase {
    if at < quiet {
        Phase::Quiet
    } else if at < quiet + attack {
        Phase::Attack
    } else {
        Phase::After
    }
}

/// Pushes one sale until it is acknowledged (or 20 tries have failed); returns the time from
/// its first try to the answer that acknowledged it.
async fn push_sale(
    server: SocketAddr,
    src: Ipv4Addr,
    sale: &Sale,
    out: &Mutex<Outcomes>,
) -> Option<Duration> {
    let first = Instant::now();
    for _ in 0..20 {
        let attempt = async {
            let t = Instant::now();
            let mut s = connect_from(src, server).await?;
            let took = t.elapsed();
            if took > Duration::from_millis(500) {
                let mut o = out.lock().unwrap();
                o.slow_connects += 1;
                o.slowest_connect = o.slowest_connect.max(took);
            }
            s.write_all(&sale.request).await?;
            read_answer(&mut s).await
        };
        let failure = match tokio::time::timeout(Duration::from_secs(30), attempt).await {
            Err(_) => "no answer in 30 s".to_string(),
            Ok(Err(e)) => format!("io: {:?}", e.kind()),
            Ok(Ok((200, body))) => {
                let resp: PushResponse = serde_json::from_slice(&body).expect("push answer");
                let took = first.elapsed();
                let retry = {
                    let mut o = out.lock().unwrap();
                    let mut retry = false;
                    for r in &resp.results {
                        match r {
                            PushResult::Accepted { .. } => o.accepted += 1,
                            PushResult::Duplicate { .. } => o.duplicate += 1,
                            PushResult::Rejected { code, .. } => o.rejected.push(code.clone()),
                            PushResult::RetryAfter { .. } => retry = true,
                        }
                    }
                    if !retry {
                        o.acked.push((sale.tenant, sale.id, sale.hashes.clone()));
                    }
                    retry
                };
                if !retry {
                    return Some(took);
                }
                "retry_after".to_string()
            }
            Ok(Ok((status, _))) => format!("HTTP {status}"),
        };
        *out.lock().unwrap().failed_tries.entry(failure).or_default() += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    out.lock().unwrap().given_up += 1;
    None
}

// ------------------------------------------------------------------------------------ attackers

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A request head sent one byte every 200 ms, never finished.
    Slowloris,
    /// A whole head announcing 10 kB of body, then one byte every 500 ms.
    SlowBody,
    /// 4 KiB of random bytes, then reading until closed.
    Garbage,
    /// 256 KiB of one header line (under hyper's default buffer), then nothing.
    BigHeadStall,
    /// 1 MiB of header, sent whole: refused (431) or closed.
    HugeHead,
    /// `content-length: 1 GiB` on login.
    HugeDeclaredBody,
    /// A login body of 16 MiB less 2 bytes sent at once (the global limit is 16 MiB), the last
    /// byte never: what does the server hold meanwhile?
    BigBodyStall,
    /// Pushes of 64 KiB with forged, expired, `alg: none` and garbage tokens.
    BadToken,
    /// Connects and sends nothing.
    Idle,
    /// A TLS ClientHello to the plain-HTTP port, then nothing.
    TlsJunk,
    /// Half a push, then an abrupt reset (SO_LINGER 0).
    Reset,
    /// Asks for the OpenAPI document 200 times, pipelined, and never reads an answer.
    SlowReader,
    /// Wrong passwords for a real email.
    LoginFlood,
}

const KINDS: [Kind; 13] = [
    Kind::Slowloris,
    Kind::SlowBody,
    Kind::Garbage,
    Kind::BigHeadStall,
    Kind::HugeHead,
    Kind::HugeDeclaredBody,
    Kind::BigBodyStall,
    Kind::BadToken,
    Kind::Idle,
    Kind::TlsJunk,
    Kind::Reset,
    Kind::SlowReader,
    Kind::LoginFlood,
];

#[derive(Default, Debug)]
struct KindStats {
    connections: usize,
    connect_failed: usize,
    answers: BTreeMap<u16, usize>,
    /// Closed by the server without an answer.
    closed_silently: usize,
    /// The longest the server kept one of this kind's connections before closing it.
    longest_held: Duration,
}

struct Attack {
    server: SocketAddr,
    end: Instant,
    stats: Mutex<BTreeMap<Kind, KindStats>>,
    tokens: Vec<String>,
}

impl Attack {
    fn note(&self, kind: Kind, f: impl FnOnce(&mut KindStats)) {
        f(self.stats.lock().unwrap().entry(kind).or_default());
    }
}

/// Waits for the server to answer or close, until `until`; returns (status if any, closed).
async fn await_close(s: &mut TcpStream, until: Instant) -> (Option<u16>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = match until.checked_duration_since(Instant::now()) {
            Some(l) => l,
            None => return (status_of(&got), false),
        };
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Err(_) => return (status_of(&got), false),
            Ok(Ok(0)) | Ok(Err(_)) => return (status_of(&got), true),
            Ok(Ok(n)) => {
                if got.len() < 64 {
                    got.extend_from_slice(&buf[..n]);
                }
            }
        }
    }
}

fn status_of(got: &[u8]) -> Option<u16> {
    let t = String::from_utf8_lossy(got);
    t.strip_prefix("HTTP/1.1 ")
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
}

/// Writes `bytes`, then a trickle of `trickle` one byte every `every` until the server closes
/// or the attack ends. Returns whether the server closed it.
async fn trickle(
    s: &mut TcpStream,
    bytes: &[u8],
    trickle: &[u8],
    every: Duration,
    end: Instant,
) -> (Option<u16>, bool) {
    if s.write_all(bytes).await.is_err() {
        return (None, true);
    }
    let mut i = 0;
    loop {
        let next = Instant::now() + every;
        let (status, closed) = await_close(s, next.min(end)).await;
        if closed || status.is_some() {
            return (status, true);
        }
        if Instant::now() >= end {
            return (None, false);
        }
        if s.write_all(&trickle[i % trickle.len()..][..1])
            .await
            .is_err()
        {
            return (None, true);
        }
        i += 1;
    }
}

async fn attacker(a: Arc<Attack>, kind: Kind, n: usize) {
    let src = Ipv4Addr::new(127, 0, 2, 1 + (n % ATTACK_ADDRESSES as usize) as u8);
    let mut rng = rand::rngs::StdRng::seed_from_u64(n as u64);
    // Spread the connects over the first second.
    tokio::time::sleep(Duration::from_millis(rng.gen_range(0..1000))).await;
    while Instant::now() < a.end {
        // At most one connection a second per attacker: 500 hostile connections at once, not a
        // flood of connects (that is a network-level attack, and here it would mostly measure
        // the benchmark's own CPU on a shared two-core machine).
        let cycle = Instant::now() + Duration::from_secs(1);
        let mut s = match connect_from(src, a.server).await {
            Ok(s) => s,
            Err(_) => {
                a.note(kind, |k| k.connect_failed += 1);
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        a.note(kind, |k| k.connections += 1);
        let opened = Instant::now();
        let (status, closed) = match kind {
            Kind::Slowloris => {
                trickle(
                    &mut s,
                    b"POST /v1/sync/push HTTP/1.1\r\nhost: pos.test\r\n",
                    b"x-slow: abcdefghijklmnopqrstuvwxyz\r\n",
                    Duration::from_millis(200),
                    a.end,
                )
                .await
            }
            Kind::SlowBody => {
                trickle(
                    &mut s,
                    b"POST /v1/auth/login HTTP/1.1\r\nhost: pos.test\r\ncontent-type: application/json\r\ncontent-length: 10000\r\n\r\n{\"email\":\"",
                    b"a",
                    Duration::from_millis(500),
                    a.end,
                )
                .await
            }
            Kind::Garbage => {
                let junk: Vec<u8> = (0..4096).map(|_| rng.gen()).collect();
                let _ = s.write_all(&junk).await;
                await_close(&mut s, a.end).await
            }
            Kind::BigHeadStall => {
                let mut head = b"GET /health/live HTTP/1.1\r\nhost: pos.test\r\nx-big: ".to_vec();
                head.extend(std::iter::repeat_n(b'a', 256 << 10));
                let _ = s.write_all(&head).await;
                await_close(&mut s, a.end).await
            }
            Kind::HugeHead => {
                let mut head = b"GET /health/live HTTP/1.1\r\nhost: pos.test\r\nx-big: ".to_vec();
                head.extend(std::iter::repeat_n(b'a', 1 << 20));
                head.extend_from_slice(b"\r\n\r\n");
                let _ = s.write_all(&head).await;
                await_close(&mut s, a.end).await
            }
            Kind::HugeDeclaredBody => {
                let _ = s
                    .write_all(b"POST /v1/auth/login HTTP/1.1\r\nhost: pos.test\r\ncontent-type: application/json\r\ncontent-length: 1073741824\r\n\r\n{\"email\":\"")
                    .await;
                let junk = vec![b'a'; 64 << 10];
                for _ in 0..16 {
                    if s.write_all(&junk).await.is_err() {
                        break;
                    }
                }
                await_close(&mut s, a.end).await
            }
            Kind::BigBodyStall => {
                let len = (16 << 20) - 1;
                let head = format!("POST /v1/auth/login HTTP/1.1\r\nhost: pos.test\r\ncontent-type: application/json\r\ncontent-length: {len}\r\n\r\n");
                let _ = s.write_all(head.as_bytes()).await;
                let junk = vec![b' '; 1 << 20];
                let mut sent = 0;
                let mut refused = false;
                while sent + junk.len() < len - 1 {
                    if s.write_all(&junk).await.is_err() {
                        refused = true;
                        break;
                    }
                    sent += junk.len();
                }
                if !refused {
                    let _ = s.write_all(&junk[..len - 1 - sent]).await;
                }
                await_close(&mut s, a.end).await
            }
            Kind::BadToken => {
                let token = &a.tokens[rng.gen_range(0..a.tokens.len())];
                let body = vec![b' '; 64 << 10];
                let req = request(
                    "POST",
                    "/v1/sync/push",
                    &[
                        ("authorization", &format!("Bearer {token}")),
                        ("content-type", "application/json"),
                    ],
                    &body,
                );
                let _ = s.write_all(&req).await;
                await_close(&mut s, a.end).await
            }
            Kind::Idle => await_close(&mut s, a.end).await,
            Kind::TlsJunk => {
                // A TLS 1.2 ClientHello's record header and the start of its handshake.
                let mut hello = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03];
                hello.extend((0..200).map(|_| rng.gen::<u8>()));
                let _ = s.write_all(&hello).await;
                await_close(&mut s, a.end).await
            }
            Kind::Reset => {
                let req = request(
                    "POST",
                    "/v1/sync/push",
                    &[("authorization", "Bearer x"), ("content-type", "application/json")],
                    &vec![b'{'; 8192],
                );
                let cut = rng.gen_range(10..req.len());
                let _ = s.write_all(&req[..cut]).await;
                // Linger 0: the drop sends a reset at once (it does not block).
                #[allow(deprecated)]
                let _ = s.set_linger(Some(Duration::ZERO));
                drop(s);
                tokio::time::sleep_until(cycle.into()).await;
                continue;
            }
            Kind::SlowReader => {
                let one = b"GET /v1/openapi.json HTTP/1.1\r\nhost: pos.test\r\n\r\n";
                let all: Vec<u8> = one.repeat(200);
                let _ = s.write_all(&all).await;
                // Never reads: waits for the attack's end or an error from the kernel.
                let closed = tokio::time::timeout(
                    a.end.saturating_duration_since(Instant::now()),
                    async {
                        // Probes with one byte every second; a write fails once the server
                        // has closed (RST).
                        loop {
                            tokio::time::sleep(Duration::from_secs(1)).await;
                            if s.write_all(b"\r\n").await.is_err() {
                                return;
                            }
                        }
                    },
                )
                .await
                .is_ok();
                (None, closed)
            }
            Kind::LoginFlood => {
                let body = json!({"email": "owner0@abuse.test", "password": format!("wrong {}", rng.gen::<u32>())}).to_string();
                let req = request(
                    "POST",
                    "/v1/auth/login",
                    &[("content-type", "application/json")],
                    body.as_bytes(),
                );
                let _ = s.write_all(&req).await;
                await_close(&mut s, a.end).await
            }
        };
        let held = opened.elapsed();
        a.note(kind, |k| {
            if let Some(st) = status {
                *k.answers.entry(st).or_default() += 1;
            } else if closed {
                k.closed_silently += 1;
            }
            if closed && held > k.longest_held {
                k.longest_held = held;
            }
        });
        tokio::time::sleep_until(cycle.into()).await;
    }
}

// ----------------------------------------------------------------------------------------- main

fn pct(v: &mut [Duration], q: f64) -> Duration {
    if v.is_empty() {
        return Duration::ZERO;
    }
    v.sort();
    v[((v.len() as f64 * q) as usize).min(v.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let devices = env_num("ABUSE_DEVICES", 1_000) as usize;
    let attackers = env_num("ABUSE_ATTACKERS", 500) as usize;
    let period = Duration::from_secs(env_num("ABUSE_PERIOD_SECS", 30));
    let quiet = Duration::from_secs(env_num("ABUSE_QUIET_SECS", 60));
    let attack = Duration::from_secs(env_num("ABUSE_ATTACK_SECS", 90));
    let after = Duration::from_secs(env_num("ABUSE_AFTER_SECS", 30));
    let total = quiet + attack + after;

    let dir = tempfile::tempdir().expect("dir");
    let (port, pg_port) = (free_port(), free_port());
    let server = start_server(dir.path(), port, pg_port);
    let pid = server.child.id();
    let url = format!("http://127.0.0.1:{port}");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let setup = Instant::now();

    // Tenants, stores, a cashier per store, twelve items per tenant; devices enrolled.
    let root = HeadOffice::login(&url, ADMIN, PW).expect("admin login");
    let eur = Currency::from_code("EUR").expect("EUR");
    let stores_n = TENANTS * STORES_PER_TENANT;
    struct StoreSetup {
        tenant: Uuid,
        cashier: Uuid,
        items: Vec<Uuid>,
        creds: Vec<(
            pos_sync::wire::EnrolResponse,
            pos_sync::http::DeviceCredential,
        )>,
    }
    let mut stores = Vec::new();
    for t in 0..TENANTS {
        let owner = format!("owner{t}@abuse.test");
        let tenant = root
            .create_tenant(&format!("Abuse {t}"), &owner, PW)
            .expect("tenant");
        let ho = HeadOffice::login(&url, &owner, PW).expect("owner login");
        let items: Vec<Uuid> = (0..12)
            .map(|n| {
                ho.publish_item(json!({"sku": format!("I{n}"), "name": format!("Item {n}"),
                    "currency": "EUR", "price": 150 + n * 40, "tax_class": "standard"}))
                    .expect("item")
            })
            .collect();
        for s in 0..STORES_PER_TENANT {
            let store = ho
                .create_store(
                    json!({"code": format!("S{s:02}"), "name": format!("Store {s}"),
                    "currency": "EUR", "tax_mode": "Inclusive", "tax_rates": {"standard": 1900},
                    "discount_threshold_bp": 2000}),
                )
                .expect("store");
            let cashier = ho
                .create_staff(store, &format!("Cashier {t}.{s}"), "cashier", "3333")
                .expect("cashier");
            let k = stores.len();
            let per = devices / stores_n + usize::from(k < devices % stores_n);
            let creds = (0..per)
                .map(|d| {
                    let code = ho.enrolment_code(store).expect("code");
                    enrol(&url, &code, &format!("Till {t}.{s}.{d}")).expect("enrol")
                })
                .collect();
            stores.push(StoreSetup {
                tenant,
                cashier,
                items: items.clone(),
                creds,
            });
        }
    }
    println!(
        "setup: {TENANTS} tenants, {stores_n} stores, {devices} devices enrolled in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    // Every till's sales, made by a real local store, one push request per sale.
    let sales_per_till =
        (total.as_secs_f64() / (period.as_secs_f64() * 2.0 / 3.0)).ceil() as usize + 1;
    let t_sales = Instant::now();
    let tills: Vec<Till> = std::thread::scope(|scope| {
        let handles: Vec<_> = stores
            .chunks(stores_n.div_ceil(2))
            .enumerate()
            .map(|(half, chunk)| {
                let dir = dir.path();
                scope.spawn(move || {
                    let mut tills = Vec::new();
                    for (j, st) in chunk.iter().enumerate() {
                        let store_index = half * stores_n.div_ceil(2) + j;
                        let src = Ipv4Addr::new(127, 0, 1, 1 + store_index as u8);
                        // The store's catalog, fetched once with its first device.
                        let mut first = HttpTransport::new(st.creds[0].1.clone());
                        let mut pages = Vec::new();
                        let mut page: Option<String> = None;
                        loop {
                            let p = first.bootstrap(page.as_deref()).expect("bootstrap");
                            page = p.next.clone();
                            pages.push(p);
                            if page.is_none() {
                                break;
                            }
                        }
                        for (e, cred) in &st.creds {
                            let path = dir.join(format!("{}.sqlite", e.device_id));
                            let mut store = Store::create(
                                &path,
                                DeviceIdentity {
                                    tenant_id: e.tenant_id,
                                    store_id: e.store_id,
                                    device_id: e.device_id,
                                    store_code: e.store_code.clone(),
                                    device_code: e.device_code.clone(),
                                    kind: e.kind,
                                },
                            )
                            .expect("store");
                            for p in &pages {
                                let docs: Vec<_> = p
                                    .docs
                                    .iter()
                                    .map(|d| (d.envelope, d.bytes.as_slice()))
                                    .collect();
                                store.import_snapshots(&docs).expect("import");
                            }
                            store
                                .upsert_staff(
                                    st.cashier,
                                    "Cashier",
                                    pos_core::auth::Role::Cashier,
                                    None,
                                )
                                .expect("staff");
                            let c = store.actor(st.cashier).expect("actor");
                            let token = HttpTransport::new(cred.clone()).token().expect("token");
                            let mut sales = Vec::with_capacity(sales_per_till);
                            for n in 0..sales_per_till {
                                let sale = store.open_sale(&c, None).expect("open");
                                for l in 0..1 + n % 3 {
                                    let item = st.items[(n * 5 + l) % st.items.len()];
                                    store.add_item(&c, sale, item, 1, &[], 1).expect("add");
                                }
                                let due = store
                                    .get::<pos_core::sale::Sale>(sale)
                                    .expect("sale")
                                    .totals()
                                    .expect("totals")
                                    .due;
                                store
                                    .pay(&c, sale, Tender::Cash, Money::new(due, eur), None)
                                    .expect("pay");
                                let entries = store.outbox_batch(1000).expect("outbox");
                                let hashes: Vec<String> =
                                    entries.iter().map(|e| e.hash.clone()).collect();
                                let body = serde_json::to_vec(&PushRequest {
                                    protocol: PROTOCOL_VERSION,
                                    changes: wire_changes(&entries, e.device_id),
                                })
                                .expect("encode");
                                store.outbox_done(&hashes).expect("done");
                                let auth = format!("Bearer {token}");
                                sales.push(Sale {
                                    id: sale,
                                    tenant: st.tenant,
                                    hashes,
                                    request: Arc::new(request(
                                        "POST",
                                        "/v1/sync/push",
                                        &[
                                            ("authorization", auth.as_str()),
                                            ("content-type", "application/json"),
                                        ],
                                        &body,
                                    )),
                                });
                            }
                            drop(store);
                            let _ = std::fs::remove_file(&path);
                            tills.push(Till { src, sales });
                        }
                    }
                    tills
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("till maker"))
            .collect()
    });
    let changes_per_sale = tills
        .iter()
        .flat_map(|t| &t.sales)
        .map(|s| s.hashes.len())
        .sum::<usize>() as f64
        / (tills.len() * sales_per_till) as f64;
    let bytes_per_sale = tills
        .iter()
        .flat_map(|t| &t.sales)
        .map(|s| s.request.len())
        .sum::<usize>()
        / (tills.len() * sales_per_till);
    println!(
        "{} sales made by {} real tills in {:.1} s ({sales_per_till} each, {changes_per_sale:.1} changes and {bytes_per_sale} bytes a push)",
        tills.len() * sales_per_till,
        tills.len(),
        t_sales.elapsed().as_secs_f64()
    );

    // Bad tokens: forged (another key), expired (the server's own key), alg none, garbage.
    let tokens = {
        let claims = |exp: i64| pos_sync_server::jwt::Claims {
            sub: Uuid::new_v4(),
            kind: pos_sync_server::jwt::Kind::Device,
            tenant: stores[0].tenant,
            store: Some(stores[0].creds[0].0.store_id),
            device: Some(stores[0].creds[0].0.device_id),
            sa: false,
            aud: pos_sync_server::jwt::AUDIENCE.into(),
            iat: 0,
            exp,
            jti: Uuid::new_v4(),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let forged = pos_sync_server::jwt::JwtKeys::new(&[7u8; 32])
            .unwrap()
            .sign(&claims(now + 3600))
            .unwrap();
        let expired = pos_sync_server::jwt::JwtKeys::new(JWT_SECRET.as_bytes())
            .unwrap()
            .sign(&claims(now - 60))
            .unwrap();
        let none = {
            use base64::Engine;
            let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            format!(
                "{}.{}.",
                b.encode(br#"{"alg":"none","typ":"JWT"}"#),
                b.encode(serde_json::to_vec(&claims(now + 3600)).unwrap())
            )
        };
        vec![forged, expired, none, "garbage".repeat(100)]
    };

    // The run.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (idle_rss, _) = rss_mib(pid);
    let overflows_before = listen_overflows();
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let rss_samples: Arc<Mutex<Vec<(Duration, f64)>>> = Arc::default();
    let sockets_samples: Arc<Mutex<Vec<(Duration, usize, usize)>>> = Arc::default();
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let pushed = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let sampler = {
        let (rss, socks, stop) = (
            rss_samples.clone(),
            sockets_samples.clone(),
            stop_sampling.clone(),
        );
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                rss.lock().unwrap().push((start.elapsed(), rss_mib(pid).0));
                if n % 10 == 0 {
                    let (e, w) = attacker_sockets(port);
                    socks.lock().unwrap().push((start.elapsed(), e, w));
                }
                n += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let attack_state = Arc::new(Attack {
        server: addr,
        end: start + quiet + attack,
        stats: Mutex::default(),
        tokens,
    });
    let tills = Arc::new(tills);
    rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..tills.len() {
            let (tills, outcomes, in_flight) = (tills.clone(), outcomes.clone(), pushed.clone());
            tasks.push(tokio::spawn(async move {
                let till = &tills[i];
                let mut rng = rand::rngs::StdRng::seed_from_u64(1_000_000 + i as u64);
                let mut at = Duration::from_secs_f64(rng.gen_range(0.0..period.as_secs_f64()));
                for sale in &till.sales {
                    if at >= total {
                        break;
                    }
                    tokio::time::sleep_until((start + at).into()).await;
                    let phase = phase_at(start.elapsed(), quiet, attack);
                    if let Some(took) = push_sale(addr, till.src, sale, &outcomes).await {
                        let mut o = outcomes.lock().unwrap();
                        o.latencies.push((phase, took));
                        o.timeline.push((at, took));
                    }
                    in_flight.fetch_add(1, Ordering::Relaxed);
                    at += Duration::from_secs_f64(
                        period.as_secs_f64() * rng.gen_range(2.0 / 3.0..4.0 / 3.0),
                    );
                }
            }));
        }
        let attack_task = {
            let a = attack_state.clone();
            tokio::spawn(async move {
                tokio::time::sleep_until((start + quiet).into()).await;
                let handles: Vec<_> = (0..attackers)
                    .map(|n| tokio::spawn(attacker(a.clone(), KINDS[n % KINDS.len()], n)))
                    .collect();
                for h in handles {
                    let _ = h.await;
                }
            })
        };
        for t in tasks {
            t.await.expect("till task");
        }
        attack_task.await.expect("attackers");
    });
    let ran = start.elapsed();
    stop_sampling.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    let (end_rss, hwm) = rss_mib(pid);
    let alive = std::fs::metadata(format!("/proc/{pid}")).is_ok();

    // Results.
    let o = outcomes.lock().unwrap();
    println!(
        "\nran {:.0} s: quiet {} s, attack {} s ({attackers} attackers), after {} s; period {} s ±⅓ per till",
        ran.as_secs_f64(),
        quiet.as_secs(),
        attack.as_secs(),
        after.as_secs(),
        period.as_secs()
    );
    let mut by_phase: BTreeMap<Phase, Vec<Duration>> = BTreeMap::new();
    for (p, l) in &o.latencies {
        by_phase.entry(*p).or_default().push(*l);
    }
    let mut p95s = BTreeMap::new();
    for (p, v) in by_phase.iter_mut() {
        let secs = match p {
            Phase::Quiet => quiet,
            Phase::Attack => attack,
            Phase::After => after,
        };
        let (p50, p95, p99, max) = (pct(v, 0.5), pct(v, 0.95), pct(v, 0.99), pct(v, 1.0));
        p95s.insert(*p, p95);
        println!(
            "honest pushes, {p:?}: n = {} ({:.1}/s), p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            v.len(),
            v.len() as f64 / secs.as_secs_f64(),
            ms(p50),
            ms(p95),
            ms(p99),
            ms(max)
        );
    }
    if let (Some(q), Some(a)) = (p95s.get(&Phase::Quiet), p95s.get(&Phase::Attack)) {
        println!(
            "honest p95 under attack / quiet (same run): {:.2}   target p95 < 100 ms under attack: {}",
            a.as_secs_f64() / q.as_secs_f64().max(1e-9),
            if ms(*a) < 100.0 { "MET" } else { "MISSED" }
        );
    }
    println!(
        "changes: {} accepted, {} duplicate (answers lost and sent again), {} rejected {:?}; sales given up: {}",
        o.accepted,
        o.duplicate,
        o.rejected.len(),
        o.rejected.iter().take(3).collect::<Vec<_>>(),
        o.given_up
    );
    println!("failed tries of honest pushes: {:?}", o.failed_tries);
    println!(
        "honest connects over 500 ms: {} (slowest {:.1} s); the kernel's listen-queue overflows during the run (whole machine): {}",
        o.slow_connects,
        o.slowest_connect.as_secs_f64(),
        listen_overflows() - overflows_before
    );
    let mut windows: BTreeMap<u64, Vec<Duration>> = BTreeMap::new();
    for (at, l) in &o.timeline {
        windows.entry(at.as_secs() / 10 * 10).or_default().push(*l);
    }
    let line: Vec<String> = windows
        .iter_mut()
        .map(|(w, v)| format!("{w}s {:.0}", ms(pct(v, 0.95))))
        .collect();
    println!("honest p95 by 10 s of the run (ms): {}", line.join(", "));

    println!("\nattackers, by kind (answers by status; the longest the server held one):");
    for (k, s) in attack_state.stats.lock().unwrap().iter() {
        println!(
            "  {k:?}: {} connections ({} refused at connect), answers {:?}, closed without answer {}, longest held {:.1} s",
            s.connections,
            s.connect_failed,
            s.answers,
            s.closed_silently,
            s.longest_held.as_secs_f64()
        );
    }
    let socks = sockets_samples.lock().unwrap();
    let at_attack_end = socks
        .iter()
        .rev()
        .find(|(t, _, _)| *t <= quiet + attack)
        .map(|(_, e, w)| (*e, *w))
        .unwrap_or_default();
    let max_open = socks.iter().map(|(_, e, w)| e + w).max().unwrap_or(0);
    let after_attack = socks
        .iter()
        .filter(|(t, _, _)| *t > quiet + attack + Duration::from_secs(5))
        .map(|(_, e, w)| e + w)
        .max()
        .unwrap_or(0);
    println!(
        "server-side sockets of attackers: at most {max_open} open; at the attack's end {} established + {} close-wait; 5 s after it, at most {after_attack}",
        at_attack_end.0, at_attack_end.1
    );

    let rss = rss_samples.lock().unwrap();
    let max_in = |from: Duration, to: Duration| {
        rss.iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, r)| *r)
            .fold(0.0f64, f64::max)
    };
    println!(
        "\nserver RSS: idle {idle_rss:.1} MiB; max quiet {:.1}, max under attack {:.1}, max after {:.1}, at the end {end_rss:.1}; VmHWM {hwm:.1} MiB   target < 256 MB: {}",
        max_in(Duration::ZERO, quiet),
        max_in(quiet, quiet + attack),
        max_in(quiet + attack, Duration::MAX),
        if hwm * 1.048_576 < 256.0 { "MET" } else { "MISSED" }
    );
    println!("server process alive at the end: {alive}");

    // Nothing lost, nothing doubled: read the master.
    let acked = o.acked.clone();
    let made = pushed.load(Ordering::Relaxed);
    drop(o);
    let check = rt.block_on(async move {
        let pool = sqlx_postgres::PgPool::connect(&format!(
            "postgres://postgres@127.0.0.1:{pg_port}/postgres"
        ))
        .await
        .expect("the master");
        let rows: Vec<(String, i64)> = sqlx_core::query_as::query_as(
            "SELECT hash, count(*) FROM change_log WHERE author_device IS NOT NULL GROUP BY hash",
        )
        .fetch_all(&pool)
        .await
        .expect("change log");
        let in_log: HashMap<String, i64> = rows.into_iter().collect();
        let sales: Vec<(String, String, Option<String>)> = sqlx_core::query_as::query_as(
            "SELECT doc_id, coalesce(status, ''), tenant_id::text || ' ' || receipt_no FROM p_sales",
        )
        .fetch_all(&pool)
        .await
        .expect("sales");
        let closed: HashSet<String> = sales
            .iter()
            .filter(|(_, s, _)| s.eq_ignore_ascii_case("closed"))
            .map(|(d, _, _)| d.clone())
            .collect();
        let receipts: Vec<&String> = sales.iter().filter_map(|(_, _, r)| r.as_ref()).collect();
        let distinct_receipts: HashSet<&String> = receipts.iter().copied().collect();
        let mut missing_changes = 0;
        let mut doubled_changes = 0;
        let mut missing_sales = 0;
        for (_, sale, hashes) in &acked {
            for h in hashes {
                match in_log.get(h) {
                    None => missing_changes += 1,
                    Some(1) => {}
                    Some(_) => doubled_changes += 1,
                }
            }
            if !closed.contains(&sale.to_string()) {
                missing_sales += 1;
            }
        }
        let acked_hashes: usize = acked.iter().map(|a| a.2.len()).sum();
        (
            acked.len(),
            acked_hashes,
            in_log.len(),
            in_log.values().filter(|n| **n > 1).count(),
            missing_changes,
            doubled_changes,
            missing_sales,
            closed.len(),
            receipts.len() - distinct_receipts.len(),
        )
    });
    let (
        acked_sales,
        acked_changes,
        log_changes,
        log_doubled,
        missing_changes,
        doubled_changes,
        missing_sales,
        closed_sales,
        dup_receipts,
    ) = check;
    println!(
        "\nthe master: {acked_sales} sales acknowledged ({acked_changes} changes) of {made} pushed; change log {log_changes} device changes ({log_doubled} hashes twice); closed sales {closed_sales}; acknowledged changes missing {missing_changes}, doubled {doubled_changes}; acknowledged sales missing {missing_sales}; receipt numbers used twice {dup_receipts}"
    );
    let lost_or_doubled =
        missing_changes + doubled_changes + missing_sales + log_doubled + dup_receipts;
    println!(
        "nothing lost or doubled: {}",
        if lost_or_doubled == 0 && closed_sales == acked_sales && acked_sales == made {
            "MET"
        } else {
            "MISSED"
        }
    );
    drop(server);
}
