//! The server's configuration: flags, each also read from the environment.

use std::net::SocketAddr;
use std::path::PathBuf;

/// The multi-tenant sync server of the offline-first POS.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "pos-sync-server", version)]
pub struct Config {
    /// PostgreSQL URL of the master database. When unset, the server runs and manages its own
    /// cluster in `<data-dir>/pg` with the machine's PostgreSQL binaries.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Folder for the server's own state: the generated JWT secret and the local cluster.
    #[arg(long, env = "POS_DATA_DIR", default_value = "./server-data")]
    pub data_dir: PathBuf,

    /// Address to listen on.
    #[arg(long, env = "POS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Places in the kernel's queue of connections not yet accepted (capped by the system's
    /// `net.core.somaxconn`): a burst of connects waits there instead of being dropped (a
    /// dropped client sends its SYN again only 1 s, then 3 s later).
    #[arg(long, env = "POS_LISTEN_BACKLOG", default_value_t = 4096)]
    pub listen_backlog: u32,

    /// HS256 secret for access tokens (at least 32 bytes). When unset, one is generated once and
    /// kept in `<data-dir>/jwt-secret` (mode 0600). Never logged.
    #[arg(long, env = "POS_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Lifetime of an access token (user or device), in seconds.
    #[arg(long, env = "POS_ACCESS_TTL_SECS", default_value_t = 15 * 60)]
    pub access_ttl_secs: i64,

    /// Lifetime of a head-office refresh token, in seconds.
    #[arg(long, env = "POS_REFRESH_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    pub refresh_ttl_secs: i64,

    /// Lifetime of a device enrolment code, in seconds.
    #[arg(long, env = "POS_ENROL_CODE_TTL_SECS", default_value_t = 15 * 60)]
    pub enrol_code_ttl_secs: i64,

    /// Login attempts allowed per client IP per minute.
    #[arg(long, env = "POS_LOGIN_PER_IP_PER_MIN", default_value_t = 30)]
    pub login_per_ip_per_min: u32,

    /// Login attempts allowed per email per minute.
    #[arg(long, env = "POS_LOGIN_PER_EMAIL_PER_MIN", default_value_t = 10)]
    pub login_per_email_per_min: u32,

    /// Port of the local cluster (when no DATABASE_URL); a free port when unset.
    #[arg(long, env = "POS_PG_PORT")]
    pub pg_port: Option<u16>,

    /// Folder of the PostgreSQL binaries for the local cluster.
    #[arg(long, env = "POS_PG_BIN", default_value = crate::pg::DEFAULT_BIN_DIR)]
    pub pg_bin: PathBuf,

    /// PostgreSQL URL of a streaming replica of the master. When set, head office's reports read
    /// from it (their answers say how far behind it is), so reports never take a connection or
    /// a lock from pushes. Permission checks still read the master.
    #[arg(long, env = "POS_REPLICA_DATABASE_URL", hide_env_values = true)]
    pub replica_database_url: Option<String>,

    /// Largest connection pool to the replica.
    #[arg(long, env = "POS_REPLICA_MAX_CONNECTIONS", default_value_t = 8)]
    pub replica_max_connections: u32,

    /// Largest database connection pool. At most half of it merges pushes at once (a push may
    /// hold two connections: its transaction and the load of a refunded sale).
    #[arg(long, env = "POS_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// Email of a platform superadmin to create at startup if none exists.
    #[arg(long, env = "POS_BOOTSTRAP_ADMIN_EMAIL")]
    pub bootstrap_admin_email: Option<String>,

    /// Password of that superadmin. Never logged.
    #[arg(long, env = "POS_BOOTSTRAP_ADMIN_PASSWORD", hide_env_values = true)]
    pub bootstrap_admin_password: Option<String>,

    /// Seconds to wait for in-flight requests (pushes) to finish on shutdown.
    #[arg(long, env = "POS_SHUTDOWN_GRACE_SECS", default_value_t = 30)]
    pub shutdown_grace_secs: u64,

    /// Mail spool (pickup) directory: each emailed receipt is written here as an RFC 5322
    /// `<id>.eml` file (mode 0600, renamed into place when complete) for a mail transfer agent
    /// or a cron job to send. Default: `<data-dir>/mail-spool`.
    #[arg(long, env = "POS_MAIL_SPOOL_DIR")]
    pub mail_spool_dir: Option<PathBuf>,

    /// Sender (`From:`) of emailed receipts.
    #[arg(long, env = "POS_MAIL_FROM", default_value = "receipts@localhost")]
    pub mail_from: String,

    /// SMTP relay that the server sends the mail spool through (emailed receipts and daily
    /// summaries). Unset: nothing is sent, the spool is left for a mail transfer agent.
    #[arg(long, env = "POS_SMTP_HOST")]
    pub smtp_host: Option<String>,

    /// Port of the SMTP relay (587: submission with STARTTLS; 465 with `--smtp-tls tls`).
    #[arg(long, env = "POS_SMTP_PORT", default_value_t = 587)]
    pub smtp_port: u16,

    /// How the connection to the relay is encrypted: `starttls` (required: a relay that does
    /// not offer it is a failed try, never a plain send), `tls` (TLS from the first byte), or
    /// `plain` (no encryption: only for a relay on loopback in tests; must be named).
    #[arg(long, env = "POS_SMTP_TLS", value_enum, default_value_t = crate::smtp::SmtpTls::Starttls)]
    pub smtp_tls: crate::smtp::SmtpTls,

    /// User name for SMTP AUTH at the relay (with `--smtp-password`).
    #[arg(long, env = "POS_SMTP_USERNAME")]
    pub smtp_username: Option<String>,

    /// Password for SMTP AUTH. Never logged.
    #[arg(long, env = "POS_SMTP_PASSWORD", hide_env_values = true)]
    pub smtp_password: Option<crate::smtp::Password>,

    /// A PEM file of the CA certificate(s) to trust for the relay instead of the system's
    /// (a private relay, or a test's self-signed certificate).
    #[arg(long, env = "POS_SMTP_CA_FILE")]
    pub smtp_ca_file: Option<PathBuf>,

    /// Seconds one SMTP conversation may take (connect, each command); then the try failed.
    #[arg(long, env = "POS_SMTP_TIMEOUT_SECS", default_value_t = 30)]
    pub smtp_timeout_secs: u64,

    /// Tries per mail before it is `failed` (a permanent 5xx answer fails it at once).
    #[arg(long, env = "POS_SMTP_MAX_ATTEMPTS", default_value_t = 10)]
    pub smtp_max_attempts: u32,

    /// Wait before the second try, in milliseconds; doubled for each try after (with jitter:
    /// half to all of it), up to `--smtp-retry-max-ms`.
    #[arg(long, env = "POS_SMTP_RETRY_BASE_MS", default_value_t = 30_000)]
    pub smtp_retry_base_ms: u64,

    /// Longest wait between two tries of a mail, in milliseconds.
    #[arg(long, env = "POS_SMTP_RETRY_MAX_MS", default_value_t = 3_600_000)]
    pub smtp_retry_max_ms: u64,

    /// Consecutive connection failures (refused, dropped, timed out, TLS) after which the
    /// sender stops calling the relay (the circuit opens) for `--smtp-breaker-cooldown-ms`.
    #[arg(long, env = "POS_SMTP_BREAKER_THRESHOLD", default_value_t = 5)]
    pub smtp_breaker_threshold: u32,

    /// Milliseconds the circuit stays open; then one mail probes the relay (half-open), and
    /// its success closes the circuit.
    #[arg(long, env = "POS_SMTP_BREAKER_COOLDOWN_MS", default_value_t = 60_000)]
    pub smtp_breaker_cooldown_ms: u64,

    /// Milliseconds a claimed mail belongs to its sender; a sender that died mid-send leaves
    /// it to be taken again after this (keep it well above `--smtp-timeout-secs`).
    #[arg(long, env = "POS_SMTP_LEASE_MS", default_value_t = 300_000)]
    pub smtp_lease_ms: u64,

    /// Milliseconds between two looks at the queue when it had nothing due.
    #[arg(long, env = "POS_SMTP_POLL_MS", default_value_t = 1_000)]
    pub smtp_poll_ms: u64,

    /// Write events (`pos.sale.closed`, `pos.refund.created`, `pos.shift.closed`,
    /// `inventory.stock.low`) in the push's transaction, for webhooks. `false` turns the outbox
    /// off (nothing is written, nothing is delivered).
    #[arg(long, env = "POS_EVENTS", default_value_t = true, action = clap::ArgAction::Set)]
    pub events: bool,

    /// Allow webhook endpoints on loopback, private or link-local addresses (a test, or a
    /// receiver on the same private network). Off: such URLs are refused when created.
    #[arg(long, env = "POS_WEBHOOK_ALLOW_PRIVATE_TARGETS")]
    pub webhook_allow_private_targets: bool,

    /// Milliseconds a webhook POST may take (connect to answer); then the try failed.
    #[arg(long, env = "POS_WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,

    /// Tries per delivery before it is dead-lettered (`dead`, replayable).
    #[arg(long, env = "POS_WEBHOOK_MAX_ATTEMPTS", default_value_t = 12)]
    pub webhook_max_attempts: u32,

    /// Wait before a delivery's second try, in milliseconds; doubled for each try after (with
    /// jitter), up to `--webhook-retry-max-ms`.
    #[arg(long, env = "POS_WEBHOOK_RETRY_BASE_MS", default_value_t = 1_000)]
    pub webhook_retry_base_ms: u64,

    /// Longest wait between two tries of a delivery, in milliseconds.
    #[arg(long, env = "POS_WEBHOOK_RETRY_MAX_MS", default_value_t = 3_600_000)]
    pub webhook_retry_max_ms: u64,

    /// Milliseconds a claimed delivery belongs to its worker (then another takes it again).
    #[arg(long, env = "POS_WEBHOOK_LEASE_MS", default_value_t = 120_000)]
    pub webhook_lease_ms: u64,

    /// Milliseconds between two looks at the webhook queue when idle (a push wakes it sooner).
    #[arg(long, env = "POS_WEBHOOK_POLL_MS", default_value_t = 500)]
    pub webhook_poll_ms: u64,

    /// Webhook POSTs in flight at once per instance.
    #[arg(long, env = "POS_WEBHOOK_CONCURRENCY", default_value_t = 16)]
    pub webhook_concurrency: usize,

    /// Days an event is kept once every delivery of it is delivered or dead (0: forever).
    /// Pending deliveries keep their event however old. Pruned hourly by the webhook worker.
    #[arg(long, env = "POS_EVENTS_RETENTION_DAYS", default_value_t = 30)]
    pub events_retention_days: u32,

    /// How often (seconds) the server checks for stores whose business day has ended and mails
    /// their daily summary to those who may read their reports. 0: never.
    #[arg(long, env = "POS_DAILY_SUMMARY_EVERY_SECS", default_value_t = 300)]
    pub daily_summary_every_secs: u64,

    /// Seconds a client has to send a whole request head, and that an idle keep-alive
    /// connection is kept waiting for its next one; then the connection is closed.
    #[arg(long, env = "POS_HEADER_READ_TIMEOUT_SECS", default_value_t = 20)]
    pub header_read_timeout_secs: u64,

    /// Seconds a connection's answer (or a live socket's message) may wait for the client to
    /// read any of it; then the connection is closed, so a client that stops reading holds
    /// neither a connection nor the answers queued for it.
    #[arg(long, env = "POS_WRITE_TIMEOUT_SECS", default_value_t = 30)]
    pub write_timeout_secs: u64,

    /// Seconds a client has to send a whole request body, from the end of its head; then the
    /// answer is 408 and the connection is closed.
    #[arg(long, env = "POS_BODY_READ_TIMEOUT_SECS", default_value_t = 60)]
    pub body_read_timeout_secs: u64,

    /// Largest request body, in bytes, on the routes a client reaches before any token is
    /// checked (logins, refreshes, device enrolment and tokens). Those bodies are read whole
    /// before anyone is known; the authenticated routes keep the protocol's limit (16 MiB).
    #[arg(long, env = "POS_MAX_ANONYMOUS_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_anonymous_body_bytes: usize,

    /// Open HTTP connections allowed from one client address (a store's devices behind one
    /// NAT address each keep one or two); one more is closed at once.
    #[arg(long, env = "POS_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,

    /// Open HTTP connections allowed in all (keep it under the process's file limit).
    #[arg(long, env = "POS_MAX_CONNECTIONS", default_value_t = 16_384)]
    pub max_connections: usize,

    /// Seconds a request may take, from its head to its answer; then 503 `UNAVAILABLE`.
    #[arg(long, env = "POS_REQUEST_TIMEOUT_SECS", default_value_t = 120)]
    pub request_timeout_secs: u64,

    /// Requests served at once; one more is answered 503 `UNAVAILABLE` at once.
    #[arg(long, env = "POS_MAX_CONCURRENT_REQUESTS", default_value_t = 1024)]
    pub max_concurrent_requests: usize,

    /// Requests a minute one tenant's users and devices may send in all (a token bucket, so
    /// bursts up to that many); past it, 429 `RATE_LIMIT` with `Retry-After`. 0: no limit.
    #[arg(
        long,
        env = "POS_REQUESTS_PER_TENANT_PER_MIN",
        default_value_t = 120_000
    )]
    pub requests_per_tenant_per_min: u32,

    /// A bearer token that `/metrics` requires (`Authorization: Bearer <token>`). Unset: the
    /// metrics are open (keep the port private then). Never logged.
    #[arg(long, env = "POS_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Origins allowed to call the API from a browser (CORS), e.g. `https://office.example`;
    /// repeat the flag or separate with commas. Unset: no CORS headers at all.
    #[arg(long, env = "POS_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origin: Vec<String>,

    /// Whether owners, admins and the platform superadmin must log in with a second factor
    /// (TOTP): `required` (such a user without one can only enrol it) or `optional` (anyone may
    /// enrol; only a local demo should run so).
    #[arg(long = "admin-2fa", env = "POS_ADMIN_2FA", value_enum, default_value_t = SecondFactor::Required)]
    pub admin_2fa: SecondFactor,

    /// The master key that seals secrets at rest (TOTP secrets), as 64 hex digits. When unset,
    /// one is generated once and kept in `<data-dir>/master-key` (mode 0600). Never stored in
    /// the database, never logged.
    #[arg(long, env = "POS_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,

    /// A previous master key (64 hex digits), still used to open what it sealed while a
    /// rotation re-seals it; repeat or separate with commas. Never logged.
    #[arg(
        long,
        env = "POS_PREVIOUS_MASTER_KEYS",
        hide_env_values = true,
        value_delimiter = ','
    )]
    pub previous_master_key: Vec<String>,

    /// Rotate and exit: re-wrap every data key under the current master key (open the old
    /// wrappings with `--previous-master-key`), give each tenant a new data key and re-seal its
    /// personal data under it in batches of 500, then exit without serving. Safe to run while
    /// other instances serve, and to run again if stopped half-way.
    #[arg(long)]
    pub rotate_keys: bool,

    /// S3-compatible endpoint of the backup repository, `host` or `host:port` (HTTPS only:
    /// pgBackRest 2.45 speaks nothing else to S3). When set, the managed cluster archives its
    /// WAL there continuously (`archive_command` = `pgbackrest archive-push`) and `--backup`
    /// takes full, differential or incremental backups; see `backup.rs`. Only for the managed
    /// cluster (no `DATABASE_URL`).
    #[arg(long, env = "POS_BACKUP_S3_ENDPOINT")]
    pub backup_s3_endpoint: Option<String>,

    /// Bucket of the backup repository.
    #[arg(long, env = "POS_BACKUP_S3_BUCKET", default_value = "pos-backups")]
    pub backup_s3_bucket: String,

    /// Region of the backup bucket (any value for servers that ignore it).
    #[arg(long, env = "POS_BACKUP_S3_REGION", default_value = "us-east-1")]
    pub backup_s3_region: String,

    /// Access key id for the backup bucket. Never logged.
    #[arg(long, env = "POS_BACKUP_S3_KEY", hide_env_values = true)]
    pub backup_s3_key: Option<String>,

    /// Secret access key for the backup bucket. Kept only in the pgBackRest configuration file
    /// (mode 0600). Never logged.
    #[arg(long, env = "POS_BACKUP_S3_KEY_SECRET", hide_env_values = true)]
    pub backup_s3_key_secret: Option<String>,

    /// CA certificate (PEM) that signed the S3 endpoint's certificate, when it is not one the
    /// system trusts (a private or self-signed endpoint). The certificate is always verified.
    #[arg(long, env = "POS_BACKUP_S3_CA_FILE")]
    pub backup_s3_ca_file: Option<PathBuf>,

    /// Bucket addressing: `host` (`bucket.endpoint`, AWS) or `path` (`endpoint/bucket`, most
    /// self-hosted servers).
    #[arg(long, env = "POS_BACKUP_S3_URI_STYLE", value_enum, default_value_t = crate::backup::UriStyle::Host)]
    pub backup_s3_uri_style: crate::backup::UriStyle,

    /// Folder of the repository inside the bucket.
    #[arg(long, env = "POS_BACKUP_REPO_PATH", default_value = "/pos")]
    pub backup_repo_path: String,

    /// Passphrase that encrypts the repository (AES-256-CBC, pgBackRest `repo1-cipher-pass`);
    /// required with `--backup-s3-endpoint`. Without it no backup can be restored: keep it
    /// outside the machine, like the master key. Never logged.
    #[arg(long, env = "POS_BACKUP_CIPHER_PASS", hide_env_values = true)]
    pub backup_cipher_pass: Option<String>,

    /// Full backups to keep (pgBackRest `repo1-retention-full`); older full backups, the
    /// differential and incremental backups that depend on them and their WAL are expired
    /// after each backup.
    #[arg(long, env = "POS_BACKUP_RETENTION_FULL", default_value_t = 2)]
    pub backup_retention_full: u32,

    /// Seconds after which a WAL segment with any write in it is archived even if not full:
    /// the most a point-in-time restore can miss when the master is lost (PostgreSQL
    /// `archive_timeout`).
    #[arg(long, env = "POS_BACKUP_ARCHIVE_TIMEOUT_SECS", default_value_t = 60)]
    pub backup_archive_timeout_secs: u64,

    /// Seconds a backup waits for the WAL it needs to reach the repository before it fails
    /// (pgBackRest `archive-timeout`): with the repository failing, a backup fails after this.
    #[arg(long, env = "POS_BACKUP_WAL_WAIT_SECS", default_value_t = 60)]
    pub backup_wal_wait_secs: u64,

    /// Seconds pgBackRest waits on the repository before a request fails (`io-timeout`).
    #[arg(long, env = "POS_BACKUP_IO_TIMEOUT_SECS", default_value_t = 60)]
    pub backup_io_timeout_secs: u64,

    /// Times pgBackRest retries a failed file copy of a backup or restore before it fails
    /// (`job-retry`: the first retry at once, the next after 15 s).
    #[arg(long, env = "POS_BACKUP_JOB_RETRY", default_value_t = 2)]
    pub backup_job_retry: u32,

    /// Take a backup of the managed cluster and exit: `full`, `diff` (changes since the last
    /// full) or `incr` (changes since the last backup). Creates the repository's stanza the
    /// first time. Safe while the server runs (the cluster it started is used and left running).
    #[arg(long, value_enum)]
    pub backup: Option<crate::backup::Kind>,

    /// Print the repository's backups (pgBackRest `info`, JSON) and exit.
    #[arg(long)]
    pub backup_info: bool,

    /// Restore the repository into a fresh data directory and exit; then start the server with
    /// `--data-dir <this>` (and the same master key). The directory must not hold a cluster.
    #[arg(long)]
    pub restore_into: Option<PathBuf>,

    /// With `--restore-into`: the point in time to recover to, e.g. `2026-03-01 14:30:00+00`
    /// (every transaction committed up to then, none after). Default: the end of the archive.
    #[arg(long, requires = "restore_into")]
    pub restore_target_time: Option<String>,

    /// Log filter (tracing `EnvFilter` syntax). Logs are JSON on stdout.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,
}

/// The settings the running app needs (the part of [`Config`] that handlers read).
#[derive(Debug, Clone)]
pub struct Settings {
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: i64,
    pub enrol_code_ttl_secs: i64,
    pub login_per_ip_per_min: u32,
    pub login_per_email_per_min: u32,
    /// Where emailed receipts are written for the mail transfer agent.
    pub mail_spool_dir: PathBuf,
    /// Their sender.
    pub mail_from: String,
    /// Time a client has to send a request body (the router answers 408 past it).
    pub body_read_timeout: std::time::Duration,
    /// Time a request may take in all (503 past it).
    pub request_timeout: std::time::Duration,
    /// Largest body on the routes reached before any token is checked.
    pub max_anonymous_body_bytes: usize,
    /// Requests served at once.
    pub max_concurrent_requests: usize,
    /// The token `/metrics` requires, if any.
    pub metrics_token: Option<String>,
    /// Origins allowed by CORS (none: no CORS).
    pub cors_origins: Vec<String>,
    /// Requests a minute per tenant (0: no limit).
    pub tenant_requests_per_min: u32,
    /// Whether owners, admins and superadmins must use a second factor.
    pub admin_2fa: SecondFactor,
    /// Seals secrets at rest. `From<&Config>` gives a random key; `app::prepare` replaces it
    /// with the master key (`--master-key` or `<data-dir>/master-key`).
    pub sealer: crate::crypto::Sealer,
    /// Whether pushes write events (`--events`).
    pub events: bool,
    /// Whether webhook URLs may name loopback or private addresses.
    pub webhook_allow_private: bool,
}

/// `--admin-2fa`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SecondFactor {
    /// Owners, admins and superadmins must use TOTP; without it they can only enrol.
    Required,
    /// Anyone may enrol TOTP, and then must use it; nobody is made to.
    Optional,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            access_ttl_secs: 15 * 60,
            refresh_ttl_secs: 30 * 24 * 3600,
            enrol_code_ttl_secs: 15 * 60,
            login_per_ip_per_min: 30,
            login_per_email_per_min: 10,
            mail_spool_dir: PathBuf::from("./server-data/mail-spool"),
            mail_from: "receipts@localhost".into(),
            body_read_timeout: std::time::Duration::from_secs(60),
            request_timeout: std::time::Duration::from_secs(120),
            max_anonymous_body_bytes: 64 * 1024,
            max_concurrent_requests: 1024,
            metrics_token: None,
            cors_origins: Vec::new(),
            tenant_requests_per_min: 120_000,
            admin_2fa: SecondFactor::Required,
            sealer: crate::crypto::Sealer::random(),
            events: true,
            webhook_allow_private: false,
        }
    }
}

impl From<&Config> for Settings {
    fn from(c: &Config) -> Self {
        Settings {
            access_ttl_secs: c.access_ttl_secs,
            refresh_ttl_secs: c.refresh_ttl_secs,
            enrol_code_ttl_secs: c.enrol_code_ttl_secs,
            login_per_ip_per_min: c.login_per_ip_per_min,
            login_per_email_per_min: c.login_per_email_per_min,
            mail_spool_dir: c
                .mail_spool_dir
                .clone()
                .unwrap_or_else(|| c.data_dir.join("mail-spool")),
            mail_from: c.mail_from.clone(),
            body_read_timeout: std::time::Duration::from_secs(c.body_read_timeout_secs),
            request_timeout: std::time::Duration::from_secs(c.request_timeout_secs.max(1)),
            max_anonymous_body_bytes: c.max_anonymous_body_bytes.max(1024),
            max_concurrent_requests: c.max_concurrent_requests.max(1),
            metrics_token: c.metrics_token.clone().filter(|t| !t.is_empty()),
            cors_origins: c.cors_origin.clone(),
            tenant_requests_per_min: c.requests_per_tenant_per_min,
            admin_2fa: c.admin_2fa,
            sealer: crate::crypto::Sealer::random(),
            events: c.events,
            webhook_allow_private: c.webhook_allow_private_targets,
        }
    }
}

impl From<&Config> for crate::listen::Limits {
    fn from(c: &Config) -> Self {
        crate::listen::Limits {
            header_timeout: std::time::Duration::from_secs(c.header_read_timeout_secs.max(1)),
            write_timeout: std::time::Duration::from_secs(c.write_timeout_secs.max(1)),
            max_per_ip: c.max_connections_per_ip.max(1),
            max_total: c.max_connections.max(1),
        }
    }
}
