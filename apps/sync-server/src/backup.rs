//! Continuous backup of the managed cluster to S3-compatible object storage, with pgBackRest.
//!
//! When `--backup-s3-endpoint` is set, the server starts its cluster (`pg.rs`) with WAL
//! archiving on (`archive_mode=on`, `archive_command` = `pgbackrest archive-push %p`,
//! `archive_timeout`), and writes pgBackRest's configuration for it into
//! `<data-dir>/pgbackrest/pgbackrest.conf` (mode 0600, owned by the cluster's user: it holds the
//! S3 secret and the cipher passphrase, which are never logged). The repository is encrypted
//! (`aes-256-cbc`) and compressed (`zst`); `repo1-retention-full` full backups are kept.
//!
//! One-off commands of the same binary ([`run_command`]), with the same flags:
//! - `--backup full|diff|incr`: creates the stanza the first time, then takes the backup (of the
//!   cluster a serving server started, which is left running, or of one it starts and stops);
//! - `--backup-info`: pgBackRest's `info` as JSON;
//! - `--restore-into <dir> [--restore-target-time <t>]`: restores into a fresh data directory
//!   (the backup set before the target, then the archived WAL up to it) and exits; the server
//!   started with `--data-dir <dir>` waits for the recovery to reach its target and promote
//!   before it migrates or serves (`LocalCluster::start`).
//!
//! pgBackRest runs as the cluster's user (`postgres` when the server runs as root), as the
//! archive command does, so that its lock, log and spool files and the restored data directory
//! belong to the user PostgreSQL runs as.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::config::Config;
use crate::pg::{
    binaries_major, give_to_cluster_user, run_as_cluster_user, ClusterError, ClusterOptions,
    LocalCluster,
};

/// The repository's one stanza (pgBackRest's name for a cluster's backups).
pub const STANZA: &str = "pos";

/// `--backup-s3-uri-style`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UriStyle {
    /// `https://bucket.endpoint/…` (AWS).
    Host,
    /// `https://endpoint/bucket/…` (most self-hosted servers).
    Path,
}

/// `--backup`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Every file of the cluster.
    Full,
    /// What changed since the last full backup.
    Diff,
    /// What changed since the last backup of any kind.
    Incr,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Full => "full",
            Kind::Diff => "diff",
            Kind::Incr => "incr",
        }
    }
}

#[derive(Debug, Error)]
pub enum BackupError {
    #[error("no backup repository is configured (--backup-s3-endpoint)")]
    NotConfigured,
    #[error("backups are of the server's managed cluster; with DATABASE_URL, back up that database server with its own tools")]
    ExternalDatabase,
    #[error("{0} is required with --backup-s3-endpoint")]
    Missing(&'static str),
    #[error("bad --backup-s3-endpoint {0:?}: expected host or host:port (HTTPS)")]
    BadEndpoint(String),
    #[error("bad --restore-target-time {0:?}: expected a time such as 2026-03-01 14:30:00+00")]
    BadTarget(String),
    #[error(
        "pgbackrest is not installed (apt-get install pgbackrest; scripts/ensure-deps.sh does)"
    )]
    NoPgBackRest,
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// pgBackRest refused or failed; `message` is its own error text (it never prints the
    /// passphrase or the S3 secret).
    #[error("{what} failed: {message}")]
    PgBackRest { what: String, message: String },
    #[error("the repository holds no backup to restore")]
    NoBackup,
    #[error("the backups are of PostgreSQL {backup}, but the binaries in {bin_dir} are PostgreSQL {binaries}: restore with PostgreSQL {backup}'s binaries (--pg-bin), then upgrade with pg_upgrade")]
    VersionMismatch {
        backup: String,
        binaries: String,
        bin_dir: PathBuf,
    },
    #[error("{0} already holds a cluster: restore into a fresh data directory")]
    NotFresh(PathBuf),
    #[error("unreadable answer from pgbackrest info: {0}")]
    BadInfo(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The backup repository the flags describe. Its `Debug` leaves the secrets out.
#[derive(Clone)]
pub struct Repo {
    host: String,
    port: Option<u16>,
    bucket: String,
    region: String,
    key: String,
    key_secret: String,
    ca_file: Option<PathBuf>,
    uri_style: UriStyle,
    path: String,
    cipher_pass: String,
    retention_full: u32,
    archive_timeout_secs: u64,
    wal_wait_secs: u64,
    io_timeout_secs: u64,
    job_retry: u32,
    bin: PathBuf,
}

impl std::fmt::Debug for Repo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repo")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("bucket", &self.bucket)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// A value written into pgbackrest.conf: one line, no NUL.
fn conf_value(what: &'static str, v: &str) -> Result<String, BackupError> {
    if v.is_empty() || v.contains(['\n', '\r', '\0']) {
        return Err(BackupError::Missing(what));
    }
    Ok(v.to_string())
}

/// `pgbackrest` on PATH (or the usual places).
fn find_pgbackrest() -> Result<PathBuf, BackupError> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/bin", "/usr/local/bin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join("pgbackrest"))
        .find(|p| p.is_file())
        .ok_or(BackupError::NoPgBackRest)
}

impl Repo {
    /// The repository of `--backup-s3-*`, or `None` when no endpoint is set.
    pub fn from_config(c: &Config) -> Result<Option<Repo>, BackupError> {
        let Some(endpoint) = c.backup_s3_endpoint.as_deref().map(str::trim) else {
            return Ok(None);
        };
        if endpoint.is_empty() {
            return Ok(None);
        }
        let bad = || BackupError::BadEndpoint(endpoint.to_string());
        let (host, port) = match endpoint.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse::<u16>().map_err(|_| bad())?)),
            None => (endpoint, None),
        };
        if host.is_empty()
            || !host
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ".-_".contains(ch))
        {
            return Err(bad());
        }
        let required = |what: &'static str, v: &Option<String>| {
            conf_value(what, v.as_deref().unwrap_or_default())
        };
        let path = if c.backup_repo_path.starts_with('/') {
            c.backup_repo_path.clone()
        } else {
            format!("/{}", c.backup_repo_path)
        };
        Ok(Some(Repo {
            host: host.to_string(),
            port,
            bucket: conf_value("--backup-s3-bucket", &c.backup_s3_bucket)?,
            region: conf_value("--backup-s3-region", &c.backup_s3_region)?,
            key: required("--backup-s3-key", &c.backup_s3_key)?,
            key_secret: required("--backup-s3-key-secret", &c.backup_s3_key_secret)?,
            ca_file: c.backup_s3_ca_file.clone(),
            uri_style: c.backup_s3_uri_style,
            path: conf_value("--backup-repo-path", &path)?,
            cipher_pass: required("--backup-cipher-pass", &c.backup_cipher_pass)?,
            retention_full: c.backup_retention_full.max(1),
            archive_timeout_secs: c.backup_archive_timeout_secs,
            wal_wait_secs: c.backup_wal_wait_secs.max(1),
            io_timeout_secs: c.backup_io_timeout_secs.max(1),
            job_retry: c.backup_job_retry,
            bin: find_pgbackrest()?,
        }))
    }

    /// `<data-dir>/pgbackrest`: the configuration, and pgBackRest's lock, log and spool folders.
    fn dir(data_dir: &Path) -> PathBuf {
        // Absolute: the archive command runs in the cluster's own directory.
        data_dir
            .canonicalize()
            .unwrap_or_else(|_| data_dir.to_path_buf())
            .join("pgbackrest")
    }

    fn conf(data_dir: &Path) -> PathBuf {
        Self::dir(data_dir).join("pgbackrest.conf")
    }

    /// Makes `<data-dir>/pgbackrest` and its folders, owned by the cluster's user.
    pub fn prepare(&self, data_dir: &Path) -> Result<(), BackupError> {
        let dir = Self::dir(data_dir);
        for sub in ["lock", "log", "spool"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        give_to_cluster_user(&dir)?;
        Ok(())
    }

    /// The cluster's settings for continuous archiving into this repository.
    pub fn archive_settings(&self, data_dir: &Path) -> Vec<(String, String)> {
        vec![
            ("wal_level".into(), "replica".into()),
            ("archive_mode".into(), "on".into()),
            (
                "archive_command".into(),
                format!(
                    "{} --config={} --stanza={STANZA} archive-push %p",
                    self.bin.display(),
                    Self::conf(data_dir).display()
                ),
            ),
            (
                "archive_timeout".into(),
                self.archive_timeout_secs.to_string(),
            ),
        ]
    }

    /// pgbackrest.conf for the cluster in `pg_data` (socket in `socket_dir`, on `port`).
    fn config_text(
        &self,
        data_dir: &Path,
        pg_data: &Path,
        socket_dir: &Path,
        port: Option<u16>,
    ) -> String {
        let dir = Self::dir(data_dir);
        let mut s = String::from(
            "# Written by pos-sync-server (backup.rs); rewritten at each start.\n[global]\n",
        );
        let mut kv = |k: &str, v: &str| {
            s.push_str(k);
            s.push('=');
            s.push_str(v);
            s.push('\n');
        };
        kv("repo1-type", "s3");
        kv("repo1-path", &self.path);
        kv("repo1-s3-endpoint", &self.host);
        kv("repo1-s3-bucket", &self.bucket);
        kv("repo1-s3-region", &self.region);
        kv("repo1-s3-key", &self.key);
        kv("repo1-s3-key-secret", &self.key_secret);
        kv(
            "repo1-s3-uri-style",
            match self.uri_style {
                UriStyle::Host => "host",
                UriStyle::Path => "path",
            },
        );
        if let Some(p) = self.port {
            kv("repo1-storage-port", &p.to_string());
        }
        if let Some(ca) = &self.ca_file {
            kv("repo1-storage-ca-file", &ca.to_string_lossy());
        }
        kv("repo1-cipher-type", "aes-256-cbc");
        kv("repo1-cipher-pass", &self.cipher_pass);
        kv("repo1-retention-full", &self.retention_full.to_string());
        kv("compress-type", "zst");
        kv("start-fast", "y");
        kv("process-max", "2");
        kv("io-timeout", &self.io_timeout_secs.to_string());
        kv("archive-timeout", &self.wal_wait_secs.to_string());
        kv("job-retry", &self.job_retry.to_string());
        kv("lock-path", &dir.join("lock").to_string_lossy());
        kv("log-path", &dir.join("log").to_string_lossy());
        kv("spool-path", &dir.join("spool").to_string_lossy());
        // Asynchronous archiving: `archive-push` hands each segment to one long-lived pgBackRest
        // process that ships the waiting segments in parallel (`process-max`) over one
        // connection, and answers PostgreSQL only once its segment is stored, so the guarantee
        // is the same as a synchronous push: a segment leaves `pg_wal` only once it is in the
        // repository. No `archive-push-queue-max`: when the repository is away the WAL waits in
        // `pg_wal` rather than being dropped, which would break point-in-time recovery. The
        // restore's `archive-get` prefetches the next segments the same way.
        kv("archive-async", "y");
        kv("log-level-console", "off");
        kv("log-level-stderr", "warn");
        kv("log-level-file", "info");
        s.push_str(&format!("\n[{STANZA}]\n"));
        s.push_str(&format!("pg1-path={}\n", pg_data.display()));
        s.push_str(&format!("pg1-socket-path={}\n", socket_dir.display()));
        s.push_str("pg1-user=postgres\n");
        if let Some(p) = port {
            s.push_str(&format!("pg1-port={p}\n"));
        }
        s
    }

    fn write_text(&self, data_dir: &Path, text: &str) -> Result<(), BackupError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let conf = Self::conf(data_dir);
        let tmp = conf.with_extension("conf.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        f.write_all(text.as_bytes()).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        give_to_cluster_user(&tmp)?;
        // Renamed into place: the archive command never reads half a file.
        std::fs::rename(&tmp, &conf).map_err(io_err(&conf))?;
        Ok(())
    }

    /// Writes pgbackrest.conf for the running cluster `c` (its port may change at each start).
    pub fn write_config(&self, data_dir: &Path, c: &LocalCluster) -> Result<(), BackupError> {
        self.prepare(data_dir)?;
        let text = self.config_text(data_dir, c.data_dir(), c.socket_dir(), Some(c.port()));
        self.write_text(data_dir, &text)
    }

    /// Runs `pgbackrest --config=… --stanza=pos <args>` as the cluster's user; its stdout.
    fn pgbackrest(&self, data_dir: &Path, args: &[&str]) -> Result<String, BackupError> {
        let conf = format!("--config={}", Self::conf(data_dir).display());
        let stanza = format!("--stanza={STANZA}");
        let mut all = vec![conf.as_str(), stanza.as_str()];
        all.extend_from_slice(args);
        let what = format!("pgbackrest {}", args.first().copied().unwrap_or_default());
        match run_as_cluster_user(&self.bin, &all, &Self::dir(data_dir)) {
            Ok(out) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
            Err(ClusterError::Command { stderr, .. }) => Err(BackupError::PgBackRest {
                what,
                message: stderr,
            }),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the stanza if it is missing. Asked only when `info` says so: `stanza-create`
    /// takes the archive lock, which the asynchronous archiver holds while it ships WAL, so a
    /// stanza that exists is left alone, and a lock found taken is waited for (up to
    /// `archive-timeout`), never reported as a failed backup.
    pub fn stanza_create(&self, data_dir: &Path) -> Result<(), BackupError> {
        if !stanza_missing(&self.info(data_dir)?) {
            return Ok(());
        }
        let deadline =
            std::time::Instant::now() + std::time::Duration::from_secs(self.wal_wait_secs);
        loop {
            match self.pgbackrest(data_dir, &["stanza-create"]) {
                Err(BackupError::PgBackRest { message, .. })
                    if message.contains("[050]") && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(250));
                }
                r => return r.map(|_| ()),
            }
        }
    }

    /// Takes a backup of the cluster configured in `data_dir` (its configuration written by
    /// [`Repo::write_config`]), then expires what the retention no longer keeps. Returns the
    /// new backup's label.
    pub fn backup(&self, data_dir: &Path, kind: Kind) -> Result<String, BackupError> {
        self.stanza_create(data_dir)?;
        let t = format!("--type={}", kind.as_str());
        self.pgbackrest(data_dir, &["backup", &t])?;
        let info = self.info(data_dir)?;
        latest_label(&info).ok_or(BackupError::NoBackup)
    }

    /// pgBackRest's `info` of the stanza, as JSON.
    pub fn info(&self, data_dir: &Path) -> Result<serde_json::Value, BackupError> {
        let out = self.pgbackrest(data_dir, &["info", "--output=json"])?;
        serde_json::from_str(&out).map_err(|e| BackupError::BadInfo(e.to_string()))
    }

    /// Restores into the fresh data directory `into` (its cluster in `into/pg/data`), to the
    /// end of the archive or to `target_time`; `bin_dir` holds the binaries that will run it.
    /// The server started with `--data-dir <into>` finishes the recovery.
    pub fn restore(
        &self,
        into: &Path,
        target_time: Option<&str>,
        bin_dir: &Path,
    ) -> Result<String, BackupError> {
        if let Some(t) = target_time {
            let ok = !t.is_empty()
                && t.len() <= 64
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || " :.+-".contains(c));
            if !ok || !t.starts_with(|c: char| c.is_ascii_digit()) {
                return Err(BackupError::BadTarget(t.to_string()));
            }
        }
        let root = into.join("pg");
        let data = root.join("data");
        if data.join("PG_VERSION").exists() {
            return Err(BackupError::NotFresh(into.to_path_buf()));
        }
        std::fs::create_dir_all(&data).map_err(io_err(&data))?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700))
                .map_err(io_err(&data))?;
        }
        let into = &into.canonicalize().map_err(io_err(into))?;
        let (root, data) = (into.join("pg"), into.join("pg").join("data"));
        self.prepare(into)?;
        let text = self.config_text(into, &data, &root, None);
        self.write_text(into, &text)?;
        give_to_cluster_user(&root)?;
        if crate::pg::running_as_root() {
            crate::app::allow_traverse(into).map_err(|e| BackupError::Io {
                path: into.to_path_buf(),
                source: std::io::Error::other(e.to_string()),
            })?;
        }
        // The repository's PostgreSQL version against the binaries', before anything is copied.
        let info = self.info(into)?;
        let backup = backup_version(&info).ok_or(BackupError::NoBackup)?;
        let binaries = binaries_major(bin_dir)?;
        if backup != binaries {
            return Err(BackupError::VersionMismatch {
                backup,
                binaries,
                bin_dir: bin_dir.to_path_buf(),
            });
        }
        let label = latest_label(&info).ok_or(BackupError::NoBackup)?;
        let mut args = vec!["restore".to_string()];
        if let Some(t) = target_time {
            args.push("--type=time".into());
            args.push(format!("--target={t}"));
            args.push("--target-action=promote".into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.pgbackrest(into, &args)?;
        Ok(label)
    }
}

/// Whether `info` says the stanza has not been created yet (pgBackRest's status 1, "missing
/// stanza path", or 3, "missing stanza data").
fn stanza_missing(info: &serde_json::Value) -> bool {
    info.as_array()
        .and_then(|stanzas| stanzas.iter().find(|s| s["name"] == STANZA))
        .is_none_or(|s| matches!(s["status"]["code"].as_i64(), Some(1) | Some(3)))
}

/// The label of the newest backup in an `info` answer.
pub fn latest_label(info: &serde_json::Value) -> Option<String> {
    info.get(0)?
        .get("backup")?
        .as_array()?
        .last()?
        .get("label")?
        .as_str()
        .map(str::to_string)
}

/// The PostgreSQL major version of the stanza's newest backup (`db[].version`).
pub fn backup_version(info: &serde_json::Value) -> Option<String> {
    let stanza = info.get(0)?;
    let backup = stanza.get("backup")?.as_array()?.last()?;
    let db_id = backup.get("database")?.get("id")?.as_i64()?;
    stanza
        .get("db")?
        .as_array()?
        .iter()
        .find(|d| d.get("id").and_then(|i| i.as_i64()) == Some(db_id))?
        .get("version")?
        .as_str()
        .map(|v| v.split('.').next().unwrap_or(v).to_string())
}

/// Runs the one-off command the flags ask for (`--backup`, `--backup-info`, `--restore-into`).
/// Returns whether there was one.
pub fn run_command(config: &Config) -> Result<bool, BackupError> {
    if config.backup.is_none() && !config.backup_info && config.restore_into.is_none() {
        return Ok(false);
    }
    if config.database_url.is_some() {
        return Err(BackupError::ExternalDatabase);
    }
    let repo = Repo::from_config(config)?.ok_or(BackupError::NotConfigured)?;
    if let Some(into) = &config.restore_into {
        let label = repo.restore(into, config.restore_target_time.as_deref(), &config.pg_bin)?;
        // The secrets that are not in Postgres, when this machine still has them.
        for name in ["master-key", "jwt-secret"] {
            let (from, to) = (config.data_dir.join(name), into.join(name));
            if from.exists() && !to.exists() {
                std::fs::copy(&from, &to).map_err(io_err(&to))?;
            }
        }
        tracing::info!(backup = %label, into = %into.display(), target = ?config.restore_target_time,
            "restored; start the server with --data-dir on it to finish the recovery");
        return Ok(true);
    }
    if config.backup_info {
        let info = repo.info(&config.data_dir)?;
        println!("{info}");
        return Ok(true);
    }
    let Some(kind) = config.backup else {
        return Ok(true);
    };
    std::fs::create_dir_all(&config.data_dir).map_err(io_err(&config.data_dir))?;
    if crate::pg::running_as_root() {
        crate::app::allow_traverse(&config.data_dir).map_err(|e| BackupError::Io {
            path: config.data_dir.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
    }
    repo.prepare(&config.data_dir)?;
    let opts = ClusterOptions {
        bin_dir: config.pg_bin.clone(),
        port: config.pg_port,
        settings: repo.archive_settings(&config.data_dir),
        ..ClusterOptions::default()
    };
    let cluster = LocalCluster::start(&config.data_dir.join("pg"), &opts)?;
    repo.write_config(&config.data_dir, &cluster)?;
    let result = repo.backup(&config.data_dir, kind);
    if cluster.adopted() {
        cluster.leave_running();
    } else {
        drop(cluster);
    }
    let label = result?;
    tracing::info!(backup = %label, kind = kind.as_str(), "backup taken");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> Repo {
        let c = <Config as clap::Parser>::parse_from([
            "pos-sync-server",
            "--backup-s3-endpoint",
            "s3.example.net:9000",
            "--backup-s3-key",
            "AKIDEXAMPLE",
            "--backup-s3-key-secret",
            "the-secret-key",
            "--backup-cipher-pass",
            "the-cipher-pass",
            "--backup-retention-full",
            "3",
        ]);
        Repo {
            bin: PathBuf::from("/usr/bin/pgbackrest"),
            ..Repo::from_config(&c)
                .unwrap_or_else(|e| match e {
                    // Where pgbackrest is not installed, the rest of the configuration still parses.
                    BackupError::NoPgBackRest => panic!("install pgbackrest"),
                    other => panic!("{other}"),
                })
                .unwrap()
        }
    }

    #[test]
    fn the_configuration_encrypts_keeps_full_backups_and_hides_secrets_from_debug() {
        if find_pgbackrest().is_err() {
            eprintln!("SKIPPED: pgbackrest is not installed");
            return;
        }
        let r = repo();
        let text = r.config_text(
            Path::new("/srv/pos"),
            Path::new("/srv/pos/pg/data"),
            Path::new("/srv/pos/pg"),
            Some(5433),
        );
        for line in [
            "repo1-cipher-type=aes-256-cbc",
            "repo1-cipher-pass=the-cipher-pass",
            "repo1-retention-full=3",
            "repo1-s3-endpoint=s3.example.net",
            "repo1-storage-port=9000",
            "repo1-s3-uri-style=host",
            "pg1-path=/srv/pos/pg/data",
            "pg1-port=5433",
            "archive-async=y",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        let debug = format!("{r:?}");
        assert!(!debug.contains("the-secret-key") && !debug.contains("the-cipher-pass"));
        let settings = r.archive_settings(Path::new("/srv/pos"));
        assert!(settings
            .iter()
            .any(|(k, v)| k == "archive_mode" && v == "on"));
        assert!(settings
            .iter()
            .any(|(k, v)| k == "archive_command" && v.ends_with("--stanza=pos archive-push %p")));
    }

    #[test]
    fn a_restore_target_that_is_not_a_time_is_refused_before_anything_is_written() {
        if find_pgbackrest().is_err() {
            eprintln!("SKIPPED: pgbackrest is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let into = dir.path().join("restored");
        for bad in [
            "yesterday",
            "2026-03-01' recovery_target_action='shutdown",
            "",
            "2026\n01",
        ] {
            let err = repo()
                .restore(&into, Some(bad), Path::new(crate::pg::DEFAULT_BIN_DIR))
                .unwrap_err();
            assert!(matches!(err, BackupError::BadTarget(_)), "{bad:?}: {err}");
        }
        assert!(!into.exists());
    }

    #[test]
    fn a_missing_passphrase_or_a_bad_endpoint_is_refused_by_name() {
        let parse = |extra: &[&str]| {
            let mut args = vec![
                "pos-sync-server",
                "--backup-s3-key",
                "k",
                "--backup-s3-key-secret",
                "s",
            ];
            args.extend_from_slice(extra);
            Repo::from_config(&<Config as clap::Parser>::parse_from(args))
        };
        assert!(matches!(parse(&[]), Ok(None)));
        assert!(matches!(
            parse(&["--backup-s3-endpoint", "s3.example.net"]),
            Err(BackupError::Missing("--backup-cipher-pass")) | Err(BackupError::NoPgBackRest)
        ));
        assert!(matches!(
            parse(&[
                "--backup-s3-endpoint",
                "s3.example.net:http",
                "--backup-cipher-pass",
                "p"
            ]),
            Err(BackupError::BadEndpoint(_))
        ));
        assert!(matches!(
            parse(&[
                "--backup-s3-endpoint",
                "https://s3.example.net",
                "--backup-cipher-pass",
                "p"
            ]),
            Err(BackupError::BadEndpoint(_))
        ));
    }
}
