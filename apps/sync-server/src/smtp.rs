//! Outgoing mail (issue 14): the mail spool sent over SMTP (`lettre`, rustls, STARTTLS).
//!
//! The spool stays the durable queue. Each spooled message (an emailed receipt, a daily
//! summary) is a file, `<mail_id>.eml`, written with its row in `mail_deliveries` in the
//! transaction that queues it ([`spool`]); the file holds the message, its stable Message-ID
//! and its recipient, the row its delivery state (migration 0016):
//!
//! - A sender **claims** due rows with `FOR UPDATE SKIP LOCKED` and marks them `sending` with a
//!   lease (`next_attempt_at` = now + `--smtp-lease-ms`) and a claim id, in a transaction of its
//!   own that commits before anything is sent: two senders (two server instances) never hold
//!   the same mail.
//! - It then sends the file and records the result **under its claim** (`sent`; `retrying` at
//!   a later time with exponential backoff and jitter; `failed` on a permanent 5xx answer or
//!   after `--smtp-max-attempts`). A sender whose lease passed and whose mail was taken again
//!   records nothing.
//! - A sender that dies between the claim and the result leaves the row `sending`; when its
//!   lease has passed any sender takes it again. If the relay had already accepted it, the
//!   recipient gets it twice, with the same Message-ID (which receivers use to drop duplicates):
//!   delivery is **at least once**, never "at most once". A mail is never lost: its row stays
//!   due until a result is recorded.
//! - A **circuit breaker** ([`Breaker`]) stops calling a dead relay: after
//!   `--smtp-breaker-threshold` consecutive connection failures (refused, dropped, timed out,
//!   TLS) nothing is claimed for `--smtp-breaker-cooldown-ms`; then one mail probes the relay
//!   (half-open), and the circuit closes when it gets an SMTP answer.
//!
//! Addresses and the password never reach the logs; `last_error` holds the relay's reply or the
//! transport error, which name no recipient.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use rand::Rng;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_postgres::PgPool;
use thiserror::Error;
use tokio::sync::watch;
use uuid::Uuid;

use crate::db::{self, now_ms};

/// How the connection to the relay is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SmtpTls {
    /// STARTTLS, required: a relay that does not offer it fails the try.
    Starttls,
    /// TLS from the first byte (SMTPS, port 465).
    Tls,
    /// No encryption: only for a relay on loopback in tests.
    Plain,
}

/// The SMTP password: never printed, not even by `Debug`.
#[derive(Clone)]
pub struct Password(String);

impl FromStr for Password {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Password(s.to_string()))
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// What the sender needs (from [`crate::Config`], or built by a test).
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<Password>,
    pub ca_file: Option<PathBuf>,
    /// Envelope sender (the messages' own `From:` is in their file).
    pub from: String,
    pub spool_dir: PathBuf,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub breaker_threshold: u32,
    pub breaker_cooldown: Duration,
    pub lease: Duration,
    pub poll: Duration,
    /// Mails claimed at once.
    pub batch: i64,
}

impl SmtpConfig {
    /// The sender's settings, or `None` when no relay is configured (the sender is off).
    pub fn from_config(c: &crate::Config) -> Option<SmtpConfig> {
        let host = c.smtp_host.clone().filter(|h| !h.trim().is_empty())?;
        Some(SmtpConfig {
            host,
            port: c.smtp_port,
            tls: c.smtp_tls,
            username: c.smtp_username.clone(),
            password: c.smtp_password.clone(),
            ca_file: c.smtp_ca_file.clone(),
            from: c.mail_from.clone(),
            spool_dir: c
                .mail_spool_dir
                .clone()
                .unwrap_or_else(|| c.data_dir.join("mail-spool")),
            timeout: Duration::from_secs(c.smtp_timeout_secs.max(1)),
            max_attempts: c.smtp_max_attempts.max(1),
            retry_base: Duration::from_millis(c.smtp_retry_base_ms.max(1)),
            retry_max: Duration::from_millis(c.smtp_retry_max_ms.max(1)),
            breaker_threshold: c.smtp_breaker_threshold.max(1),
            breaker_cooldown: Duration::from_millis(c.smtp_breaker_cooldown_ms),
            lease: Duration::from_millis(c.smtp_lease_ms.max(1)),
            poll: Duration::from_millis(c.smtp_poll_ms.max(10)),
            batch: 20,
        })
    }
}

#[derive(Debug, Error)]
pub enum MailError {
    #[error("database: {0}")]
    Db(#[from] sqlx_core::Error),
    #[error("mail spool: {0}")]
    Spool(#[from] std::io::Error),
    #[error("SMTP configuration: {0}")]
    Config(String),
}

/// What a spooled mail is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    Receipt,
    DailySummary,
}

impl MailKind {
    fn as_str(self) -> &'static str {
        match self {
            MailKind::Receipt => "receipt",
            MailKind::DailySummary => "daily_summary",
        }
    }
}

/// Queues one message in the caller's transaction: writes `<mail_id>.eml` into the spool
/// (temporary name, synced, renamed) and inserts its `queued` delivery row. If the transaction
/// does not commit, the file is left without a row and never sent.
pub async fn spool(
    tx: &mut db::Tx<'_>,
    dir: &Path,
    tenant: Uuid,
    mail_id: Uuid,
    kind: MailKind,
    message: Vec<u8>,
) -> Result<(), MailError> {
    let file = format!("{mail_id}.eml");
    let (d, f) = (dir.to_path_buf(), file.clone());
    tokio::task::spawn_blocking(move || crate::mail::write_spool(&d, &f, &message))
        .await
        .map_err(|e| MailError::Spool(std::io::Error::other(e)))??;
    query(
        "INSERT INTO mail_deliveries (tenant_id, mail_id, kind, spool_file) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(tenant)
    .bind(mail_id)
    .bind(kind.as_str())
    .bind(&file)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What a failed try means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The relay refused for good (5xx), or the message cannot be sent: no retry.
    Permanent(String),
    /// The relay answered "try later" (4xx): retry with backoff.
    Transient(String),
    /// No SMTP answer: refused, dropped, timed out, TLS failed. Retry, and count it against
    /// the relay (the circuit breaker).
    Connection(String),
}

fn classify(e: &lettre::transport::smtp::Error) -> Failure {
    let text = e.to_string();
    if e.is_permanent() {
        Failure::Permanent(text)
    } else if e.is_transient() {
        Failure::Transient(text)
    } else {
        Failure::Connection(text)
    }
}

/// The circuit breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    /// Nothing is tried until the cool-down has passed.
    Open,
    /// One probe is out.
    HalfOpen,
}

/// Stops calling a relay that does not answer: opens after `threshold` consecutive connection
/// failures, half-opens (one probe) after `cooldown`, closes on any SMTP answer.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

impl Breaker {
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            failures: 0,
            open_until: None,
            probing: false,
        }
    }

    pub fn state(&self, now: Instant) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(_) if self.probing => BreakerState::HalfOpen,
            Some(t) if now < t => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// How many mails may be tried now: none while open or while a probe is out, one probe
    /// once the cool-down has passed, else `batch`.
    pub fn allowance(&mut self, now: Instant, batch: i64) -> i64 {
        match self.open_until {
            None => batch,
            Some(_) if self.probing => 0,
            Some(t) if now < t => 0,
            Some(_) => {
                self.probing = true;
                1
            }
        }
    }

    /// The relay answered (whatever it said): the circuit closes.
    pub fn answered(&mut self) {
        self.failures = 0;
        self.open_until = None;
        self.probing = false;
    }

    /// No answer from the relay; `true` when the circuit is (now) open.
    pub fn connection_failed(&mut self, now: Instant) -> bool {
        self.failures = self.failures.saturating_add(1);
        if self.probing || self.failures >= self.threshold {
            self.probing = false;
            self.open_until = Some(now + self.cooldown);
            return true;
        }
        false
    }

    /// A claimed probe was given back unsent: the next look may probe again.
    fn probe_returned(&mut self) {
        self.probing = false;
    }
}

/// The wait before try `attempts + 1`: `base × 2^(attempts-1)`, at most `max`, times a random
/// factor in [0.5, 1] so that mails failed together do not retry together.
pub fn backoff(base: Duration, max: Duration, attempts: u32) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exp).min(max);
    full.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
}

/// A claimed mail.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub tenant_id: Uuid,
    pub mail_id: Uuid,
    pub spool_file: String,
    pub attempts: i32,
    pub claim: Uuid,
}

/// What one look at the queue did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    pub sent: usize,
    pub retrying: usize,
    pub failed: usize,
    /// Claimed but given back unsent (the circuit opened mid-batch).
    pub returned: usize,
}

impl Round {
    pub fn tried(&self) -> usize {
        self.sent + self.retrying + self.failed
    }
}

/// The sender: one per server instance.
pub struct Sender {
    pool: PgPool,
    cfg: SmtpConfig,
    from: Address,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    breaker: Mutex<Breaker>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").field("cfg", &self.cfg).finish()
    }
}

/// The address in `Name <addr>` or `addr`.
fn bare_address(s: &str) -> &str {
    match (s.rfind('<'), s.rfind('>')) {
        (Some(a), Some(b)) if a < b => &s[a + 1..b],
        _ => s.trim(),
    }
}

impl Sender {
    pub fn new(pool: PgPool, cfg: SmtpConfig) -> Result<Sender, MailError> {
        let from = Address::from_str(bare_address(&cfg.from))
            .map_err(|e| MailError::Config(format!("--mail-from is not an address: {e}")))?;
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(cfg.host.clone())
            .port(cfg.port)
            .timeout(Some(cfg.timeout));
        let params = || -> Result<TlsParameters, MailError> {
            let mut t = TlsParameters::builder(cfg.host.clone());
            if let Some(path) = &cfg.ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    MailError::Config(format!("--smtp-ca-file {}: {e}", path.display()))
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    MailError::Config(format!("--smtp-ca-file {}: {e}", path.display()))
                })?;
                t = t
                    .certificate_store(CertificateStore::None)
                    .add_root_certificate(cert);
            }
            t.build_rustls()
                .map_err(|e| MailError::Config(format!("TLS: {e}")))
        };
        b = match cfg.tls {
            SmtpTls::Starttls => b.tls(Tls::Required(params()?)),
            SmtpTls::Tls => b.tls(Tls::Wrapper(params()?)),
            SmtpTls::Plain => b.tls(Tls::None),
        };
        match (&cfg.username, &cfg.password) {
            (Some(u), Some(p)) => b = b.credentials(Credentials::new(u.clone(), p.0.clone())),
            (None, None) => {}
            _ => {
                return Err(MailError::Config(
                    "--smtp-username and --smtp-password go together".into(),
                ))
            }
        }
        if cfg.tls == SmtpTls::Plain {
            tracing::warn!(
                host = %cfg.host,
                "SMTP without TLS (--smtp-tls plain): only for a relay on loopback"
            );
        }
        Ok(Sender {
            breaker: Mutex::new(Breaker::new(cfg.breaker_threshold, cfg.breaker_cooldown)),
            transport: b.build(),
            from,
            pool,
            cfg,
        })
    }

    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        match self.breaker.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker().state(Instant::now())
    }

    /// Claims up to `n` due mails (queued, retrying, or sending with a lease that has passed)
    /// and commits the claim: `sending`, one more attempt, leased until now + lease.
    pub async fn claim(&self, n: i64) -> Result<Vec<Claimed>, MailError> {
        if n <= 0 {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let claim = Uuid::now_v7();
        let rows: Vec<(Uuid, Uuid, String, i32)> = query_as(
            "UPDATE mail_deliveries d SET status = 'sending', attempts = d.attempts + 1,
                 next_attempt_at = $2, claim = $3
             FROM (SELECT tenant_id, mail_id FROM mail_deliveries
                   WHERE status IN ('queued', 'retrying', 'sending') AND next_attempt_at <= $1
                   ORDER BY next_attempt_at LIMIT $4 FOR UPDATE SKIP LOCKED) c
             WHERE d.tenant_id = c.tenant_id AND d.mail_id = c.mail_id
             RETURNING d.tenant_id, d.mail_id, d.spool_file, d.attempts",
        )
        .bind(now)
        .bind(now + self.cfg.lease.as_millis() as i64)
        .bind(claim)
        .bind(n)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(tenant_id, mail_id, spool_file, attempts)| Claimed {
                tenant_id,
                mail_id,
                spool_file,
                attempts,
                claim,
            })
            .collect())
    }

    /// Sends one claimed mail and records the result under its claim.
    pub async fn deliver(&self, c: &Claimed) -> Result<Option<Failure>, MailError> {
        let failure = self.send(c).await.err();
        match &failure {
            None => {
                self.record(c, "sent", None, None).await?;
                // The message is out: its copy (and the address in it) leaves the spool.
                let path = self.cfg.spool_dir.join(&c.spool_file);
                if let Err(e) = tokio::fs::remove_file(&path).await {
                    tracing::warn!(mail_id = %c.mail_id, error = %e, "removing a sent spool file failed");
                }
                metrics::counter!("pos_mail_sent_total").increment(1);
            }
            Some(Failure::Permanent(e)) => {
                tracing::warn!(mail_id = %c.mail_id, error = %e, "mail refused for good");
                self.record(c, "failed", Some(e), None).await?;
                metrics::counter!("pos_mail_failed_total").increment(1);
            }
            Some(Failure::Transient(e)) | Some(Failure::Connection(e)) => {
                if c.attempts as u32 >= self.cfg.max_attempts {
                    tracing::warn!(mail_id = %c.mail_id, attempts = c.attempts, error = %e, "mail failed: no tries left");
                    self.record(c, "failed", Some(e), None).await?;
                    metrics::counter!("pos_mail_failed_total").increment(1);
                } else {
                    let wait = backoff(self.cfg.retry_base, self.cfg.retry_max, c.attempts as u32);
                    tracing::info!(mail_id = %c.mail_id, attempts = c.attempts, wait_ms = wait.as_millis() as u64, error = %e, "mail not sent; will retry");
                    self.record(c, "retrying", Some(e), Some(wait)).await?;
                    metrics::counter!("pos_mail_retries_total").increment(1);
                }
            }
        }
        Ok(failure)
    }

    async fn record(
        &self,
        c: &Claimed,
        status: &str,
        error: Option<&str>,
        wait: Option<Duration>,
    ) -> Result<(), MailError> {
        let now = now_ms();
        let next = now + wait.map(|w| w.as_millis() as i64).unwrap_or(0);
        let error = error.map(|e| e.chars().take(500).collect::<String>());
        let done = query(
            "UPDATE mail_deliveries SET status = $4, last_error = $5, next_attempt_at = $6,
                 sent_at = CASE WHEN $4 = 'sent' THEN $7 ELSE sent_at END, claim = NULL
             WHERE tenant_id = $1 AND mail_id = $2 AND claim = $3 AND status = 'sending'",
        )
        .bind(c.tenant_id)
        .bind(c.mail_id)
        .bind(c.claim)
        .bind(status)
        .bind(error)
        .bind(next)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            tracing::warn!(mail_id = %c.mail_id, status, "the claim on a mail had passed; its result is not recorded");
        }
        Ok(())
    }

    /// Gives claimed mails back unsent (due now, the attempt not counted).
    async fn give_back(&self, claimed: &[Claimed]) -> Result<(), MailError> {
        for c in claimed {
            query(
                "UPDATE mail_deliveries SET attempts = attempts - 1, next_attempt_at = $4, claim = NULL,
                     status = CASE WHEN attempts - 1 = 0 THEN 'queued' ELSE 'retrying' END
                 WHERE tenant_id = $1 AND mail_id = $2 AND claim = $3 AND status = 'sending'",
            )
            .bind(c.tenant_id)
            .bind(c.mail_id)
            .bind(c.claim)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// One SMTP conversation for one mail.
    async fn send(&self, c: &Claimed) -> Result<(), Failure> {
        let path = self.cfg.spool_dir.join(&c.spool_file);
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Failure::Permanent(format!(
                    "spool file {} is missing",
                    c.spool_file
                )))
            }
            Err(e) => return Err(Failure::Transient(format!("reading the spool file: {e}"))),
        };
        let to = recipient(&bytes).ok_or_else(|| {
            Failure::Permanent("the spooled message has no valid To: address".into())
        })?;
        let envelope = Envelope::new(Some(self.from.clone()), vec![to])
            .map_err(|e| Failure::Permanent(format!("envelope: {e}")))?;
        // lettre's timeout is per command; this bounds the whole conversation.
        let whole = self.cfg.timeout.saturating_mul(4);
        match tokio::time::timeout(whole, self.transport.send_raw(&envelope, &bytes)).await {
            Err(_) => Err(Failure::Connection(
                "the SMTP conversation timed out".into(),
            )),
            Ok(Err(e)) => Err(classify(&e)),
            Ok(Ok(_)) => Ok(()),
        }
    }

    /// One look at the queue: claims what the breaker allows and sends it, one at a time.
    pub async fn run_once(&self) -> Result<Round, MailError> {
        let allowance = self.breaker().allowance(Instant::now(), self.cfg.batch);
        let claimed = self.claim(allowance).await?;
        if claimed.is_empty() && allowance == 1 {
            self.breaker().probe_returned();
        }
        let mut round = Round::default();
        for (i, c) in claimed.iter().enumerate() {
            let failure = self.deliver(c).await?;
            let opened = {
                let mut b = self.breaker();
                match &failure {
                    Some(Failure::Connection(_)) => b.connection_failed(Instant::now()),
                    _ => {
                        b.answered();
                        false
                    }
                }
            };
            match failure {
                None => round.sent += 1,
                Some(Failure::Permanent(_)) => round.failed += 1,
                Some(_) => round.retrying += 1,
            }
            if opened {
                tracing::warn!(
                    host = %self.cfg.host,
                    cooldown_ms = self.cfg.breaker_cooldown.as_millis() as u64,
                    "SMTP relay unreachable: circuit open"
                );
                let rest = &claimed[i + 1..];
                self.give_back(rest).await?;
                round.returned = rest.len();
                break;
            }
        }
        Ok(round)
    }

    /// Runs the sender until shutdown: looks at the queue again at once after a busy look,
    /// after `--smtp-poll-ms` otherwise.
    pub fn spawn(self: std::sync::Arc<Self>, mut stop: watch::Receiver<bool>) {
        tokio::spawn(async move {
            tracing::info!(host = %self.cfg.host, port = self.cfg.port, tls = ?self.cfg.tls, "SMTP sender running");
            loop {
                if *stop.borrow() {
                    return;
                }
                let busy = match self.run_once().await {
                    Ok(r) => r.tried() > 0,
                    Err(e) => {
                        tracing::warn!(error = %e, "SMTP sender: looking at the queue failed");
                        false
                    }
                };
                if !busy {
                    tokio::select! {
                        _ = tokio::time::sleep(self.cfg.poll) => {}
                        _ = stop.changed() => return,
                    }
                }
            }
        });
    }
}

/// The `To:` address of a spooled message (the spool writes one plain address there:
/// `pos_core::email` addresses are ASCII, so never an encoded word).
pub fn recipient(message: &[u8]) -> Option<Address> {
    let text = std::str::from_utf8(message).ok()?;
    for line in text.split("\r\n") {
        if line.is_empty() {
            break; // end of the headers
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("to") {
                return Address::from_str(bare_address(value)).ok();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_after_the_threshold_half_opens_after_the_cooldown_and_closes_on_an_answer()
    {
        let mut b = Breaker::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(b.allowance(t0, 20), 20);
        assert!(!b.connection_failed(t0));
        assert!(!b.connection_failed(t0));
        assert!(b.connection_failed(t0), "the third failure opens it");
        assert_eq!(b.state(t0), BreakerState::Open);
        assert_eq!(b.allowance(t0 + Duration::from_secs(5), 20), 0);
        let later = t0 + Duration::from_secs(11);
        assert_eq!(b.allowance(later, 20), 1, "one probe");
        assert_eq!(b.allowance(later, 20), 0, "and only one");
        assert!(b.connection_failed(later), "a failed probe opens it again");
        assert_eq!(b.allowance(later + Duration::from_secs(5), 20), 0);
        let again = later + Duration::from_secs(11);
        assert_eq!(b.allowance(again, 20), 1);
        b.answered();
        assert_eq!(b.state(again), BreakerState::Closed);
        assert_eq!(b.allowance(again, 20), 20);
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(1_000);
        for _ in 0..50 {
            let w1 = backoff(base, max, 1);
            assert!(w1 >= Duration::from_millis(50) && w1 <= base, "{w1:?}");
            let w3 = backoff(base, max, 3);
            assert!(w3 >= Duration::from_millis(200) && w3 <= Duration::from_millis(400));
            let w20 = backoff(base, max, 20);
            assert!(w20 >= Duration::from_millis(500) && w20 <= max);
        }
    }

    #[test]
    fn the_recipient_is_read_from_the_headers_only() {
        let m = pos_sync::mail::message(
            Uuid::nil(),
            "Shop <receipts@shop.test>",
            "ann@example.test",
            "Subject",
            "To: evil@example.test\n",
            0,
            "shop.test",
        );
        assert_eq!(
            recipient(m.as_bytes()).map(|a| a.to_string()),
            Some("ann@example.test".into())
        );
        assert_eq!(recipient(b"Subject: x\r\n\r\nTo: a@b.test\r\n"), None);
        assert_eq!(bare_address("Shop <r@s.test>"), "r@s.test");
    }

    #[test]
    fn the_password_is_never_printed() {
        let p = Password::from_str("hunter2-secret").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }
}
