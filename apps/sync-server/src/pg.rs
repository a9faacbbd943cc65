//! A local PostgreSQL cluster managed by the server, and the test harness built on it.
//!
//! When no `DATABASE_URL` is given, the server runs its own cluster in `<data-dir>/pg` with the
//! machine's PostgreSQL binaries: `initdb -A trust -U postgres` once, then `pg_ctl start` on
//! 127.0.0.1 and a free (or configured) port, and `pg_ctl stop` on shutdown. `initdb` refuses
//! to run as root, so as root every binary runs through `runuser -u postgres --` and the cluster
//! directory belongs to `postgres`.
//!
//! [`testing`] uses the same code for tests: one throwaway cluster per test binary in a
//! temporary directory, one database per test (copied from a migrated template), removed at
//! process exit.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use thiserror::Error;

/// Where Debian puts PostgreSQL 15.
pub const DEFAULT_BIN_DIR: &str = "/usr/lib/postgresql/15/bin";

#[derive(Debug, Error)]
pub enum ClusterError {
    #[error("postgres binaries not found in {0} (install postgresql-15 or pass --pg-bin)")]
    NoBinaries(PathBuf),
    #[error("cannot prepare {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} failed ({status}): {stderr}")]
    Command {
        what: String,
        status: String,
        stderr: String,
    },
    #[error("no free port on 127.0.0.1: {0}")]
    NoPort(std::io::Error),
    #[error("{0} is not reachable by the postgres user; choose a data directory outside private folders (e.g. /var/lib or /srv)")]
    NotReachable(PathBuf),
    #[error("bad postmaster.pid in {0}")]
    BadPidFile(PathBuf),
    #[error("the cluster in {data} is PostgreSQL {cluster}, but the binaries in {bin_dir} are PostgreSQL {binaries}: start it with PostgreSQL {cluster}'s binaries (--pg-bin), or upgrade it with pg_upgrade first")]
    VersionMismatch {
        data: PathBuf,
        cluster: String,
        binaries: String,
        bin_dir: PathBuf,
    },
    #[error("cannot read the PostgreSQL version of {0}")]
    UnknownVersion(PathBuf),
    #[error("a setting value may not contain a single quote or a newline: {0}")]
    BadSetting(String),
    #[error("recovery of {data} did not finish: {log}")]
    Recovery { data: PathBuf, log: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ClusterError + '_ {
    move |source| ClusterError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether this process runs as root (and so must run PostgreSQL as `postgres`).
pub fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller retries on a race).
pub fn free_port() -> Result<u16, ClusterError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(ClusterError::NoPort)?;
    let port = l.local_addr().map_err(ClusterError::NoPort)?.port();
    Ok(port)
}

/// Options for a cluster.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    pub bin_dir: PathBuf,
    /// `None`: a free port.
    pub port: Option<u16>,
    /// Turn off fsync and friends (tests only: a crash may lose the cluster).
    pub ephemeral: bool,
    /// More server settings (`-c name=value` at every start), e.g. WAL archiving.
    pub settings: Vec<(String, String)>,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            bin_dir: PathBuf::from(DEFAULT_BIN_DIR),
            port: None,
            ephemeral: false,
            settings: Vec::new(),
        }
    }
}

/// The major version of the PostgreSQL binaries in `bin_dir` (`postgres --version`), e.g. `15`.
pub fn binaries_major(bin_dir: &Path) -> Result<String, ClusterError> {
    let path = bin_dir.join("postgres");
    let out = Command::new(&path)
        .arg("--version")
        .output()
        .map_err(io_err(&path))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "postgres (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)"
    text.split_whitespace()
        .nth(2)
        .and_then(|v| v.split('.').next())
        .filter(|m| !m.is_empty() && m.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_string)
        .ok_or(ClusterError::UnknownVersion(path))
}

/// A running cluster that this process started (or found running in its directory). Dropping it
/// stops it.
#[derive(Debug)]
pub struct LocalCluster {
    root: PathBuf,
    data: PathBuf,
    bin_dir: PathBuf,
    port: u16,
    as_postgres: bool,
    running: bool,
    adopted: bool,
}

impl LocalCluster {
    /// Initialises (once) and starts a cluster in `root` (`root/data` holds the cluster; the
    /// Unix socket and the log live in `root`).
    pub fn start(root: &Path, opts: &ClusterOptions) -> Result<LocalCluster, ClusterError> {
        let mut c = LocalCluster::prepare(root, opts)?;
        if !c.data.join("PG_VERSION").exists() {
            let data = c.data.to_string_lossy().into_owned();
            let mut args = vec!["-D", &data, "-A", "trust", "-U", "postgres", "-E", "UTF8"];
            args.extend(["--locale=C"]);
            if opts.ephemeral {
                args.push("--no-sync");
            }
            c.run_pg("initdb", &args)?;
        }
        c.check_version()?;
        if let Some(port) = c.running_port()? {
            // Left running by an earlier process (a crash): adopt it.
            c.port = port;
            c.running = true;
            c.adopted = true;
            return Ok(c);
        }
        // A restored cluster (`backup::restore`) replays the archive first, read-only: wait
        // until it has reached its target and been promoted before anyone writes.
        let recovering = c.data.join("recovery.signal").exists();
        c.launch(opts)?;
        if recovering {
            c.wait_for_promotion()?;
        }
        Ok(c)
    }

    /// Whether this process found the cluster already running (and did not start it).
    pub fn adopted(&self) -> bool {
        self.adopted
    }

    /// Forgets the cluster without stopping it (a one-off command run next to a serving server).
    pub fn leave_running(mut self) {
        self.running = false;
    }

    /// The cluster's data directory (`root/data`).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The folder of its Unix socket (`root`).
    pub fn socket_dir(&self) -> &Path {
        &self.root
    }

    /// Whether the binaries run as `postgres` (this process is root).
    pub fn as_postgres(&self) -> bool {
        self.as_postgres
    }

    /// Refuses a data directory of another major version than the binaries, by name, before
    /// PostgreSQL refuses it in its log.
    fn check_version(&self) -> Result<(), ClusterError> {
        let file = self.data.join("PG_VERSION");
        let Ok(cluster) = std::fs::read_to_string(&file) else {
            return Ok(());
        };
        let binaries = binaries_major(&self.bin_dir)?;
        let cluster = cluster.trim().to_string();
        if cluster != binaries {
            return Err(ClusterError::VersionMismatch {
                data: self.data.clone(),
                cluster,
                binaries,
                bin_dir: self.bin_dir.clone(),
            });
        }
        Ok(())
    }

    /// Waits until recovery has ended (`recovery.signal` removed at promotion), or fails with
    /// the end of the log if the postmaster stopped (a target not reached, a missing segment).
    fn wait_for_promotion(&mut self) -> Result<(), ClusterError> {
        let signal = self.data.join("recovery.signal");
        let data = self.data.to_string_lossy().into_owned();
        loop {
            if !signal.exists() {
                return Ok(());
            }
            if self.run_pg("pg_ctl", &["-D", &data, "status"]).is_err() {
                self.running = false;
                let log =
                    std::fs::read_to_string(self.root.join("postgres.log")).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(8).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                return Err(ClusterError::Recovery {
                    data: self.data.clone(),
                    log: tail.join(" | "),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Starts a streaming standby of `primary` in `root`: a base backup taken with
    /// `pg_basebackup -R` (it writes `standby.signal` and the primary's address), then started
    /// like any cluster. Read-only; it replays the primary's WAL as it comes. For the report
    /// replica's tests and for trying `--replica-database-url` on one machine.
    pub fn start_standby(
        primary: &LocalCluster,
        root: &Path,
        opts: &ClusterOptions,
    ) -> Result<LocalCluster, ClusterError> {
        let mut c = LocalCluster::prepare(root, opts)?;
        if !c.data.join("PG_VERSION").exists() {
            let data = c.data.to_string_lossy().into_owned();
            let port = primary.port.to_string();
            let mut args = vec![
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-D",
                &data,
                "-R",
                "-X",
                "stream",
            ];
            if opts.ephemeral {
                args.push("--no-sync");
            }
            c.run_pg("pg_basebackup", &args)?;
        }
        c.launch(opts)?;
        Ok(c)
    }

    /// The folder, owned by `postgres` when running as root, not yet started.
    fn prepare(root: &Path, opts: &ClusterOptions) -> Result<LocalCluster, ClusterError> {
        if !opts.bin_dir.join("pg_ctl").exists() {
            return Err(ClusterError::NoBinaries(opts.bin_dir.clone()));
        }
        std::fs::create_dir_all(root).map_err(io_err(root))?;
        let root = root.canonicalize().map_err(io_err(root))?;
        let as_postgres = running_as_root();
        let c = LocalCluster {
            data: root.join("data"),
            root,
            bin_dir: opts.bin_dir.clone(),
            port: 0,
            as_postgres,
            running: false,
            adopted: false,
        };
        if as_postgres {
            c.run_plain(
                "chown",
                &["-R", "postgres:postgres", &c.root.to_string_lossy()],
            )?;
            // Every folder above must be traversable by postgres.
            let probe = Command::new("runuser")
                .args(["-u", "postgres", "--", "test", "-w"])
                .arg(&c.root)
                .output()
                .map_err(io_err(&c.root))?;
            if !probe.status.success() {
                return Err(ClusterError::NotReachable(c.root.clone()));
            }
        }
        Ok(c)
    }

    /// `pg_ctl start` on the configured port, or on a free one (five tries on a race).
    fn launch(&mut self, opts: &ClusterOptions) -> Result<(), ClusterError> {
        let c = self;
        let mut last = None;
        for _ in 0..5 {
            let port = match opts.port {
                Some(p) => p,
                None => free_port()?,
            };
            let mut o = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1",
                c.root.display()
            );
            if opts.ephemeral {
                o.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
            }
            // pg_ctl runs postgres through /bin/sh: each value is one single-quoted word.
            for (name, value) in &opts.settings {
                if value.contains(['\'', '\n'])
                    || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    return Err(ClusterError::BadSetting(name.clone()));
                }
                o.push_str(&format!(" -c {name}='{value}'"));
            }
            // A restored cluster may replay a while before it accepts connections.
            let wait = if c.data.join("recovery.signal").exists() {
                "3600"
            } else {
                "60"
            };
            let data = c.data.to_string_lossy().into_owned();
            let log = c.root.join("postgres.log").to_string_lossy().into_owned();
            match c.run_pg(
                "pg_ctl",
                &["-D", &data, "-l", &log, "-w", "-t", wait, "-o", &o, "start"],
            ) {
                Ok(_) => {
                    c.port = port;
                    c.running = true;
                    return Ok(());
                }
                Err(e) => {
                    if opts.port.is_some() {
                        return Err(e);
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or(ClusterError::BadPidFile(c.data.clone())))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The connection URL of a database of this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Stops the cluster (fast shutdown: open sessions are ended, data is safe).
    pub fn stop(&mut self) -> Result<(), ClusterError> {
        if !self.running {
            return Ok(());
        }
        self.running = false;
        let data = self.data.to_string_lossy().into_owned();
        self.run_pg("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"])
            .map(|_| ())
    }

    /// The port of a postmaster already running on this data directory, if any.
    fn running_port(&self) -> Result<Option<u16>, ClusterError> {
        let pid_file = self.data.join("postmaster.pid");
        if !pid_file.exists() {
            return Ok(None);
        }
        let data = self.data.to_string_lossy().into_owned();
        if self.run_pg("pg_ctl", &["-D", &data, "status"]).is_err() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&pid_file).map_err(io_err(&pid_file))?;
        // Line 4 of postmaster.pid is the port.
        text.lines()
            .nth(3)
            .and_then(|l| l.trim().parse().ok())
            .map(Some)
            .ok_or(ClusterError::BadPidFile(pid_file))
    }

    fn run_pg(&self, bin: &str, args: &[&str]) -> Result<Output, ClusterError> {
        let path = self.bin_dir.join(bin);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        cmd.args(args).current_dir(&self.root);
        finish(bin, cmd.output().map_err(io_err(&path))?)
    }

    fn run_plain(&self, bin: &str, args: &[&str]) -> Result<Output, ClusterError> {
        let out = Command::new(bin)
            .args(args)
            .output()
            .map_err(io_err(Path::new(bin)))?;
        finish(bin, out)
    }
}

/// Runs a program as the user clusters run as (`postgres` when this process is root), in `cwd`.
pub fn run_as_cluster_user(
    program: &Path,
    args: &[&str],
    cwd: &Path,
) -> Result<Output, ClusterError> {
    let mut cmd = if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args).current_dir(cwd);
    let what = program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    finish(&what, cmd.output().map_err(io_err(program))?)
}

/// Gives `path` (recursively) to `postgres` when this process is root; otherwise nothing.
pub fn give_to_cluster_user(path: &Path) -> Result<(), ClusterError> {
    if !running_as_root() {
        return Ok(());
    }
    let out = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .output()
        .map_err(io_err(path))?;
    finish("chown", out).map(|_| ())
}

fn finish(what: &str, out: Output) -> Result<Output, ClusterError> {
    if out.status.success() {
        Ok(out)
    } else {
        let mut stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if stderr.trim().is_empty() {
            stderr = String::from_utf8_lossy(&out.stdout).into_owned();
        }
        Err(ClusterError::Command {
            what: what.to_string(),
            status: out.status.to_string(),
            stderr: stderr.trim().to_string(),
        })
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, "stopping the local postgres cluster failed");
        }
    }
}

/// The test harness: a fresh database per test, on the server `DATABASE_URL` names if it is set
/// (databases this process created are dropped when it exits), otherwise on a throwaway cluster
/// per test binary (`initdb` in a temporary folder, a free port).
pub mod testing {
    use std::sync::{Mutex, OnceLock};
    use std::time::{Duration, Instant};

    use sqlx_core::connection::Connection;
    use sqlx_core::executor::Executor;
    use sqlx_core::sql_str::AssertSqlSafe;
    use sqlx_postgres::{PgConnection, PgPool, PgPoolOptions};

    use super::{ClusterError, ClusterOptions, LocalCluster};

    struct Shared {
        cluster: Option<(LocalCluster, tempfile::TempDir)>,
        /// The server's admin URL and the databases this process created on it.
        admin: String,
        created: Vec<String>,
    }

    static SHARED: Mutex<Option<Shared>> = Mutex::new(None);
    /// The admin URL and this process's template database.
    static STARTED: OnceLock<Result<(String, String), String>> = OnceLock::new();

    /// `url` with its database replaced by `name` (query parameters kept).
    pub fn with_database(url: &str, name: &str) -> String {
        let (base, query) = match url.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (url, None),
        };
        let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
        let authority = rest.split_once('/').map_or(rest, |(a, _)| a);
        let mut out = format!("{scheme}://{authority}/{name}");
        if let Some(q) = query {
            out.push('?');
            out.push_str(q);
        }
        out
    }

    extern "C" fn stop_at_exit() {
        let taken = match SHARED.lock() {
            Ok(mut g) => g.take(),
            Err(p) => p.into_inner().take(),
        };
        let Some(s) = taken else { return };
        match s.cluster {
            Some((mut cluster, dir)) => {
                let _ = cluster.stop();
                drop(cluster);
                let _ = dir.close();
            }
            None => {
                // Someone else's server: drop what this process created there.
                let (admin, created) = (s.admin, s.created);
                let _ = std::thread::spawn(move || {
                    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    else {
                        return;
                    };
                    rt.block_on(async move {
                        if let Ok(mut c) = PgConnection::connect(&admin).await {
                            for db in created.iter().rev() {
                                let _ = c
                                    .execute(AssertSqlSafe(format!(
                                        "DROP DATABASE IF EXISTS {db} WITH (FORCE)"
                                    )))
                                    .await;
                            }
                            let _ = c.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }

    fn remember(name: &str) {
        if let Ok(mut g) = SHARED.lock() {
            if let Some(s) = g.as_mut() {
                s.created.push(name.to_string());
            }
        }
    }

    fn start() -> Result<(String, String), String> {
        let (admin_url, cluster) = match std::env::var("DATABASE_URL") {
            Ok(url) if !url.trim().is_empty() => (with_database(url.trim(), "postgres"), None),
            _ => {
                let dir = tempfile::Builder::new()
                    .prefix("pos-test-pg-")
                    .tempdir()
                    .map_err(|e| format!("temp dir: {e}"))?;
                let cluster = LocalCluster::start(
                    dir.path(),
                    &ClusterOptions {
                        ephemeral: true,
                        ..ClusterOptions::default()
                    },
                )
                .map_err(|e| e.to_string())?;
                (cluster.url("postgres"), Some((cluster, dir)))
            }
        };
        // One template per process: test binaries sharing a server do not collide.
        let template = format!("pos_template_{}", uuid::Uuid::new_v4().simple());
        let template_url = with_database(&admin_url, &template);
        if let Ok(mut g) = SHARED.lock() {
            *g = Some(Shared {
                cluster,
                admin: admin_url.clone(),
                created: Vec::new(),
            });
        }
        // SAFETY: registering a plain extern "C" function with atexit has no preconditions.
        unsafe {
            libc::atexit(stop_at_exit);
        }
        // Migrate a template once, on a runtime of its own (each test has its own runtime).
        let admin = admin_url.clone();
        let name = template.clone();
        std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let mut c = PgConnection::connect(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                c.execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .await
                    .map_err(|e| e.to_string())?;
                remember(&name);
                c.close().await.map_err(|e| e.to_string())?;
                let pool = PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&template_url)
                    .await
                    .map_err(|e| e.to_string())?;
                crate::db::migrate(&pool).await.map_err(|e| e.to_string())?;
                crate::reproject::run(&pool)
                    .await
                    .map_err(|e| e.to_string())?;
                pool.close().await;
                Ok(())
            })
        })
        .join()
        .map_err(|_| "template migration panicked".to_string())??;
        Ok((admin_url, template))
    }

    /// A database of its own for one test.
    pub struct TestDb {
        pub url: String,
        pub pool: PgPool,
    }

    /// Starts the shared cluster if needed and creates a fresh, migrated database.
    pub async fn test_db() -> Result<TestDb, ClusterError> {
        create(true).await
    }

    /// Starts the shared cluster if needed and creates an empty database (no migration), for
    /// a test that loads an earlier release's schema and data and upgrades it.
    pub async fn empty_db() -> Result<TestDb, ClusterError> {
        create(false).await
    }

    /// Runs a SQL script of many statements (a `pg_dump --inserts` file) on the database at
    /// `url`, as one simple-protocol batch on a connection of its own (a dump changes its
    /// session's settings): an earlier release's schema and data, for an upgrade test.
    pub async fn run_script(url: &str, sql: &str) -> Result<(), sqlx_core::Error> {
        let mut c = PgConnection::connect(url).await?;
        c.execute(sqlx_core::raw_sql::raw_sql(AssertSqlSafe(sql.to_string())))
            .await?;
        c.close().await
    }

    /// One bigint from SQL on `pool` (a count, a sum, a fingerprint), for tests that compare
    /// a database before and after something.
    pub async fn scalar(pool: &PgPool, sql: &str) -> Result<i64, sqlx_core::Error> {
        let (n,): (i64,) = sqlx_core::query_as::query_as(AssertSqlSafe(sql.to_string()))
            .fetch_one(pool)
            .await?;
        Ok(n)
    }

    async fn create(migrated: bool) -> Result<TestDb, ClusterError> {
        let (admin, template) =
            STARTED
                .get_or_init(start)
                .clone()
                .map_err(|e| ClusterError::Command {
                    what: "test cluster".into(),
                    status: "failed".into(),
                    stderr: e,
                })?;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let cmd_err = |e: sqlx_core::Error| ClusterError::Command {
            what: "create test database".into(),
            status: "failed".into(),
            stderr: e.to_string(),
        };
        let template = if migrated {
            template
        } else {
            "template0".to_string()
        };
        let mut c = PgConnection::connect(&admin).await.map_err(cmd_err)?;
        // Copies of one template may collide ("being accessed by other users"): retry briefly.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match c
                .execute(AssertSqlSafe(format!(
                    "CREATE DATABASE {name} TEMPLATE {template}"
                )))
                .await
            {
                Ok(_) => {
                    remember(&name);
                    break;
                }
                Err(e) if Instant::now() < deadline && e.to_string().contains("other users") => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(cmd_err(e)),
            }
        }
        let _ = c.close().await;
        let url = with_database(&admin, &name);
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await
            .map_err(cmd_err)?;
        Ok(TestDb { url, pool })
    }
}

#[cfg(test)]
mod tests {
    use super::testing::with_database;

    #[test]
    fn a_database_url_gets_another_database_and_keeps_its_parameters() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5432/app?sslmode=disable", "t_1"),
            "postgres://u:p@127.0.0.1:5432/t_1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgresql://127.0.0.1:5432", "postgres"),
            "postgresql://127.0.0.1:5432/postgres"
        );
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:6000/postgres", "t_2"),
            "postgres://postgres@127.0.0.1:6000/t_2"
        );
    }
}
