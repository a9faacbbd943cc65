//! Outgoing mail over SMTP (issue 14) against a real SMTP server on loopback: Python's
//! `aiosmtpd` (tests/smtp/smtp_server.py, installed into a venv by tests/smtp/ensure-venv.sh),
//! with STARTTLS under a self-signed certificate made here, and a TCP proxy in front of it
//! that counts connections and can drop them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::http::StatusCode;
use pos_sync_server::smtp::{BreakerState, MailKind, Sender, SmtpConfig, SmtpTls};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::common::*;
use crate::emails::{app_with_spool, send};

/// The venv's python with aiosmtpd (installed on first use, then found).
fn python() -> &'static str {
    static PY: OnceLock<String> = OnceLock::new();
    PY.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/ensure-venv.sh");
        let out = std::process::Command::new("bash")
            .arg(&script)
            .output()
            .expect("run ensure-venv.sh");
        assert!(
            out.status.success(),
            "ensure-venv.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .expect("python path")
            .trim()
            .to_string()
    })
}

/// A self-signed certificate for 127.0.0.1: (cert PEM path, key PEM path) in `dir`.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("cert");
    let cert = dir.join("relay.pem");
    let key = dir.join("relay.key");
    std::fs::write(&cert, ck.cert.pem()).expect("cert");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("key");
    (cert, key)
}

/// aiosmtpd on 127.0.0.1, killed when dropped.
struct Relay {
    child: std::process::Child,
    port: u16,
    out: tempfile::TempDir,
    ca: PathBuf,
    _certs: tempfile::TempDir,
}

const USER: &str = "pos-sender";
const PASS: &str = "relay-password-9f2c";

impl Relay {
    fn start() -> Relay {
        let certs = tempfile::tempdir().expect("certs");
        let (cert, key) = certificate(certs.path());
        let out = tempfile::tempdir().expect("out");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp/smtp_server.py");
        let mut child = std::process::Command::new(python())
            .arg(&script)
            .arg("--dir")
            .arg(out.path())
            .arg("--cert")
            .arg(&cert)
            .arg("--key")
            .arg(&key)
            .args(["--user", USER, "--password", PASS])
            .stdout(std::process::Stdio::piped())
            // aiosmtpd's own chatter (a deprecation warning per AUTH) goes beside its mail.
            .stderr(std::fs::File::create(out.path().join("stderr.log")).expect("stderr"))
            .spawn()
            .expect("start aiosmtpd");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
            .expect("port line");
        let port = line
            .trim()
            .strip_prefix("PORT ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("aiosmtpd said {line:?}"));
        Relay {
            child,
            port,
            out,
            ca: cert,
            _certs: certs,
        }
    }

    /// The relay answers DATA with `line` until [`Relay::answer_normally`].
    fn answer(&self, line: &str) {
        std::fs::write(self.out.path().join("reply"), line).expect("reply");
    }

    fn answer_normally(&self) {
        let _ = std::fs::remove_file(self.out.path().join("reply"));
    }

    /// The messages received, as aiosmtpd recorded them.
    fn received(&self) -> Vec<Value> {
        let mut v: Vec<Value> = std::fs::read_dir(self.out.path())
            .expect("out")
            .filter_map(|e| {
                let p = e.ok()?.path();
                let name = p.file_name()?.to_string_lossy().into_owned();
                (name.starts_with("msg-") && name.ends_with(".json")).then(|| {
                    serde_json::from_slice(&std::fs::read(&p).expect("msg")).expect("json")
                })
            })
            .collect();
        v.sort_by_key(|m| m["data"].as_str().unwrap_or("").to_string());
        v
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the proxy does with a connection.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Accept and close at once (a relay that drops the connection).
    Drop,
    /// Pass through to the relay.
    Forward(u16),
}

/// A TCP proxy on 127.0.0.1 that counts connections.
struct Proxy {
    port: u16,
    mode: Arc<Mutex<Mode>>,
    connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(mode: Mode) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mode = Arc::new(Mutex::new(mode));
        let connections = Arc::new(AtomicUsize::new(0));
        let (m, n) = (mode.clone(), connections.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                n.fetch_add(1, Ordering::SeqCst);
                let mode = *m.lock().unwrap();
                match mode {
                    Mode::Drop => drop(inbound),
                    Mode::Forward(to) => {
                        tokio::spawn(async move {
                            if let Ok(mut out) =
                                tokio::net::TcpStream::connect(("127.0.0.1", to)).await
                            {
                                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut out).await;
                            }
                        });
                    }
                }
            }
        });
        Proxy {
            port,
            mode,
            connections,
            task,
        }
    }

    fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The sender's settings for tests: STARTTLS with the relay's certificate and AUTH, short
/// waits.
fn config(port: u16, relay: &Relay, spool: &Path) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        tls: SmtpTls::Starttls,
        username: Some(USER.into()),
        password: Some(PASS.parse().expect("password")),
        ca_file: Some(relay.ca.clone()),
        from: "receipts@pos.test".into(),
        spool_dir: spool.to_path_buf(),
        timeout: Duration::from_secs(5),
        max_attempts: 5,
        retry_base: Duration::from_millis(40),
        retry_max: Duration::from_millis(200),
        breaker_threshold: 10,
        breaker_cooldown: Duration::from_millis(300),
        lease: Duration::from_secs(60),
        poll: Duration::from_millis(20),
        batch: 20,
    }
}

/// Spools `n` messages through the production path (`smtp::spool`), as daily summaries.
async fn spool_mails(app: &TestApp, tenant: Uuid, dir: &Path, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::new();
    let mut tx = app.db.pool.begin().await.expect("tx");
    for i in 0..n {
        let id = Uuid::now_v7();
        let m = pos_sync::mail::message(
            id,
            "receipts@pos.test",
            &format!("manager{i}@shop.test"),
            &format!("Summary {i}"),
            &format!("figures of mail {i}\n"),
            pos_sync_server::db::now_ms(),
            "pos.test",
        );
        pos_sync_server::smtp::spool(
            &mut tx,
            dir,
            tenant,
            id,
            MailKind::DailySummary,
            m.into_bytes(),
        )
        .await
        .expect("spool");
        ids.push(id);
    }
    tx.commit().await.expect("commit");
    ids
}

/// (status, attempts, last_error, sent_at) of a mail.
async fn delivery(app: &TestApp, id: Uuid) -> (String, i32, Option<String>, Option<i64>) {
    sqlx_core::query_as::query_as(
        "SELECT status, attempts, last_error, sent_at FROM mail_deliveries WHERE mail_id = $1",
    )
    .bind(id)
    .fetch_one(&app.db.pool)
    .await
    .expect("delivery")
}

async fn statuses(app: &TestApp) -> Vec<(String, i64)> {
    sqlx_core::query_as::query_as(
        "SELECT status, count(*) FROM mail_deliveries GROUP BY status ORDER BY status",
    )
    .fetch_all(&app.db.pool)
    .await
    .expect("statuses")
}

/// Runs the sender until `done` holds (or panics after 15 s).
async fn run_until(sender: &Sender, mut done: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(std::time::Instant::now() < until, "timed out");
        sender.run_once().await.expect("run");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs the sender until a round tries a mail (its backoff, the breaker's cool-down or a lease
/// has passed) and returns that round; panics after 15 s. Rounds before it try nothing.
async fn first_round_that_tries(sender: &Sender) -> pos_sync_server::smtp::Round {
    let until = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let round = sender.run_once().await.expect("run");
        if round.tried() > 0 {
            return round;
        }
        assert!(std::time::Instant::now() < until, "nothing became due");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn message_ids(msgs: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = msgs
        .iter()
        .map(|m| {
            let data = m["data"].as_str().expect("data");
            data.lines()
                .find_map(|l| l.strip_prefix("Message-ID: "))
                .expect("Message-ID")
                .trim()
                .to_string()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_is_delivered_once_over_starttls_with_its_content_and_its_status_shows() {
    let relay = Relay::start();
    let (app, spool) = app_with_spool().await;
    let dir = spool.path().join("mail-spool");
    let t = app.tenant("Acme").await;
    let item = publish_item(&app, &t, 250).await;
    let mut till = till(&app, &t).await;
    let sale = till.sell(&app, item, 3).await;
    let id = Uuid::now_v7();
    send(
        &app,
        &till.device.token,
        json!([{"id": id, "doc_id": sale, "email": "ann@shop.example"}]),
    )
    .await;
    let r = app.get("/v1/admin/receipt-emails", &t.owner).await;
    assert_eq!(r.body[0]["status"], "queued", "{:?}", r.body);
    assert_eq!(r.body[0]["attempts"], 0);

    let sender =
        Sender::new(app.db.pool.clone(), config(relay.port, &relay, &dir)).expect("sender");
    let round = sender.run_once().await.expect("run");
    assert_eq!(round.sent, 1, "{round:?}");
    let got = relay.received();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m["tls"], true, "STARTTLS before MAIL");
    assert_eq!(m["auth"], true, "authenticated");
    assert_eq!(m["mail_from"], "receipts@pos.test");
    assert_eq!(m["rcpt_tos"], json!(["ann@shop.example"]));
    let data = m["data"].as_str().expect("data");
    assert!(
        data.contains(&format!("Message-ID: <{id}@pos.test>")),
        "{data}"
    );
    assert!(data.contains("3 x Croissant"), "{data}");
    assert!(data.contains("Subject: Your receipt "), "{data}");

    let r = app.get("/v1/admin/receipt-emails", &t.owner).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body[0]["status"], "sent", "{:?}", r.body);
    assert_eq!(r.body[0]["attempts"], 1);
    assert_eq!(r.body[0]["last_error"], Value::Null);
    assert!(r.body[0]["sent_at"].as_i64().is_some(), "{:?}", r.body);
    assert!(
        !dir.join(format!("{id}.eml")).exists(),
        "a sent mail leaves the spool"
    );

    // Nothing more to send: once.
    let round = sender.run_once().await.expect("run");
    assert_eq!(round.tried(), 0);
    assert_eq!(relay.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_fails_the_mail_without_a_retry() {
    let relay = Relay::start();
    let (app, spool) = app_with_spool().await;
    let t = app.tenant("Acme").await;
    let ids = spool_mails(&app, t.tenant_id, spool.path(), 1).await;
    relay.answer("550 5.7.1 not accepted here");
    let sender = Sender::new(
        app.db.pool.clone(),
        config(relay.port, &relay, spool.path()),
    )
    .expect("sender");
    let round = sender.run_once().await.expect("run");
    assert_eq!(round.failed, 1, "{round:?}");
    let (status, attempts, error, sent_at) = delivery(&app, ids[0]).await;
    assert_eq!((status.as_str(), attempts, sent_at), ("failed", 1, None));
    assert!(error.as_deref().unwrap_or("").contains("550"), "{error:?}");
    // Never tried again, even when the relay would take it now.
    relay.answer_normally();
    assert_eq!(sender.run_once().await.expect("run").tried(), 0);
    assert!(relay.received().is_empty());
    assert!(
        spool.path().join(format!("{}.eml", ids[0])).exists(),
        "kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_a_dropped_connection_and_a_dead_relay_are_retried_until_the_relay_recovers() {
    let relay = Relay::start();
    let (app, spool) = app_with_spool().await;
    let t = app.tenant("Acme").await;
    let ids = spool_mails(&app, t.tenant_id, spool.path(), 1).await;
    let proxy = Proxy::start(Mode::Forward(relay.port)).await;
    let sender = Sender::new(
        app.db.pool.clone(),
        config(proxy.port, &relay, spool.path()),
    )
    .expect("sender");

    // 1. "try again later"
    relay.answer("451 4.3.0 busy, try again later");
    let first_try = std::time::Instant::now();
    assert_eq!(sender.run_once().await.expect("run").retrying, 1);
    let (status, attempts, error, _) = delivery(&app, ids[0]).await;
    assert_eq!((status.as_str(), attempts), ("retrying", 1));
    assert!(error.as_deref().unwrap_or("").contains("451"), "{error:?}");
    // Not due before its backoff (at least half of 40 ms), counted from a failure no earlier
    // than `first_try`: checked when the next round starts within that time (a loaded machine
    // may take longer, and the mail is then rightly due).
    let since = first_try.elapsed();
    let next = sender.run_once().await.expect("run").tried();
    if since < std::time::Duration::from_millis(20) {
        assert_eq!(next, 0, "retried {since:?} after the failure");
    }
    // A retry that was due counted one more "try again later".
    let extra = next as i32;

    // 2. the connection is dropped
    relay.answer_normally();
    proxy.set(Mode::Drop);
    run_until(&sender, || proxy.connections() >= 2 + extra as usize).await;
    let (status, attempts, _, _) = delivery(&app, ids[0]).await;
    assert_eq!((status.as_str(), attempts), ("retrying", 2 + extra));

    // 3. nothing listens at all (connection refused)
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let down = Sender::new(app.db.pool.clone(), config(dead, &relay, spool.path())).expect("down");
    let mut attempts = 2 + extra;
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while attempts < 3 + extra {
        assert!(std::time::Instant::now() < until);
        down.run_once().await.expect("run");
        attempts = delivery(&app, ids[0]).await.1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (status, _, error, _) = delivery(&app, ids[0]).await;
    assert_eq!(status, "retrying", "{error:?}");

    // 4. the relay is back: delivered, once
    proxy.set(Mode::Forward(relay.port));
    run_until(&sender, || !relay.received().is_empty()).await;
    let (status, attempts, _, sent_at) = delivery(&app, ids[0]).await;
    assert_eq!((status.as_str(), attempts), ("sent", 4 + extra));
    assert!(sent_at.is_some());
    assert_eq!(relay.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_breaker_stops_calling_a_dead_relay_and_closes_when_it_recovers() {
    let relay = Relay::start();
    let (app, spool) = app_with_spool().await;
    let t = app.tenant("Acme").await;
    spool_mails(&app, t.tenant_id, spool.path(), 10).await;
    let proxy = Proxy::start(Mode::Drop).await;
    let mut cfg = config(proxy.port, &relay, spool.path());
    cfg.breaker_threshold = 3;
    cfg.breaker_cooldown = Duration::from_millis(400);
    cfg.retry_base = Duration::from_millis(1);
    cfg.retry_max = Duration::from_millis(5);
    cfg.max_attempts = 50;
    let sender = Sender::new(app.db.pool.clone(), cfg).expect("sender");

    let round = sender.run_once().await.expect("run");
    assert_eq!(round.retrying, 3, "{round:?}");
    assert_eq!(round.returned, 7, "the rest given back unsent: {round:?}");
    assert_eq!(sender.breaker_state(), BreakerState::Open);
    // While open: no connection at all, however often the queue is looked at.
    for _ in 0..20 {
        assert_eq!(sender.run_once().await.expect("run").tried(), 0);
    }
    assert_eq!(proxy.connections(), 3, "open: the relay is left alone");
    // The given-back mails did not lose a try.
    let (n,): (i64,) = sqlx_core::query_as::query_as(
        "SELECT count(*) FROM mail_deliveries WHERE attempts = 0 AND status = 'queued'",
    )
    .fetch_one(&app.db.pool)
    .await
    .expect("count");
    assert_eq!(n, 7);

    // After the cool-down, one probe; it fails, so open again.
    let round = first_round_that_tries(&sender).await;
    assert_eq!(round.tried(), 1, "one probe: {round:?}");
    assert_eq!(proxy.connections(), 4);
    assert_eq!(sender.breaker_state(), BreakerState::Open);

    // The relay recovers: the next probe closes the circuit, and everything goes, once each.
    proxy.set(Mode::Forward(relay.port));
    let round = first_round_that_tries(&sender).await;
    assert_eq!(round.sent, 1, "the probe: {round:?}");
    assert_eq!(sender.breaker_state(), BreakerState::Closed);
    run_until(&sender, || relay.received().len() >= 10).await;
    let got = relay.received();
    assert_eq!(got.len(), 10);
    let mut ids = message_ids(&got);
    ids.dedup();
    assert_eq!(ids.len(), 10, "no mail twice");
    assert_eq!(statuses(&app).await, vec![("sent".to_string(), 10)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_that_dies_between_claim_and_send_loses_no_mail() {
    let relay = Relay::start();
    let (app, spool) = app_with_spool().await;
    let t = app.tenant("Acme").await;
    let ids = spool_mails(&app, t.tenant_id, spool.path(), 1).await;
    let mut cfg = config(relay.port, &relay, spool.path());
    cfg.lease = Duration::from_millis(300);
    // The first sender claims the mail, then "crashes": it is dropped before sending.
    {
        let dying = Sender::new(app.db.pool.clone(), cfg.clone()).expect("sender");
        let claimed = dying.claim(10).await.expect("claim");
        assert_eq!(claimed.len(), 1);
    }
    assert_eq!(delivery(&app, ids[0]).await.0, "sending");
    // Another sender does not take it while the lease holds...
    let other = Sender::new(app.db.pool.clone(), cfg).expect("sender");
    assert_eq!(other.run_once().await.expect("run").tried(), 0);
    // ...and sends it once the lease has passed.
    assert_eq!(first_round_that_tries(&other).await.sent, 1);
    let (status, attempts, _, _) = delivery(&app, ids[0]).await;
    assert_eq!((status.as_str(), attempts), ("sent", 2));
    assert_eq!(relay.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_senders_never_send_the_same_mail() {
    let relay = Relay::start();
    let (app, spool) = app_with_spool().await;
    let t = app.tenant("Acme").await;
    let ids = spool_mails(&app, t.tenant_id, spool.path(), 30).await;
    let mut cfg = config(relay.port, &relay, spool.path());
    cfg.batch = 3;
    let second_pool = pos_sync_server::db::connect(&app.db.url, 4)
        .await
        .expect("pool");
    let a = Arc::new(Sender::new(app.db.pool.clone(), cfg.clone()).expect("a"));
    let b = Arc::new(Sender::new(second_pool, cfg).expect("b"));
    let run = |s: Arc<Sender>| {
        tokio::spawn(async move {
            let mut sent = 0;
            loop {
                let r = s.run_once().await.expect("run");
                if r.tried() == 0 {
                    return sent;
                }
                sent += r.sent;
            }
        })
    };
    let (x, y) = (run(a), run(b));
    let (x, y) = (x.await.expect("a"), y.await.expect("b"));
    assert_eq!(x + y, 30, "{x} + {y}");
    assert!(x > 0 && y > 0, "both took part: {x} + {y}");
    let got = relay.received();
    assert_eq!(got.len(), 30);
    let mut mids = message_ids(&got);
    mids.dedup();
    assert_eq!(mids.len(), 30, "each mail once");
    assert_eq!(statuses(&app).await, vec![("sent".to_string(), 30)]);
    let _ = ids;
}

/// The server's startup runs the sender when a relay is configured (`--smtp-*` flags).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_started_with_a_relay_sends_the_spool() {
    let relay = Relay::start();
    let spool = tempfile::tempdir().expect("spool");
    let port = relay.port.to_string();
    let ca = relay.ca.to_string_lossy().into_owned();
    let dir = spool.path().to_string_lossy().into_owned();
    let server = real_server(&[
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &port,
        "--smtp-ca-file",
        &ca,
        "--smtp-username",
        USER,
        "--smtp-password",
        PASS,
        "--smtp-poll-ms",
        "20",
        "--mail-from",
        "receipts@pos.test",
        "--mail-spool-dir",
        &dir,
    ])
    .await;
    let tenant = Uuid::now_v7();
    sqlx_core::query::query("INSERT INTO tenants (tenant_id, name) VALUES ($1, 'T')")
        .bind(tenant)
        .execute(&server.db.pool)
        .await
        .expect("tenant");
    let id = Uuid::now_v7();
    let mut tx = server.db.pool.begin().await.expect("tx");
    let m = pos_sync::mail::message(
        id,
        "receipts@pos.test",
        "owner@shop.test",
        "Hello",
        "body\n",
        0,
        "pos.test",
    );
    pos_sync_server::smtp::spool(
        &mut tx,
        spool.path(),
        tenant,
        id,
        MailKind::DailySummary,
        m.into_bytes(),
    )
    .await
    .expect("spool");
    tx.commit().await.expect("commit");
    let until = std::time::Instant::now() + Duration::from_secs(15);
    while relay.received().is_empty() {
        assert!(std::time::Instant::now() < until, "not sent by the server");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(relay.received()[0]["rcpt_tos"], json!(["owner@shop.test"]));
    let _ = server.stop.send(());
    let _ = server.handle.await;
}
