//! Starting and stopping the server: data directory, JWT secret, database (given or the
//! managed local cluster), migrations, the LISTEN task, and serving with a graceful shutdown
//! that drains in-flight requests (pushes) before the cluster stops.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::RngCore;
use sqlx_postgres::{PgListener, PgPool};
use thiserror::Error;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use crate::config::{Config, Settings};
use crate::jwt::JwtKeys;
use crate::pg::{ClusterError, ClusterOptions, LocalCluster};
use crate::state::{AppState, Notice};

#[derive(Debug, Error)]
pub enum StartError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("jwt secret: {0}")]
    Secret(String),
    #[error("local postgres: {0}")]
    Cluster(#[from] ClusterError),
    #[error("database: {0}")]
    Database(#[from] sqlx_core::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx_core::migrate::MigrateError),
    #[error("bootstrap admin: {0}")]
    Bootstrap(String),
    #[error("outgoing mail or webhooks: {0}")]
    Mail(String),
    #[error("rebuilding projections: {0}")]
    Reproject(String),
    #[error("listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Serve(std::io::Error),
    #[error("backup: {0}")]
    Backup(#[from] crate::backup::BackupError),
}

/// Reads the JWT secret: given, or generated once into `<data-dir>/jwt-secret`.
pub fn jwt_secret(config: &Config) -> Result<Vec<u8>, StartError> {
    if let Some(s) = &config.jwt_secret {
        return Ok(s.as_bytes().to_vec());
    }
    let secret = read_or_create_secret(
        &config.data_dir.join("jwt-secret"),
        || {
            let mut b = [0u8; 48];
            rand::thread_rng().fill_bytes(&mut b);
            hex::encode(b)
        },
        "generated a new JWT secret",
    )?;
    Ok(secret.into_bytes())
}

/// The sealer of secrets at rest: `--master-key` (and `--previous-master-key`), or a key
/// generated once into `<data-dir>/master-key` (mode 0600).
pub fn master_sealer(config: &Config) -> Result<crate::crypto::Sealer, StartError> {
    let bad = |e: crate::crypto::CryptoError| StartError::Secret(format!("master key: {e}"));
    let current = match &config.master_key {
        Some(k) => k.clone(),
        None => read_or_create_secret(
            &config.data_dir.join("master-key"),
            crate::crypto::Sealer::new_key_hex,
            "generated a new master key",
        )?,
    };
    crate::crypto::Sealer::from_hex(&current, &config.previous_master_key).map_err(bad)
}

/// Reads a secret kept in a file, or writes a new one there (mode 0600, never replacing one).
fn read_or_create_secret(
    path: &std::path::Path,
    new: impl FnOnce() -> String,
    created: &str,
) -> Result<String, StartError> {
    let io = |source| StartError::DataDir {
        path: path.to_path_buf(),
        source,
    };
    match std::fs::read_to_string(path) {
        Ok(s) => return Ok(s.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let secret = new();
    match create_secret_file(path, &secret, |f, bytes| {
        use std::io::Write;
        f.write_all(bytes)
    }) {
        Ok(()) => {
            tracing::info!(path = %path.display(), "{created}");
            Ok(secret)
        }
        // Another instance sharing the data directory wrote it first: theirs is the secret.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(path)
                .map_err(io)?
                .trim()
                .to_string())
        }
        Err(e) => Err(io(e)),
    }
}

/// Writes a new secret file whole or not at all: into a temporary file of its own (mode 0600),
/// synced, then linked to `path`, which fails if `path` exists (a secret is never replaced).
/// A `kill -9` in the middle leaves at most a stray temporary file, never a short `path`.
/// (Before, the file was created empty and then written: a server killed in between, during its
/// first start, found an empty JWT secret or master key at every later start and refused to
/// start, for ever.) `write` writes the bytes; tests make it fail half-way.
fn create_secret_file(
    path: &Path,
    secret: &str,
    write: impl FnOnce(&mut std::fs::File, &[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        write(&mut f, secret.as_bytes())?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    written?;
    // The new name is durable too.
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Creates the platform superadmin (in its own "platform" tenant) if none exists yet.
pub async fn bootstrap_admin(
    pool: &PgPool,
    keys: &crate::keys::Keyring,
    email: &str,
    password: &str,
) -> Result<(), StartError> {
    let exists: bool = sqlx_core::query_scalar::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM users WHERE is_superadmin)",
    )
    .fetch_one(pool)
    .await?;
    if exists {
        return Ok(());
    }
    if !(8..=256).contains(&password.chars().count()) {
        return Err(StartError::Bootstrap(
            "password must be 8 to 256 characters".into(),
        ));
    }
    let pw = password.to_string();
    let hash = tokio::task::spawn_blocking(move || pos_core::secret::hash_secret(&pw))
        .await
        .map_err(|e| StartError::Bootstrap(e.to_string()))?
        .map_err(|e| StartError::Bootstrap(e.to_string()))?;
    let mut tx = pool.begin().await?;
    let (tenant, user) = (Uuid::now_v7(), Uuid::now_v7());
    crate::admin::create_tenant_rows(
        &mut tx,
        (pool, keys),
        tenant,
        "Platform",
        user,
        &email.trim().to_lowercase(),
        "Platform admin",
        &hash,
        true,
    )
    .await
    .map_err(|e| StartError::Bootstrap(e.to_string()))?;
    tx.commit().await?;
    tracing::info!(%tenant, %user, "created the platform superadmin");
    Ok(())
}

/// Forwards NOTIFYs on the changes channel to the live sockets of this instance. Reconnects
/// after a lost connection.
pub fn spawn_listener(
    pool: PgPool,
    tx: broadcast::Sender<Notice>,
    mut stop: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        loop {
            let mut listener = match PgListener::connect_with(&pool).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "LISTEN connection failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = stop.changed() => return,
                    }
                }
            };
            if let Err(e) = listener.listen(crate::db::CHANNEL).await {
                tracing::warn!(error = %e, "LISTEN failed; retrying");
                continue;
            }
            loop {
                tokio::select! {
                    n = listener.recv() => match n {
                        Ok(n) => {
                            if let Some(notice) = Notice::parse(n.payload()) {
                                let _ = tx.send(notice);
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "LISTEN connection lost; reconnecting");
                            break;
                        }
                    },
                    _ = stop.changed() => return,
                }
            }
        }
    });
}

/// A ready app: its state and the means to stop what it started.
pub struct App {
    pub state: AppState,
    pub shutdown: watch::Sender<bool>,
    pub cluster: Option<LocalCluster>,
}

/// Connects (or starts the local cluster), migrates and builds the state.
pub async fn prepare(config: &Config) -> Result<App, StartError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let secret = jwt_secret(config)?;
    let jwt = JwtKeys::new(&secret).map_err(|e| StartError::Secret(e.to_string()))?;
    let (url, cluster) = match &config.database_url {
        Some(u) => (u.clone(), None),
        None => {
            if crate::pg::running_as_root() {
                // The cluster runs as `postgres`, which must be able to enter the data folder.
                allow_traverse(&config.data_dir)?;
            }
            let root = config.data_dir.join("pg");
            let mut opts = ClusterOptions {
                bin_dir: config.pg_bin.clone(),
                port: config.pg_port,
                ..ClusterOptions::default()
            };
            // Continuous archiving to the backup repository, when one is configured.
            let backup = crate::backup::Repo::from_config(config)?;
            if let Some(repo) = &backup {
                repo.prepare(&config.data_dir)?;
                opts.settings = repo.archive_settings(&config.data_dir);
            }
            let c = tokio::task::spawn_blocking(move || LocalCluster::start(&root, &opts))
                .await
                .map_err(|e| StartError::Bootstrap(e.to_string()))??;
            tracing::info!(port = c.port(), "local postgres cluster running");
            if let Some(repo) = &backup {
                repo.write_config(&config.data_dir, &c)?;
                tracing::info!(
                    stanza = crate::backup::STANZA,
                    "WAL archived continuously to the backup repository"
                );
            }
            let url = c.url("postgres");
            (url, Some(c))
        }
    };
    let pool = crate::db::connect(&url, config.db_max_connections).await?;
    if cluster.is_some() {
        // A restored cluster leaves recovery a moment after its signal file goes: writes wait
        // until it has.
        while sqlx_core::query_scalar::query_scalar::<_, bool>("SELECT pg_is_in_recovery()")
            .fetch_one(&pool)
            .await?
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    crate::db::migrate(&pool).await?;
    crate::db::audit_partitions(&pool, 2).await?;
    crate::reproject::run(&pool)
        .await
        .map_err(|e| StartError::Reproject(e.to_string()))?;
    let (shutdown, rx) = watch::channel(false);
    let replica = match &config.replica_database_url {
        Some(u) => Some(crate::db::connect(u, config.replica_max_connections).await?),
        None => None,
    };
    let settings = Settings {
        sealer: master_sealer(config)?,
        ..Settings::from(config)
    };
    let state = AppState::with_replica(pool, replica, jwt, settings, rx);
    // Personal data written before it was sealed (migration 0013) is sealed now.
    let sealed = crate::keys::seal_clear_rows(&state.pool, &state.keys)
        .await
        .map_err(|e| StartError::Secret(format!("sealing personal data: {e}")))?;
    if sealed > 0 {
        tracing::info!(
            rows = sealed,
            "sealed personal data written in clear before"
        );
    }
    if let (Some(e), Some(p)) = (
        &config.bootstrap_admin_email,
        &config.bootstrap_admin_password,
    ) {
        bootstrap_admin(&state.pool, &state.keys, e, p).await?;
    }
    Ok(App {
        state,
        shutdown,
        cluster,
    })
}

/// Serves until `stop` resolves, then drains in-flight requests (up to the grace period),
/// closes live sockets, the pool, and the local cluster.
pub async fn serve(
    config: &Config,
    app: App,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    crate::metrics::handle();
    let App {
        state,
        shutdown,
        mut cluster,
    } = app;
    spawn_listener(
        state.pool.clone(),
        state.live.clone(),
        state.shutdown.clone(),
    );
    // The audit trail's month partitions: this month and the next two, checked every 6 hours.
    {
        let pool = state.pool.clone();
        tokio::spawn(async move {
            loop {
                if let Err(e) = crate::db::audit_partitions(&pool, 2).await {
                    tracing::warn!(error = %e, "making the audit trail's month partitions failed");
                }
                tokio::time::sleep(Duration::from_secs(6 * 3600)).await;
            }
        });
    }
    if config.daily_summary_every_secs > 0 {
        crate::daily::spawn(
            state.clone(),
            Duration::from_secs(config.daily_summary_every_secs),
        );
    }
    if let Some(smtp) = crate::smtp::SmtpConfig::from_config(config) {
        let sender = crate::smtp::Sender::new(state.pool.clone(), smtp)
            .map_err(|e| StartError::Mail(e.to_string()))?;
        std::sync::Arc::new(sender).spawn(state.shutdown.clone());
    }
    {
        let worker = crate::webhooks::Worker::new(
            state.pool.clone(),
            state.settings.sealer.clone(),
            crate::webhooks::WebhookConfig::from_config(config),
        )
        .map_err(|e| StartError::Mail(format!("webhooks: {e}")))?;
        std::sync::Arc::new(worker).spawn(state.live.subscribe(), state.shutdown.clone());
    }
    let router = crate::routes::router(state.clone());
    let pool = state.pool.clone();
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let notify = shutdown.clone();
    tokio::spawn(async move {
        stop.await;
        tracing::info!("shutting down: draining in-flight requests");
        let _ = notify.send(true);
    });
    let server = crate::listen::serve(
        listener,
        router,
        crate::listen::Limits::from(config),
        shutdown.subscribe(),
    );
    let mut done = shutdown.subscribe();
    let serving = tokio::spawn(async move { server.await });
    let result = tokio::select! {
        r = serving => r.map_err(|e| StartError::Serve(std::io::Error::other(e)))?.map_err(StartError::Serve),
        _ = async {
            let _ = done.wait_for(|v| *v).await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!("grace period over; stopping with requests still in flight");
            Ok(())
        }
    };
    pool.close().await;
    if let Some(c) = cluster.as_mut() {
        let _ = tokio::task::block_in_place(|| c.stop());
    }
    result
}

/// Runs the server with `config` until Ctrl-C or SIGTERM.
pub async fn run(config: Config) -> Result<(), StartError> {
    // `--backup`, `--backup-info`, `--restore-into`: a one-off command, then exit.
    if config.backup.is_some() || config.backup_info || config.restore_into.is_some() {
        let c = config.clone();
        tokio::task::spawn_blocking(move || crate::backup::run_command(&c))
            .await
            .map_err(|e| StartError::Bootstrap(e.to_string()))??;
        return Ok(());
    }
    let app = prepare(&config).await?;
    if config.rotate_keys {
        let done = crate::keys::rotate(&app.state.pool, &app.state.keys, 500)
            .await
            .map_err(|e| StartError::Secret(format!("rotating keys: {e}")))?;
        tracing::info!(
            keys_rewrapped = done.keys_rewrapped,
            rows_resealed = done.rows_resealed,
            "keys rotated: the previous master key is no longer needed"
        );
        app.state.pool.close().await;
        if let Some(c) = app.cluster {
            let _ = tokio::task::spawn_blocking(move || drop(c)).await;
        }
        return Ok(());
    }
    let listener =
        listen(config.listen, config.listen_backlog).map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
    tracing::info!(addr = %config.listen, "listening");
    serve(&config, app, listener, shutdown_signal()).await
}

/// A listening socket with `backlog` places in the kernel's queue of connections not yet
/// accepted (tokio's `bind` gives 1,024). A burst of connects then waits there for the accept
/// loop instead of being dropped, which costs each dropped client a SYN sent again 1 s, then
/// 3 s later (issue 16: `benches/abuse.rs` saw 84 honest connects take 1–3 s, and the kernel
/// count 1,064 listen-queue overflows, when 500 hostile connections arrived at once).
fn listen(addr: std::net::SocketAddr, backlog: u32) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Adds search (x) permission for others to a folder, without making it readable.
pub(crate) fn allow_traverse(path: &Path) -> Result<(), StartError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| StartError::DataDir {
        path: path.to_path_buf(),
        source,
    };
    let mut perms = std::fs::metadata(path).map_err(io)?.permissions();
    if perms.mode() & 0o001 == 0 {
        perms.set_mode(perms.mode() | 0o001);
        std::fs::set_permissions(path, perms).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found while building the fault campaign (`tests/faults_e2e.rs`, a server killed during
    /// its first start): the secret file was created empty, then written, so a kill in between
    /// left an empty `jwt-secret` or `master-key` and the server refused every later start.
    #[test]
    fn a_server_killed_while_it_writes_its_first_secret_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master-key");
        // The process dies half-way through the write (here: the write fails there).
        let died = create_secret_file(&path, "00112233445566778899", |f, bytes| {
            use std::io::Write;
            f.write_all(&bytes[..bytes.len() / 2])?;
            Err(std::io::Error::other("killed"))
        });
        assert!(died.is_err());
        assert!(!path.exists(), "no short secret is left under its name");
        // The next start makes a whole one, and keeps it.
        let first =
            read_or_create_secret(&path, crate::crypto::Sealer::new_key_hex, "new").unwrap();
        assert_eq!(first.len(), 64, "{first}");
        assert!(crate::crypto::Sealer::from_hex(&first, &[]).is_ok());
        let again = read_or_create_secret(&path, || "other".into(), "new").unwrap();
        assert_eq!(again, first, "a secret is never replaced");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let strays: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != "master-key")
            .collect();
        assert!(strays.is_empty(), "{strays:?}");
    }

    #[test]
    fn a_secret_written_by_another_instance_first_is_the_one_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt-secret");
        create_secret_file(&path, "theirs", |f, b| {
            use std::io::Write;
            f.write_all(b)
        })
        .unwrap();
        let err = create_secret_file(&path, "mine", |f, b| {
            use std::io::Write;
            f.write_all(b)
        })
        .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "theirs");
    }
}
