//! The fault campaign (issue 16, Jepsen-style): four tills as processes of their own
//! (`fault-till`: the real store in SQLite and the real sync engine over HTTP), the real server
//! as a process (`fault-server`, the server's own `main`), a PostgreSQL cluster this test owns
//! (`initdb` in a temporary folder, its own port on 127.0.0.1, fsync on), and between tills and
//! server a fault proxy on loopback.
//!
//! While the tills sell, at moments drawn from one seed:
//! - a till is killed with SIGKILL in the middle of a sale's writes, or in the middle of a sync
//!   round (a push in flight), and started again on the same files;
//! - the server is killed with SIGKILL while a push is in flight (the proxy holds it), and
//!   started again (one time in three, that start is killed too); its very first start is
//!   killed at a seeded moment;
//! - PostgreSQL is stopped with `pg_ctl stop -m immediate` (a crash: no checkpoint, recovery
//!   from the WAL at the next start) and started again after a seeded outage;
//! - the proxy, for a seeded share of requests: delays a request or its answer, cuts the
//!   connection before the request, truncates the request (the server gets part of its body),
//!   forwards the request and loses the answer, truncates the answer, or sends the request twice
//!   (at once on a second connection, or again after the answer).
//!
//! At the end (faults off, every till synced): every sale a till said it committed (its `sold`
//! line, printed after the commit) is in its store; each till's receipt numbers are exactly
//! 1..=N; the master holds each sale exactly once (closed sales and distinct receipt numbers per
//! till), no open sale, and no change twice in its change log; no till recorded a refused
//! change; and every till equals the master by digest. No process may crash (an exit it was not
//! killed for) and none may hang (a deadline on every wait, and on the whole run).
//!
//! Seeded and replayable: `POS_FAULT_SEED` (default 16) drives every choice: which fault, at
//! which point of the tills' progress (total sales sold), which till, how long an outage or a
//! delay, which request the proxy touches and how. The same seed gives the same schedule; the
//! interleaving of real processes is the machine's. A failure prints the seed and the command
//! that replays it. `POS_FAULT_SALES` (default 400) is the number of sales of the four tills
//! together; the number of each process fault grows with it (3 till kills mid-write, 3 mid-push,
//! 2 server kills and 2 PostgreSQL crashes per 400 sales).
//!
//! ```sh
//! # the CI run (400 sales)
//! cargo test -p e2e --test faults_e2e -- --nocapture
//! # the long run (10,000 sales), docs/benchmarks.md
//! POS_FAULT_SALES=10000 POS_FAULT_DEADLINE_SECS=7200 cargo test -p e2e --test faults_e2e -- --nocapture
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use e2e::{OWNER_PASSWORD, ROOT_EMAIL, ROOT_PASSWORD};
use pos_core::store::Store;
use pos_sync::device::SyncEngine;
use pos_sync::headoffice::HeadOffice;
use pos_sync::http::{DeviceCredential, HttpTransport};
use pos_sync_server::pg::{ClusterOptions, LocalCluster};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TILLS: usize = 4;
const DEFAULT_SEED: u64 = 16;

/// SplitMix64: small, seedable, the same sequence on every machine.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// In `lo..hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo).max(1)
    }
}

// ---------------------------------------------------------------------------------------------
// The schedule
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// SIGKILL a till while it writes a sale, `delay_us` after it said so.
    KillTillWriting { till: usize, delay_us: u64 },
    /// SIGKILL a till in a sync round, `delay_ms` after it began and a push is in flight.
    KillTillPushing { till: usize, delay_ms: u64 },
    /// SIGKILL the server while a push is in flight, `delay_ms` after the proxy forwarded it;
    /// with `again_after_ms`, the restarted server is killed again that long into its start.
    KillServerPushing {
        delay_ms: u64,
        again_after_ms: Option<u64>,
    },
    /// `pg_ctl stop -m immediate`, down for `down_ms`, then started again.
    CrashPostgres { down_ms: u64, mid_push: bool },
}

impl Fault {
    fn kind(&self) -> &'static str {
        match self {
            Fault::KillTillWriting { .. } => "kill -9 till mid-write",
            Fault::KillTillPushing { .. } => "kill -9 till mid-push",
            Fault::KillServerPushing { .. } => "kill -9 server mid-push",
            Fault::CrashPostgres { .. } => "pg_ctl stop -m immediate",
        }
    }
}

/// The process faults, each at a point of the tills' progress (total sales sold), in order.
/// One fault of each kind comes first (in a seeded order), so every kind happens even when the
/// tills outrun the schedule; then the rest, shuffled. They are spread evenly, with seeded
/// jitter, over 3–75 % of the run, leaving its last quarter for faults that wait on a condition
/// (a till writing, a push in flight) or take seconds (a PostgreSQL restart).
fn schedule(seed: u64, sales: usize) -> Vec<(usize, Fault)> {
    let mut rng = Rng::new(seed ^ 0x5eed_f00d);
    let per = sales.div_ceil(400).max(1);
    let make = |kind: usize, rng: &mut Rng| match kind {
        0 => Fault::KillTillWriting {
            till: rng.range(0, TILLS as u64) as usize,
            delay_us: rng.range(0, 6_000),
        },
        1 => Fault::KillTillPushing {
            till: rng.range(0, TILLS as u64) as usize,
            delay_ms: rng.range(0, 25),
        },
        2 => Fault::KillServerPushing {
            delay_ms: rng.range(0, 8),
            again_after_ms: (rng.next() % 3 == 0).then(|| rng.range(0, 800)),
        },
        _ => Fault::CrashPostgres {
            down_ms: rng.range(100, 1_500),
            mid_push: rng.next() % 2 == 0,
        },
    };
    // Per 400 sales: 3 till kills mid-write, 3 mid-push, 2 server kills, 2 PostgreSQL crashes.
    let mut kinds: Vec<usize> = Vec::new();
    for _ in 0..per {
        kinds.extend([0, 0, 0, 1, 1, 1, 2, 2, 3, 3]);
    }
    let shuffle = |v: &mut [usize], rng: &mut Rng| {
        for i in (1..v.len()).rev() {
            v.swap(i, rng.range(0, i as u64 + 1) as usize);
        }
    };
    let mut first = vec![0, 1, 2, 3];
    shuffle(&mut first, &mut rng);
    for k in &first {
        let at = kinds
            .iter()
            .position(|x| x == k)
            .expect("every kind is there");
        kinds.remove(at);
    }
    shuffle(&mut kinds, &mut rng);
    first.extend(kinds);
    let n = first.len();
    let (from, to) = (sales * 3 / 100, sales * 3 / 4);
    let step = ((to - from) / n).max(1);
    first
        .into_iter()
        .enumerate()
        .map(|(i, kind)| {
            let at = from + i * step + rng.range(0, step as u64) as usize;
            (at.max(1), make(kind, &mut rng))
        })
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_schedule_with_every_kind_early() {
    for seed in [1, 16, 12345] {
        for sales in [400, 10_000] {
            let plan = schedule(seed, sales);
            assert_eq!(format!("{plan:?}"), format!("{:?}", schedule(seed, sales)));
            assert_eq!(plan.len(), 10 * sales.div_ceil(400));
            let kinds: BTreeSet<&str> = plan[..4].iter().map(|(_, f)| f.kind()).collect();
            assert_eq!(kinds.len(), 4, "{plan:?}");
            assert!(plan.windows(2).all(|w| w[0].0 <= w[1].0), "in order");
            assert!(plan.iter().all(|(at, _)| *at >= 1 && *at <= sales * 3 / 4));
        }
    }
    assert_ne!(
        format!("{:?}", schedule(1, 400)),
        format!("{:?}", schedule(2, 400))
    );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL, owned by the campaign
// ---------------------------------------------------------------------------------------------

struct Postgres {
    root: PathBuf,
    opts: ClusterOptions,
    cluster: Option<LocalCluster>,
}

impl Postgres {
    fn start(root: &Path) -> Postgres {
        let opts = ClusterOptions {
            port: Some(pos_sync_server::pg::free_port().expect("port")),
            // fsync and synchronous commit stay on: an immediate stop must not lose a commit
            // the server acknowledged (with synchronous_commit off it could, by design).
            ephemeral: false,
            ..ClusterOptions::default()
        };
        let cluster = LocalCluster::start(root, &opts).expect("postgres cluster");
        Postgres {
            root: root.to_path_buf(),
            opts,
            cluster: Some(cluster),
        }
    }

    fn url(&self) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres",
            self.opts.port.expect("fixed port")
        )
    }

    /// `pg_ctl stop -m immediate`: every backend killed, no shutdown checkpoint.
    fn crash(&mut self) {
        let cluster = self.cluster.take().expect("running");
        let data = cluster.data_dir().to_string_lossy().into_owned();
        pos_sync_server::pg::run_as_cluster_user(
            &self.opts.bin_dir.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "-w", "stop"],
            &self.root,
        )
        .expect("pg_ctl stop -m immediate");
        cluster.leave_running();
    }

    fn restart(&mut self) {
        self.cluster = Some(LocalCluster::start(&self.root, &self.opts).expect("postgres again"));
    }
}

// ---------------------------------------------------------------------------------------------
// The server, as a process
// ---------------------------------------------------------------------------------------------

struct Server {
    addr: SocketAddr,
    db_url: String,
    data: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Server {
    /// Starts the process and waits until it serves.
    fn spawn(&mut self) -> Result<(), String> {
        self.launch()?;
        self.wait_ready()
    }

    /// Starts the process (its JWT secret and master key are its own, made at its first start
    /// in its data directory).
    fn launch(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| e.to_string())?;
        let child = Command::new(env!("CARGO_BIN_EXE_fault-server"))
            .args([
                "--database-url",
                &self.db_url,
                "--listen",
                &self.addr.to_string(),
                "--data-dir",
                &self.data.display().to_string(),
                "--bootstrap-admin-email",
                ROOT_EMAIL,
                "--bootstrap-admin-password",
                ROOT_PASSWORD,
                "--admin-2fa",
                "optional",
                "--shutdown-grace-secs",
                "1",
                "--db-max-connections",
                "8",
                "--log",
                "warn",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("spawn the server: {e}"))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits for `/health/ready`, or for the process to exit (a failed start).
    fn wait_ready(&mut self) -> Result<(), String> {
        let url = format!("http://{}/health/ready", self.addr);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .build()
            .into();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = agent.get(&url).call() {
                if r.status() == 200 {
                    return Ok(());
                }
            }
            if let Some(status) = self.exited() {
                return Err(format!("the server exited while starting: {status}"));
            }
            if Instant::now() > deadline {
                return Err("the server was not ready within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// `Some(status)` when the process has exited.
    fn exited(&mut self) -> Option<String> {
        match self.child.as_mut()?.try_wait() {
            Ok(Some(s)) => Some(s.to_string()),
            _ => None,
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// The tills, as processes
// ---------------------------------------------------------------------------------------------

const IDLE: usize = 0;
const WRITING: usize = 1;
const PUSHING: usize = 2;
const DONE: usize = 3;
const GONE: usize = 4;

/// What the campaign knows of a till from its lines.
#[derive(Default)]
struct TillView {
    phase: AtomicUsize,
    ready: AtomicBool,
    /// Every `sold` line ever read: (sale id, receipt number), committed before it was printed.
    sold: Mutex<Vec<(String, String)>>,
    rounds: AtomicUsize,
    failed_rounds: AtomicUsize,
    /// Why rounds failed: the error's first words, counted.
    errors: Mutex<BTreeMap<String, usize>>,
}

/// Lines from every till wake the controller.
#[derive(Default)]
struct Pulse {
    n: Mutex<u64>,
    cv: Condvar,
}

impl Pulse {
    fn beat(&self) {
        if let Ok(mut n) = self.n.lock() {
            *n += 1;
        }
        self.cv.notify_all();
    }
    /// Waits until `ready()` holds (checked at each line of any till) or `timeout` passes.
    fn wait_for(&self, timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut g = self.n.lock().unwrap();
        loop {
            if ready() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            // The short bound covers conditions that are not lines (the proxy's pushes).
            let wait = (deadline - now).min(Duration::from_millis(20));
            g = self.cv.wait_timeout(g, wait).unwrap().0;
        }
    }
}

struct Till {
    n: usize,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
    view: Arc<TillView>,
    pulse: Arc<Pulse>,
    /// The thread reading the process's lines; joined once the process is gone, so that every
    /// line it printed has been seen.
    reader: Option<std::thread::JoinHandle<()>>,
    starts: usize,
}

impl Till {
    fn spawn(&mut self) -> Result<(), String> {
        self.starts += 1;
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("stderr.log"))
            .map_err(|e| e.to_string())?;
        let mut child = Command::new(env!("CARGO_BIN_EXE_fault-till"))
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("spawn till {}: {e}", self.n))?;
        let out = child.stdout.take().expect("piped");
        self.view.ready.store(false, Ordering::SeqCst);
        self.view.phase.store(IDLE, Ordering::SeqCst);
        let (view, pulse) = (self.view.clone(), self.pulse.clone());
        self.reader = Some(std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                let mut words = line.split(' ');
                match words.next() {
                    Some("ready") => view.ready.store(true, Ordering::SeqCst),
                    Some("write") => view.phase.store(WRITING, Ordering::SeqCst),
                    Some("sold") => {
                        let id = words.next().unwrap_or_default().to_string();
                        let receipt = words.next().unwrap_or_default().to_string();
                        view.sold.lock().unwrap().push((id, receipt));
                        view.phase.store(IDLE, Ordering::SeqCst);
                    }
                    Some("push") => view.phase.store(PUSHING, Ordering::SeqCst),
                    Some("synced") => {
                        view.rounds.fetch_add(1, Ordering::SeqCst);
                        view.phase.store(IDLE, Ordering::SeqCst);
                    }
                    Some("unsynced") => {
                        view.rounds.fetch_add(1, Ordering::SeqCst);
                        view.failed_rounds.fetch_add(1, Ordering::SeqCst);
                        let why: String = words.collect::<Vec<_>>().join(" ");
                        let why: String = why.chars().take(70).collect();
                        *view.errors.lock().unwrap().entry(why).or_default() += 1;
                        view.phase.store(IDLE, Ordering::SeqCst);
                    }
                    Some("done") => view.phase.store(DONE, Ordering::SeqCst),
                    _ => {}
                }
                pulse.beat();
            }
            if view.phase.load(Ordering::SeqCst) != DONE {
                view.phase.store(GONE, Ordering::SeqCst);
            }
            pulse.beat();
        }));
        self.child = Some(child);
        let view = self.view.clone();
        if self.pulse.wait_for(Duration::from_secs(60), || {
            view.ready.load(Ordering::SeqCst) || view.phase.load(Ordering::SeqCst) == GONE
        }) && view.ready.load(Ordering::SeqCst)
        {
            Ok(())
        } else {
            Err(format!(
                "till {} did not start: {}",
                self.n,
                self.stderr_tail()
            ))
        }
    }

    fn phase(&self) -> usize {
        self.view.phase.load(Ordering::SeqCst)
    }

    fn sold(&self) -> usize {
        self.view.sold.lock().unwrap().len()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }

    /// `Some(status)` when the process exited on its own (its last line read).
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok().flatten()?;
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        Some(status)
    }

    fn stderr_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(15).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Till {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------------------------
// The fault proxy
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NetFault {
    None,
    /// Hold the request this long before forwarding it.
    DelayRequest(u64),
    /// Hold the answer this long before forwarding it.
    DelayAnswer(u64),
    /// Close the connection before forwarding anything.
    Cut,
    /// Forward part of the request (`n` per mille of it), then close both sides.
    TruncateRequest(u64),
    /// Forward the request, read the whole answer, and close without sending it.
    LoseAnswer,
    /// Forward the request, send part of the answer (`n` per mille), close.
    TruncateAnswer(u64),
    /// Send the request a second time on another connection, at the same time.
    DuplicateConcurrent,
    /// Send the request again on another connection once the first answer is in.
    DuplicateAfter,
}

impl NetFault {
    fn name(&self) -> &'static str {
        match self {
            NetFault::None => "none",
            NetFault::DelayRequest(_) => "delay request",
            NetFault::DelayAnswer(_) => "delay answer",
            NetFault::Cut => "cut",
            NetFault::TruncateRequest(_) => "truncate request",
            NetFault::LoseAnswer => "lose answer",
            NetFault::TruncateAnswer(_) => "truncate answer",
            NetFault::DuplicateConcurrent => "duplicate (concurrent)",
            NetFault::DuplicateAfter => "duplicate (after the answer)",
        }
    }
}

struct ProxyShared {
    upstream: SocketAddr,
    on: AtomicBool,
    rng: Mutex<Rng>,
    /// Pushes forwarded to the server whose answer has not come back.
    pushes_in_flight: AtomicUsize,
    injected: Mutex<BTreeMap<&'static str, u64>>,
}

impl ProxyShared {
    /// The fault for the next request, one draw per request in arrival order.
    fn decide(&self) -> NetFault {
        if !self.on.load(Ordering::SeqCst) {
            return NetFault::None;
        }
        let mut r = self.rng.lock().unwrap();
        let f = match r.range(0, 1000) {
            0..=29 => NetFault::DelayRequest(r.range(5, 600)),
            30..=49 => NetFault::DelayAnswer(r.range(5, 600)),
            50..=69 => NetFault::Cut,
            70..=89 => NetFault::TruncateRequest(r.range(0, 1000)),
            90..=119 => NetFault::LoseAnswer,
            120..=139 => NetFault::TruncateAnswer(r.range(0, 1000)),
            140..=159 => NetFault::DuplicateConcurrent,
            160..=179 => NetFault::DuplicateAfter,
            _ => NetFault::None,
        };
        drop(r);
        if f != NetFault::None {
            *self.injected.lock().unwrap().entry(f.name()).or_default() += 1;
        }
        f
    }
}

/// One HTTP/1.1 message as read off the wire: its head and its framed body, byte for byte.
struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
    first_line: String,
    close: bool,
}

impl Message {
    fn bytes(&self) -> Vec<u8> {
        let mut b = self.head.clone();
        b.extend_from_slice(&self.body);
        b
    }
}

/// Reads one message (`None` at a clean end of stream). Bodies are framed by Content-Length or
/// chunked encoding; an answer with neither runs to the end of the stream.
async fn read_message<R: tokio::io::AsyncBufRead + Unpin>(
    r: &mut R,
    answer_to: Option<&str>,
) -> std::io::Result<Option<Message>> {
    let mut head = Vec::new();
    let mut first_line = String::new();
    let (mut length, mut chunked, mut close) = (None::<usize>, false, false);
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line).await?;
        if n == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.extend_from_slice(&line);
        if head.len() > 64 * 1024 {
            return Err(std::io::Error::other("head too long"));
        }
        let text = String::from_utf8_lossy(&line).trim_end().to_string();
        if first_line.is_empty() {
            first_line = text;
            continue;
        }
        if text.is_empty() {
            break;
        }
        if let Some((k, v)) = text.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
            match k.as_str() {
                "content-length" => length = v.parse().ok(),
                "transfer-encoding" => chunked = v.contains("chunked"),
                "connection" => close = v.contains("close"),
                _ => {}
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut line = Vec::new();
            if r.read_until(b'\n', &mut line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            body.extend_from_slice(&line);
            let size_text = String::from_utf8_lossy(&line);
            let size_text = size_text.trim().split(';').next().unwrap_or("").to_string();
            let size = usize::from_str_radix(&size_text, 16)
                .map_err(|_| std::io::Error::other("bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut t = Vec::new();
                    if r.read_until(b'\n', &mut t).await? == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    body.extend_from_slice(&t);
                    if t == b"\r\n" || t == b"\n" {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size + 2, 0);
            r.read_exact(&mut body[start..]).await?;
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        r.read_exact(&mut body).await?;
    } else if let Some(method) = answer_to {
        let status: u16 = first_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let bodiless = method == "HEAD" || status < 200 || status == 204 || status == 304;
        if !bodiless {
            r.read_to_end(&mut body).await?;
            close = true;
        }
    }
    Ok(Some(Message {
        head,
        body,
        first_line,
        close,
    }))
}

/// Decrements the in-flight count however the exchange ends.
struct InFlight<'a>(Option<&'a AtomicUsize>);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.0 {
            c.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

type Upstream = (
    tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    tokio::net::tcp::OwnedWriteHalf,
);

async fn connect_upstream(addr: SocketAddr) -> Option<Upstream> {
    let s = TcpStream::connect(addr).await.ok()?;
    let _ = s.set_nodelay(true);
    let (r, w) = s.into_split();
    Some((tokio::io::BufReader::new(r), w))
}

/// Sends `bytes` on a connection of its own and reads the answer, which nobody receives.
async fn send_again(addr: SocketAddr, bytes: Vec<u8>, method: String) {
    if let Some((mut r, mut w)) = connect_upstream(addr).await {
        if w.write_all(&bytes).await.is_ok() {
            let _ = read_message(&mut r, Some(&method)).await;
        }
    }
}

async fn proxy_connection(shared: Arc<ProxyShared>, client: TcpStream) {
    let _ = client.set_nodelay(true);
    let (cr, mut cw) = client.into_split();
    let mut cr = tokio::io::BufReader::new(cr);
    let mut up: Option<Upstream> = None;
    loop {
        let req = match read_message(&mut cr, None).await {
            Ok(Some(m)) => m,
            _ => return,
        };
        let method = req.first_line.split(' ').next().unwrap_or("").to_string();
        let is_push = req.first_line.starts_with("POST /v1/sync/push");
        let fault = shared.decide();
        match fault {
            NetFault::Cut => return,
            NetFault::DelayRequest(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            _ => {}
        }
        if up.is_none() {
            up = connect_upstream(shared.upstream).await;
        }
        let Some((ur, uw)) = up.as_mut() else {
            return;
        };
        let bytes = req.bytes();
        if let NetFault::TruncateRequest(per_mille) = fault {
            let cut = (bytes.len() as u64 * per_mille / 1000) as usize;
            let _ = uw
                .write_all(&bytes[..cut.min(bytes.len().saturating_sub(1))])
                .await;
            return;
        }
        if fault == NetFault::DuplicateConcurrent {
            tokio::spawn(send_again(shared.upstream, bytes.clone(), method.clone()));
        }
        if uw.write_all(&bytes).await.is_err() {
            return;
        }
        let answer = {
            let _guard = if is_push {
                shared.pushes_in_flight.fetch_add(1, Ordering::SeqCst);
                InFlight(Some(&shared.pushes_in_flight))
            } else {
                InFlight(None)
            };
            match read_message(ur, Some(&method)).await {
                Ok(Some(m)) => m,
                _ => return,
            }
        };
        match fault {
            NetFault::LoseAnswer => return,
            NetFault::TruncateAnswer(per_mille) => {
                let a = answer.bytes();
                let cut = (a.len() as u64 * per_mille / 1000) as usize;
                let _ = cw.write_all(&a[..cut.min(a.len().saturating_sub(1))]).await;
                return;
            }
            NetFault::DelayAnswer(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            NetFault::DuplicateAfter => send_again(shared.upstream, bytes, method).await,
            _ => {}
        }
        if cw.write_all(&answer.bytes()).await.is_err() {
            return;
        }
        if answer.close || req.close {
            return;
        }
    }
}

struct Proxy {
    addr: SocketAddr,
    shared: Arc<ProxyShared>,
}

impl Proxy {
    fn start(rt: &tokio::runtime::Runtime, upstream: SocketAddr, seed: u64) -> Proxy {
        let listener = rt
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("addr");
        let shared = Arc::new(ProxyShared {
            upstream,
            on: AtomicBool::new(false),
            rng: Mutex::new(Rng::new(seed ^ 0x9e75_0000_0000_0001)),
            pushes_in_flight: AtomicUsize::new(0),
            injected: Mutex::new(BTreeMap::new()),
        });
        let s = shared.clone();
        rt.spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                tokio::spawn(proxy_connection(s.clone(), client));
            }
        });
        Proxy { addr, shared }
    }

    fn pushes_in_flight(&self) -> usize {
        self.shared.pushes_in_flight.load(Ordering::SeqCst)
    }
}

// ---------------------------------------------------------------------------------------------
// The campaign
// ---------------------------------------------------------------------------------------------

struct Settings {
    seed: u64,
    sales: usize,
    deadline: Duration,
}

fn settings() -> Settings {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let sales: usize = env("POS_FAULT_SALES")
        .map(|v| v.trim().parse().expect("POS_FAULT_SALES is a number"))
        .unwrap_or(400);
    Settings {
        seed: env("POS_FAULT_SEED")
            .map(|v| v.trim().parse().expect("POS_FAULT_SEED is a number"))
            .unwrap_or(DEFAULT_SEED),
        sales: sales.div_ceil(TILLS) * TILLS,
        deadline: Duration::from_secs(
            env("POS_FAULT_DEADLINE_SECS")
                .map(|v| {
                    v.trim()
                        .parse()
                        .expect("POS_FAULT_DEADLINE_SECS is a number")
                })
                .unwrap_or(240),
        ),
    }
}

/// What a run found and did.
#[derive(Debug, Default)]
struct Outcome {
    faults: BTreeMap<&'static str, usize>,
    /// Kills that landed where they were aimed (the till still writing, a push in flight).
    on_target: BTreeMap<&'static str, usize>,
    net: BTreeMap<&'static str, u64>,
    rounds: usize,
    failed_rounds: usize,
    errors: BTreeMap<String, usize>,
    /// Till processes started again after a kill.
    restarts: usize,
    selling: Duration,
    total: Duration,
}

#[test]
fn four_tills_a_server_and_postgres_under_faults_lose_and_double_nothing() {
    let s = settings();
    let replay = format!(
        "POS_FAULT_SEED={} POS_FAULT_SALES={} cargo test -p e2e --test faults_e2e -- --nocapture",
        s.seed, s.sales
    );
    eprintln!(
        "fault campaign: seed {}, {} sales; replay: {replay}",
        s.seed, s.sales
    );
    // The tills' files and the server's log, kept when the run fails (or POS_FAULT_KEEP is set).
    let work = tempfile::Builder::new()
        .prefix("pos-faults-")
        .tempdir()
        .expect("temporary folder");
    let result = campaign(&s, work.path());
    if result.is_err() || std::env::var_os("POS_FAULT_KEEP").is_some() {
        eprintln!("the run's files are kept in {}", work.keep().display());
    }
    match result {
        Ok(o) => {
            eprintln!(
                "fault campaign passed in {:.1} s (selling {:.1} s): process faults {:?} \
                 (on target {:?}); network faults {:?}; sync rounds {} ({} failed); \
                 till restarts {}",
                o.total.as_secs_f64(),
                o.selling.as_secs_f64(),
                o.faults,
                o.on_target,
                o.net,
                o.rounds,
                o.failed_rounds,
                o.restarts
            );
            for (why, n) in &o.errors {
                eprintln!("  {n:>5} × {why}");
            }
        }
        Err(e) => panic!("fault campaign, seed {}: {e}\nreplay: {replay}", s.seed),
    }
}

fn campaign(s: &Settings, work: &Path) -> Result<Outcome, String> {
    let started = Instant::now();
    let mut out = Outcome::default();
    let pg_root = tempfile::Builder::new()
        .prefix("pos-faults-pg-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let mut pg = Postgres::start(pg_root.path());
    let server_addr: SocketAddr = format!(
        "127.0.0.1:{}",
        pos_sync_server::pg::free_port().map_err(|e| e.to_string())?
    )
    .parse()
    .map_err(|e: std::net::AddrParseError| e.to_string())?;
    let mut server = Server {
        addr: server_addr,
        db_url: pg.url(),
        data: work.join("server"),
        log: work.join("server.log"),
        child: None,
    };
    // The first start is killed at a seeded moment too (its secrets, its migrations on an
    // empty database, the platform admin), then started again on what it left.
    let first_kill_ms = Rng::new(s.seed ^ 0x0005_7a27).range(0, 2_000);
    server.launch()?;
    std::thread::sleep(Duration::from_millis(first_kill_ms));
    server.kill();
    *out.faults.entry("kill -9 server mid-start").or_default() += 1;
    eprintln!("killed the server's first start after {first_kill_ms} ms");
    server.spawn()?;
    let server_tail = |server: &Server| {
        let text = std::fs::read_to_string(&server.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(20).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let proxy = Proxy::start(&rt, server_addr, s.seed);
    let direct = format!("http://{server_addr}");
    let via_proxy = format!("http://{}", proxy.addr);

    // A tenant, its store, a cashier and an item.
    let root = HeadOffice::login(&direct, ROOT_EMAIL, ROOT_PASSWORD).map_err(|e| e.to_string())?;
    let tenant = root
        .create_tenant("Faults", "owner@faults.test", OWNER_PASSWORD)
        .map_err(|e| e.to_string())?;
    let owner = HeadOffice::login(&direct, "owner@faults.test", OWNER_PASSWORD)
        .map_err(|e| e.to_string())?;
    let store = owner
        .create_store(json!({"code": "S01", "name": "Faults", "currency": "EUR",
            "tax_mode": "Inclusive", "tax_rates": {"standard": 1900},
            "discount_threshold_bp": 2000}))
        .map_err(|e| e.to_string())?;
    let cashier = owner
        .create_staff(store, "Casey", "cashier", "4242")
        .map_err(|e| e.to_string())?;
    let item = owner
        .publish_item(
            json!({"sku": "TEA", "name": "Tea", "currency": "EUR", "price": 250,
            "tax_class": "standard", "station": null, "track_stock": false,
            "low_stock_threshold": 0}),
        )
        .map_err(|e| e.to_string())?;

    // The tills enrol (no fault yet), then the faults begin.
    let pulse = Arc::new(Pulse::default());
    let per_till = s.sales / TILLS;
    let mut rng = Rng::new(s.seed);
    let mut tills: Vec<Till> = Vec::new();
    for n in 0..TILLS {
        let dir = work.join(format!("till-{n}"));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let code = owner.enrolment_code(store).map_err(|e| e.to_string())?;
        let args = vec![
            "--dir".to_string(),
            dir.display().to_string(),
            "--server".into(),
            via_proxy.clone(),
            "--code".into(),
            code,
            "--cashier".into(),
            cashier.to_string(),
            "--item".into(),
            item.to_string(),
            "--sales".into(),
            per_till.to_string(),
            "--sync-every".into(),
            rng.range(1, 6).to_string(),
        ];
        tills.push(Till {
            n,
            dir,
            args,
            child: None,
            view: Arc::new(TillView::default()),
            pulse: pulse.clone(),
            reader: None,
            starts: 0,
        });
    }
    // One at a time: enrolment is not under test here.
    for t in tills.iter_mut() {
        t.spawn()?;
    }
    proxy.shared.on.store(true, Ordering::SeqCst);
    let selling_from = Instant::now();

    let plan = schedule(s.seed, s.sales);
    eprintln!("schedule (at total sales sold → fault): {plan:?}");
    let mut plan = plan.into_iter().peekable();
    let total_sold = |tills: &[Till]| tills.iter().map(Till::sold).sum::<usize>();
    let mut last_progress = (0usize, Instant::now());
    loop {
        if started.elapsed() > s.deadline {
            return Err(format!(
                "hang: the run passed its deadline of {:?} with {} of {} sales sold",
                s.deadline,
                total_sold(&tills),
                s.sales
            ));
        }
        // Nobody may die of its own accord.
        if let Some(status) = server.exited() {
            return Err(format!(
                "crash: the server exited ({status}) without being killed:\n{}",
                server_tail(&server)
            ));
        }
        for t in tills.iter_mut() {
            if let Some(status) = t.exited() {
                if !(status.success() && t.phase() == DONE) {
                    return Err(format!(
                        "crash: till {} exited ({status}) without being killed:\n{}",
                        t.n,
                        t.stderr_tail()
                    ));
                }
            }
        }
        if tills.iter().all(|t| t.phase() == DONE) {
            break;
        }
        let sold = total_sold(&tills);
        let lines: usize = tills
            .iter()
            .map(|t| t.view.rounds.load(Ordering::SeqCst))
            .sum::<usize>()
            + sold;
        if lines != last_progress.0 {
            last_progress = (lines, Instant::now());
        } else if last_progress.1.elapsed() > Duration::from_secs(90) {
            return Err(format!(
                "hang: no till sold or synced for 90 s ({sold} of {} sales sold; phases {:?})",
                s.sales,
                tills.iter().map(Till::phase).collect::<Vec<_>>()
            ));
        }
        match plan.peek() {
            Some((at, _)) if *at <= sold => {
                let (_, fault) = plan.next().expect("peeked");
                let hit = inject(fault, &mut tills, &mut server, &mut pg, &proxy, &pulse)?;
                *out.faults.entry(fault.kind()).or_default() += 1;
                if hit {
                    *out.on_target.entry(fault.kind()).or_default() += 1;
                }
                last_progress.1 = Instant::now();
            }
            _ => {
                // Until a till says something (or a till's exit is due to be noticed).
                let lines = |tills: &[Till]| {
                    tills
                        .iter()
                        .map(|t| t.sold() + t.view.rounds.load(Ordering::SeqCst))
                        .sum::<usize>()
                };
                let before = lines(&tills);
                pulse.wait_for(Duration::from_millis(200), || lines(&tills) != before);
            }
        }
    }
    out.selling = selling_from.elapsed();
    proxy.shared.on.store(false, Ordering::SeqCst);
    out.net = proxy.shared.injected.lock().unwrap().clone();
    for t in &tills {
        out.rounds += t.view.rounds.load(Ordering::SeqCst);
        out.failed_rounds += t.view.failed_rounds.load(Ordering::SeqCst);
        out.restarts += t.starts - 1;
        for (why, n) in t.view.errors.lock().unwrap().iter() {
            *out.errors.entry(why.clone()).or_default() += n;
        }
    }
    for t in tills.iter_mut() {
        t.kill();
    }
    // Faults left none behind: the unfired ones are dropped (the run ended first).
    let unfired: Vec<_> = plan.collect();
    if !unfired.is_empty() {
        eprintln!("faults not reached before the tills finished: {unfired:?}");
    }

    // Settle: each till's store, opened here, syncs straight with the server until all agree.
    let mut stores: Vec<(Store, HttpTransport)> = Vec::new();
    for t in &tills {
        let store = Store::open(&t.dir.join("till.sqlite")).map_err(|e| e.to_string())?;
        let mut cred: DeviceCredential = serde_json::from_slice(
            &std::fs::read(t.dir.join("credential.json")).map_err(|e| e.to_string())?,
        )
        .map_err(|e| e.to_string())?;
        cred.server = direct.clone();
        stores.push((store, HttpTransport::new(cred)));
    }
    for _ in 0..2 {
        for (store, http) in stores.iter_mut() {
            SyncEngine::new()
                .sync_once(store, http)
                .map_err(|e| format!("settling sync failed: {e}"))?;
        }
    }

    // The checks.
    let db = rt
        .block_on(pos_sync_server::db::connect(&pg.url(), 2))
        .map_err(|e| e.to_string())?;
    let count = |sql: &str| -> Result<i64, String> {
        rt.block_on(pos_sync_server::docs::count(&db, sql, tenant))
            .map_err(|e| format!("{sql}: {e}"))
    };
    let master = rt
        .block_on(pos_sync_server::docs::store_digest(&db, tenant, store))
        .map_err(|e| e.to_string())?;
    let mut all: BTreeSet<(String, String)> = BTreeSet::new();
    for (t, (st, _)) in tills.iter().zip(&stores) {
        let me = st.identity().device_id;
        let mut own: Vec<(String, String)> = Vec::new();
        for sale in st.closed_sales(i64::MAX).map_err(|e| e.to_string())? {
            let env = st.envelope(sale.id).map_err(|e| e.to_string())?;
            if env.created_by_device == me {
                own.push((sale.id.to_string(), sale.receipt_no.unwrap_or_default()));
            }
        }
        let seqs: BTreeSet<u64> = own
            .iter()
            .filter_map(|(_, r)| r.rsplit('-').next()?.parse().ok())
            .collect();
        if seqs.len() != own.len() || seqs != (1..=per_till as u64).collect() {
            return Err(format!(
                "gap or double in till {}'s receipt numbers: {} sales, numbers {:?}",
                t.n,
                own.len(),
                seqs
            ));
        }
        let own: BTreeSet<(String, String)> = own.into_iter().collect();
        for sold in t.view.sold.lock().unwrap().iter() {
            if !own.contains(sold) {
                return Err(format!(
                    "lost sale: till {} committed {sold:?} but its store no longer has it",
                    t.n
                ));
            }
        }
        let prefix = own
            .iter()
            .next()
            .and_then(|(_, r)| r.rsplit_once('-').map(|(p, _)| p.to_string()))
            .unwrap_or_default();
        let in_master = count(&format!(
            "SELECT count(*) FROM p_sales WHERE tenant_id = $1 AND status = 'closed' \
             AND receipt_no LIKE '{prefix}-%'"
        ))?;
        if in_master != per_till as i64 {
            return Err(format!(
                "till {}: {per_till} sales committed, {in_master} in the master",
                t.n
            ));
        }
        all.extend(own);
        if !st.sync_problems().map_err(|e| e.to_string())?.is_empty() {
            return Err(format!("till {} recorded a refused change", t.n));
        }
        if st.outbox_len().map_err(|e| e.to_string())? != 0 {
            return Err(format!("till {} still has changes to push", t.n));
        }
    }
    let checks = [
        (
            "closed sales in the master",
            "SELECT count(*) FROM p_sales WHERE tenant_id = $1 AND status = 'closed'",
            s.sales as i64,
        ),
        (
            "distinct receipt numbers in the master",
            "SELECT count(DISTINCT receipt_no) FROM p_sales WHERE tenant_id = $1 AND status = 'closed'",
            s.sales as i64,
        ),
        (
            "open sales in the master",
            "SELECT count(*) FROM p_sales WHERE tenant_id = $1 AND status <> 'closed'",
            0,
        ),
        (
            "changes twice in the change log",
            "SELECT count(*) - count(DISTINCT hash) FROM change_log WHERE tenant_id = $1",
            0,
        ),
    ];
    for (what, sql, want) in checks {
        let got = count(sql)?;
        if got != want {
            return Err(format!("{what}: {got}, expected {want}"));
        }
    }
    if all.len() != s.sales {
        return Err(format!(
            "{} sales over all tills, expected {}",
            all.len(),
            s.sales
        ));
    }
    for (t, (st, _)) in tills.iter().zip(&stores) {
        let digest = st.projection_digest().map_err(|e| e.to_string())?;
        if digest != master {
            return Err(format!("till {} differs from the master by digest", t.n));
        }
    }
    // A fault is answered as what it is (503 while the database is away, a conflict for a
    // concurrent duplicate), never as an internal error: every 500 is a defect to look at.
    let log = std::fs::read_to_string(&server.log).map_err(|e| e.to_string())?;
    let internal: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"internal error\"") || l.contains("panicked"))
        .take(5)
        .collect();
    if !internal.is_empty() {
        return Err(format!(
            "the server answered internal errors:\n{}",
            internal.join("\n")
        ));
    }
    // The faults did happen.
    for kind in [
        "kill -9 till mid-write",
        "kill -9 till mid-push",
        "kill -9 server mid-push",
        "pg_ctl stop -m immediate",
    ] {
        if out.faults.get(kind).copied().unwrap_or(0) == 0 {
            return Err(format!("the schedule never reached a fault: {kind}"));
        }
    }
    drop(stores);
    server.kill();
    out.total = started.elapsed();
    Ok(out)
}

/// Injects one process fault; says whether it landed where it was aimed.
fn inject(
    fault: Fault,
    tills: &mut [Till],
    server: &mut Server,
    pg: &mut Postgres,
    proxy: &Proxy,
    pulse: &Pulse,
) -> Result<bool, String> {
    let began = Instant::now();
    let hit = inject_one(fault, tills, server, pg, proxy, pulse)?;
    eprintln!(
        "injected {fault:?} in {:.2} s (on target: {hit})",
        began.elapsed().as_secs_f64()
    );
    Ok(hit)
}

fn inject_one(
    fault: Fault,
    tills: &mut [Till],
    server: &mut Server,
    pg: &mut Postgres,
    proxy: &Proxy,
    pulse: &Pulse,
) -> Result<bool, String> {
    // A till that has finished is not killed: the next one that still sells is.
    let pick = |tills: &[Till], want: usize| -> Option<usize> {
        (0..TILLS)
            .map(|k| (want + k) % TILLS)
            .find(|&k| !matches!(tills[k].phase(), DONE | GONE))
    };
    match fault {
        Fault::KillTillWriting { till, delay_us } => {
            let Some(k) = pick(tills, till) else {
                return Ok(false);
            };
            let view = tills[k].view.clone();
            let aimed = pulse.wait_for(Duration::from_secs(20), || {
                view.phase.load(Ordering::SeqCst) == WRITING
            });
            spin(Duration::from_micros(delay_us));
            let hit = aimed && view.phase.load(Ordering::SeqCst) == WRITING;
            tills[k].kill();
            tills[k].spawn()?;
            Ok(hit)
        }
        Fault::KillTillPushing { till, delay_ms } => {
            let Some(k) = pick(tills, till) else {
                return Ok(false);
            };
            let view = tills[k].view.clone();
            let aimed = pulse.wait_for(Duration::from_secs(30), || {
                view.phase.load(Ordering::SeqCst) == PUSHING && proxy.pushes_in_flight() > 0
            });
            spin(Duration::from_millis(delay_ms));
            let hit = aimed && view.phase.load(Ordering::SeqCst) == PUSHING;
            tills[k].kill();
            tills[k].spawn()?;
            Ok(hit)
        }
        Fault::KillServerPushing {
            delay_ms,
            again_after_ms,
        } => {
            let aimed = pulse.wait_for(Duration::from_secs(30), || proxy.pushes_in_flight() > 0);
            spin(Duration::from_millis(delay_ms));
            let hit = aimed && proxy.pushes_in_flight() > 0;
            server.kill();
            if let Some(ms) = again_after_ms {
                server.launch()?;
                // The fault's seeded moment inside the start, not a wait for anything.
                std::thread::sleep(Duration::from_millis(ms));
                server.kill();
            }
            server.spawn()?;
            Ok(hit)
        }
        Fault::CrashPostgres { down_ms, mid_push } => {
            let hit = !mid_push
                || pulse.wait_for(Duration::from_secs(30), || proxy.pushes_in_flight() > 0);
            pg.crash();
            // The outage itself is the fault's length, not a wait for anything.
            std::thread::sleep(Duration::from_millis(down_ms));
            let restart = Instant::now();
            pg.restart();
            eprintln!(
                "postgres restarted in {:.2} s",
                restart.elapsed().as_secs_f64()
            );
            Ok(hit)
        }
    }
}

/// Lets `d` pass (a fault's seeded delay, short enough that a sleep would overshoot it).
fn spin(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}
