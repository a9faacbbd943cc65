//! Backups proven by restoring (issue 14): the server's managed cluster archives its WAL to a
//! real S3 server on loopback (`s3s-fs` behind `stunnel4` for TLS, a certificate made here and
//! verified by pgBackRest), takes full and incremental backups through `--backup`, survives the
//! S3 server going away mid-backup, and is restored to a point in time into a fresh data
//! directory through `--restore-into`, where the real startup finds every change acknowledged
//! before that time, by digest, and none after; restored to the end of the archive, every
//! change ever acknowledged. Retention has its own test; the benchmark of backup and restore
//! (docs/benchmarks.md) lives here too, ignored unless asked for.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pos_sync_server::backup::{BackupError, Repo};
use pos_sync_server::pg::{ClusterError, ClusterOptions, LocalCluster};
use pos_sync_server::Config;
use sqlx_core::query_scalar::query_scalar;
use uuid::Uuid;

use crate::common::*;

/// A program on PATH or in cargo's bin folder.
fn find(program: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

pub struct Tools {
    pub s3s_fs: PathBuf,
    pub stunnel: PathBuf,
    pub openssl: PathBuf,
}

/// The tools these tests need, or `None` (with the reason printed) outside CI. In CI
/// (`CI=true`) a missing tool fails: `scripts/ensure-deps.sh` and `test.sh` install them.
pub fn tools() -> Option<Tools> {
    let s3s_fs = std::env::var_os("POS_S3S_FS")
        .map(PathBuf::from)
        .or_else(|| find("s3s-fs"));
    let found = (
        s3s_fs,
        find("stunnel4").or_else(|| find("stunnel")),
        find("openssl"),
        find("pgbackrest"),
    );
    match found {
        (Some(s3s_fs), Some(stunnel), Some(openssl), Some(_)) => Some(Tools {
            s3s_fs,
            stunnel,
            openssl,
        }),
        (a, b, c, d) => {
            let msg = format!(
                "backup tests need s3s-fs ({}), stunnel4 ({}), openssl ({}) and pgbackrest ({}): \
                 run scripts/ensure-deps.sh and `cargo install s3s-fs --locked --version 0.14.1 --features binary` (test.sh does)",
                a.is_some(),
                b.is_some(),
                c.is_some(),
                d.is_some()
            );
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
            eprintln!("SKIPPED: {msg}");
            None
        }
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn free_port() -> u16 {
    pos_sync_server::pg::free_port().expect("port")
}

/// An S3 server on loopback: s3s-fs on plain HTTP, stunnel4 in front of it with a self-signed
/// certificate for `localhost` (what pgBackRest connects to and verifies).
pub struct S3 {
    pub dir: tempfile::TempDir,
    pub port: u16,
    pub ca: PathBuf,
    s3s: Child,
    tls: Option<Child>,
    s3s_port: u16,
    /// Where stunnel forwards to, when not straight to s3s-fs (a [`FaultProxy`]).
    upstream: Option<u16>,
    stunnel: PathBuf,
}

pub const KEY: &str = "pos-test-key";
pub const KEY_SECRET: &str = "pos-test-secret-0123456789";
pub const CIPHER_PASS: &str = "pos-test-cipher-passphrase-0123456789";

impl S3 {
    pub fn start(tools: &Tools) -> S3 {
        let dir = tempfile::tempdir().expect("dir");
        // pgBackRest runs as postgres when the tests run as root: it must read the CA file.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let (key, cert) = (dir.path().join("key.pem"), dir.path().join("cert.pem"));
        let out = Command::new(&tools.openssl)
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=localhost"])
            .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl");
        assert!(out.status.success(), "{out:?}");
        std::fs::set_permissions(&cert, std::fs::Permissions::from_mode(0o644)).unwrap();
        let root = dir.path().join("s3");
        std::fs::create_dir_all(root.join("pos-backups")).unwrap();
        let s3s_port = free_port();
        let s3s = Command::new(&tools.s3s_fs)
            .args(["--host", "127.0.0.1", "--port", &s3s_port.to_string()])
            .args(["--access-key", KEY, "--secret-key", KEY_SECRET])
            .arg(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs");
        wait_for_port(s3s_port);
        let mut s3 = S3 {
            port: free_port(),
            ca: cert,
            s3s,
            tls: None,
            s3s_port,
            upstream: None,
            stunnel: tools.stunnel.clone(),
            dir,
        };
        s3.start_tls();
        s3
    }

    /// Starts stunnel (again) on the same port.
    pub fn start_tls(&mut self) {
        let conf = self.dir.path().join("stunnel.conf");
        std::fs::write(
            &conf,
            format!(
                "foreground = yes\npid =\nsyslog = no\ndebug = 3\n[s3]\naccept = 127.0.0.1:{}\nconnect = 127.0.0.1:{}\ncert = {}\nkey = {}\n",
                self.port,
                self.upstream.unwrap_or(self.s3s_port),
                self.ca.display(),
                self.dir.path().join("key.pem").display()
            ),
        )
        .unwrap();
        let child = Command::new(&self.stunnel)
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("stunnel");
        self.tls = Some(child);
        wait_for_port(self.port);
    }

    /// Puts a [`FaultProxy`] between stunnel and s3s-fs (stunnel restarts on the same port).
    pub fn through(&mut self, proxy: &FaultProxy) {
        self.stop_tls();
        self.upstream = Some(proxy.port);
        self.start_tls();
    }

    /// Stops stunnel: the repository is unreachable.
    pub fn stop_tls(&mut self) {
        if let Some(mut c) = self.tls.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Files s3s-fs holds under the repository's backup folder.
    pub fn backup_files(&self) -> usize {
        fn walk(p: &Path) -> usize {
            std::fs::read_dir(p)
                .map(|d| {
                    d.flatten()
                        .map(|e| {
                            let p = e.path();
                            if p.is_dir() {
                                walk(&p)
                            } else {
                                1
                            }
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(&self.dir.path().join("s3/pos-backups/pos/backup"))
    }

    /// Every file s3s-fs holds for the bucket.
    pub fn files(&self) -> Vec<PathBuf> {
        fn walk(p: &Path, out: &mut Vec<PathBuf>) {
            for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out)
                } else {
                    out.push(p)
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.dir.path().join("s3/pos-backups"), &mut out);
        assert!(!out.is_empty());
        out
    }

    /// Bytes s3s-fs holds in all.
    pub fn stored_bytes(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            std::fs::read_dir(p)
                .map(|d| {
                    d.flatten()
                        .map(|e| {
                            let p = e.path();
                            if p.is_dir() {
                                walk(&p)
                            } else {
                                e.metadata().map(|m| m.len()).unwrap_or(0)
                            }
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(&self.dir.path().join("s3/pos-backups"))
    }

    /// The server's flags for this repository.
    pub fn flags(&self) -> Vec<String> {
        self.flags_with_io_timeout(3)
    }

    /// The same, with pgBackRest's `io-timeout` (it retries a failed request for about four
    /// times that long).
    pub fn flags_with_io_timeout(&self, secs: u64) -> Vec<String> {
        [
            "--backup-s3-endpoint",
            &format!("localhost:{}", self.port),
            "--backup-s3-bucket",
            "pos-backups",
            "--backup-s3-key",
            KEY,
            "--backup-s3-key-secret",
            KEY_SECRET,
            "--backup-s3-ca-file",
            &self.ca.to_string_lossy(),
            "--backup-s3-uri-style",
            "path",
            "--backup-cipher-pass",
            CIPHER_PASS,
            "--backup-io-timeout-secs",
            &secs.to_string(),
        ]
        .map(String::from)
        .to_vec()
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        self.stop_tls();
        let _ = self.s3s.kill();
        let _ = self.s3s.wait();
    }
}

/// The server's configuration on `data_dir` with `extra` flags.
pub fn config(data_dir: &Path, extra: &[String]) -> Config {
    let mut args: Vec<String> = [
        "pos-sync-server",
        "--data-dir",
        &data_dir.to_string_lossy(),
        "--jwt-secret",
        "backup-test-secret-backup-test-secret-01",
        "--master-key",
        TEST_MASTER_KEY,
        "--bootstrap-admin-email",
        ROOT_EMAIL,
        "--bootstrap-admin-password",
        PASSWORD,
        "--admin-2fa",
        "optional",
    ]
    .map(String::from)
    .to_vec();
    args.extend_from_slice(extra);
    <Config as clap::Parser>::parse_from(args)
}

/// Runs a one-off command (`--backup`, `--restore-into`) as the binary does.
pub async fn command(c: Config) -> Result<bool, BackupError> {
    tokio::task::spawn_blocking(move || pos_sync_server::backup::run_command(&c))
        .await
        .expect("join")
}

async fn archived(pool: &sqlx_postgres::PgPool) {
    // The segment holding everything so far goes to the archive now; wait until it is there.
    let wal: String = query_scalar("SELECT pg_walfile_name(pg_switch_wal())")
        .fetch_one(pool)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let last: Option<String> = query_scalar("SELECT last_archived_wal FROM pg_stat_archiver")
            .fetch_one(pool)
            .await
            .unwrap();
        if last.as_deref().is_some_and(|l| l >= wal.as_str()) {
            return;
        }
        assert!(Instant::now() < deadline, "{wal} never archived ({last:?})");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn change_hashes(pool: &sqlx_postgres::PgPool, tenant: Uuid) -> Vec<String> {
    query_scalar("SELECT hash FROM change_log WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_all(pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_point_in_time_restore_finds_every_change_acknowledged_before_it_and_none_after() {
    let Some(tools) = tools() else { return };
    let started = Instant::now();
    let mut s3 = S3::start(&tools);
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("server");
    let flags = s3.flags();

    // The real startup: a managed cluster archiving its WAL to the repository.
    let app = pos_sync_server::app::prepare(&config(&data, &flags))
        .await
        .expect("prepare");
    let (app, cluster) = TestApp::prepared(app);
    let cluster = cluster.expect("managed cluster");
    let t = app.tenant("Acme").await;
    let item = publish_item(&app, &t, 250).await;
    let mut till = till(&app, &t).await;
    for _ in 0..5 {
        till.sell(&app, item, 1).await;
    }

    eprintln!("backup test: setup at {:?}", started.elapsed());
    // A full backup, more sales, an incremental one.
    let backup = |kind: &str| {
        let mut f = flags.clone();
        f.extend(["--backup".to_string(), kind.to_string()]);
        command(config(&data, &f))
    };
    assert!(backup("full").await.expect("full backup"));
    for _ in 0..5 {
        till.sell(&app, item, 2).await;
    }
    assert!(backup("incr").await.expect("incremental backup"));
    for _ in 0..5 {
        till.sell(&app, item, 3).await;
    }

    eprintln!("backup test: full+incr at {:?}", started.elapsed());
    // The point in time: everything acknowledged so far, and the digest of what the store's
    // devices replicate (the till's own digest agrees: it is in sync).
    let before: Vec<String> = till.acked.clone();
    let digest = pos_sync_server::docs::store_digest(&app.state.pool, t.tenant_id, t.store_id)
        .await
        .unwrap();
    assert_eq!(till.store.projection_digest().unwrap(), digest);
    let target: String = query_scalar(
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'",
    )
    .fetch_one(&app.state.pool)
    .await
    .unwrap();
    // Until the database's clock has passed the target: what follows commits after it.
    loop {
        let past: bool = query_scalar("SELECT clock_timestamp() > $1::timestamptz")
            .bind(&target)
            .fetch_one(&app.state.pool)
            .await
            .unwrap();
        if past {
            break;
        }
        tokio::task::yield_now().await;
    }
    for _ in 0..5 {
        till.sell(&app, item, 4).await;
    }
    let after: Vec<String> = till.acked[before.len()..].to_vec();
    assert!(!after.is_empty());

    eprintln!("backup test: pit at {:?}", started.elapsed());
    // Bad input: the repository goes away in the middle of a backup. Some bulk first, so that
    // the backup takes long enough to be cut.
    sqlx_core::query::query(
        "CREATE TABLE bulk AS SELECT g, md5(g::text) || md5((g * 7)::text) AS v
           FROM generate_series(1, 400000) g",
    )
    .execute(&app.state.pool)
    .await
    .unwrap();
    archived(&app.state.pool).await;
    let files = s3.backup_files();
    eprintln!("backup test: bulk at {:?}", started.elapsed());
    let mut quick = s3.flags_with_io_timeout(1);
    quick.extend(["--backup", "full", "--backup-job-retry", "0"].map(String::from));
    let cut = tokio::spawn(command(config(&data, &quick)));
    let deadline = Instant::now() + Duration::from_secs(30);
    while s3.backup_files() <= files + 2 {
        assert!(
            Instant::now() < deadline,
            "the backup never started writing"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    eprintln!("backup test: cut started at {:?}", started.elapsed());
    s3.stop_tls();
    let err = cut
        .await
        .unwrap()
        .expect_err("a backup without its repository fails");
    let msg = err.to_string();
    eprintln!("backup test: the cut backup's error: {msg}");
    assert!(
        matches!(err, BackupError::PgBackRest { .. }) && msg.contains("pgbackrest backup"),
        "{msg}"
    );
    assert!(
        !msg.contains(CIPHER_PASS) && !msg.contains(KEY_SECRET),
        "{msg}"
    );
    eprintln!("backup test: cut failed at {:?}", started.elapsed());
    // Sales go on meanwhile (their WAL waits in pg_wal), and once the repository is back the
    // next backup succeeds and the archive catches up.
    till.sell(&app, item, 5).await;
    s3.start_tls();
    assert!(backup("incr").await.expect("the next backup succeeds"));
    archived(&app.state.pool).await;

    eprintln!("backup test: next backup at {:?}", started.elapsed());
    // The repository is encrypted: no file in the bucket shows the tenant's id (its 16 bytes, in
    // every row of its tables), a manifest's or an info file's section header, or the bulk
    // table's values. (Regression: the tenant's name, 4 bytes, was once found by chance in
    // encrypted bytes; needles are long enough for chance to play no part.)
    let tenant_id = t.tenant_id.as_bytes().to_vec();
    for f in s3.files() {
        let bytes = std::fs::read(&f).unwrap();
        for needle in [
            &tenant_id[..],
            b"[backrest]",
            b"[backup:target]",
            b"c4ca4238a0b923820dcc509a6f75849b",
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{} holds {:?} in clear",
                f.display(),
                String::from_utf8_lossy(needle)
            );
        }
    }

    // Restore to the point in time into a fresh data directory, and start the server on it.
    let restored = dir.path().join("restored");
    let mut f = flags.clone();
    f.extend([
        "--restore-into".to_string(),
        restored.to_string_lossy().into_owned(),
        "--restore-target-time".to_string(),
        target.clone(),
    ]);
    assert!(command(config(&data, &f)).await.expect("restore"));
    // A second restore into the same directory is refused.
    assert!(matches!(
        command(config(&data, &f)).await,
        Err(BackupError::NotFresh(_))
    ));
    eprintln!("backup test: restore at {:?}", started.elapsed());
    let app2 = pos_sync_server::app::prepare(&config(&restored, &[]))
        .await
        .expect("the server starts on the restored cluster");
    let (app2, cluster2) = TestApp::prepared(app2);
    let hashes = change_hashes(&app2.state.pool, t.tenant_id).await;
    for h in &before {
        assert!(
            hashes.contains(h),
            "acknowledged before the target, lost: {h}"
        );
    }
    for h in &after {
        assert!(
            !hashes.contains(h),
            "written after the target, restored: {h}"
        );
    }
    assert_eq!(
        pos_sync_server::docs::store_digest(&app2.state.pool, t.tenant_id, t.store_id)
            .await
            .unwrap(),
        digest,
        "the restored master replicates what the till had at the target"
    );
    // And it serves: the owner logs in and the till's token still works.
    let owner = app2.token("owner@acme.test", PASSWORD).await;
    let r = app2.get("/v1/admin/stores", &owner).await;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{:?}", r.body);
    let r = app2.get("/v1/sync/pull?cursor=0", &till.device.token).await;
    assert_eq!(r.status, axum::http::StatusCode::OK, "{:?}", r.body);

    eprintln!(
        "backup test: restored server checked at {:?}",
        started.elapsed()
    );
    // Bad input: PostgreSQL of another major version.
    let fake = fake_binaries(dir.path(), "16.4");
    let repo = Repo::from_config(&config(&data, &flags)).unwrap().unwrap();
    let other = dir.path().join("other");
    let fake2 = fake.clone();
    let err = tokio::task::spawn_blocking(move || repo.restore(&other, None, &fake2))
        .await
        .unwrap()
        .expect_err("another major version");
    assert!(
        matches!(&err, BackupError::VersionMismatch { backup, binaries, .. } if backup == "15" && binaries == "16"),
        "{err}"
    );
    assert!(err.to_string().contains("PostgreSQL 15"), "{err}");
    drop(app2);
    drop(cluster2);

    // Nothing lost to the outage: restored to the end of the archive, the master holds every
    // change ever acknowledged, the sale made while the repository was away included.
    let latest = dir.path().join("latest");
    let mut f = flags.clone();
    f.extend([
        "--restore-into".to_string(),
        latest.to_string_lossy().into_owned(),
    ]);
    assert!(command(config(&data, &f))
        .await
        .expect("restore to the end"));
    let app3 = pos_sync_server::app::prepare(&config(&latest, &[]))
        .await
        .expect("the server starts on the latest restore");
    let (app3, cluster3) = TestApp::prepared(app3);
    let hashes = change_hashes(&app3.state.pool, t.tenant_id).await;
    for h in &till.acked {
        assert!(hashes.contains(h), "acknowledged, lost: {h}");
    }
    assert_eq!(
        pos_sync_server::docs::store_digest(&app3.state.pool, t.tenant_id, t.store_id)
            .await
            .unwrap(),
        till.store.projection_digest().unwrap(),
    );
    drop(app3);
    drop(cluster3);
    eprintln!(
        "backup test: latest restore checked at {:?}",
        started.elapsed()
    );

    let root = restored.join("pg");
    let err = tokio::task::spawn_blocking(move || {
        LocalCluster::start(
            &root,
            &ClusterOptions {
                bin_dir: fake,
                ..ClusterOptions::default()
            },
        )
        .map(|_| ())
    })
    .await
    .unwrap()
    .expect_err("a cluster of 15 with binaries of 16");
    assert!(
        matches!(&err, ClusterError::VersionMismatch { cluster, binaries, .. } if cluster == "15" && binaries == "16"),
        "{err}"
    );
    drop(cluster);
    eprintln!("backup test took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_newest_full_backups_and_expires_the_rest_with_their_wal() {
    let Some(tools) = tools() else { return };
    let s3 = S3::start(&tools);
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("server");
    let mut flags = s3.flags();
    flags.extend(["--backup-retention-full".to_string(), "2".to_string()]);
    let app = pos_sync_server::app::prepare(&config(&data, &flags))
        .await
        .expect("prepare");
    let (app, cluster) = TestApp::prepared(app);
    let repo = Repo::from_config(&config(&data, &flags)).unwrap().unwrap();
    let mut labels = Vec::new();
    for kind in ["full", "diff", "full", "incr", "full"] {
        // Something to back up and some WAL between backups.
        sqlx_core::query::query("SELECT pg_switch_wal()")
            .execute(&app.state.pool)
            .await
            .unwrap();
        let mut f = flags.clone();
        f.extend(["--backup".to_string(), kind.to_string()]);
        command(config(&data, &f)).await.expect(kind);
        labels.push(pos_sync_server::backup::latest_label(&repo.info(&data).unwrap()).unwrap());
    }
    let info = repo.info(&data).unwrap();
    let kept: Vec<(String, String)> = info[0]["backup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["label"].as_str().unwrap().to_string(),
                b["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // The first full and the differential that depends on it are gone; the last two full
    // backups and the incremental between them stay.
    assert_eq!(
        kept,
        vec![
            (labels[2].clone(), "full".to_string()),
            (labels[3].clone(), "incr".to_string()),
            (labels[4].clone(), "full".to_string()),
        ],
        "{info}"
    );
    assert!(labels[0].ends_with('F') && labels[1].contains("_") && labels[1].ends_with('D'));
    // The archive starts with the oldest kept backup's WAL.
    let kept_start = info[0]["backup"][0]["archive"]["start"].as_str().unwrap();
    let archive_min = info[0]["archive"][0]["min"].as_str().unwrap();
    assert_eq!(archive_min, kept_start, "{info}");
    assert_eq!(info[0]["cipher"], "aes-256-cbc");
    drop(app);
    drop(cluster);
}

/// A folder of "PostgreSQL binaries" that say they are `version`.
fn fake_binaries(dir: &Path, version: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join(format!("pg-{version}"));
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["postgres", "pg_ctl", "initdb"] {
        let p = bin.join(name);
        std::fs::write(
            &p,
            format!("#!/bin/sh\necho \"{name} (PostgreSQL) {version}\"\n"),
        )
        .unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

/// The repository's size of one backup (`info.repository.size`: compressed and encrypted).
fn repo_size(info: &serde_json::Value, label: &str) -> u64 {
    info[0]["backup"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["label"] == label)
        .and_then(|b| b["info"]["repository"]["size"].as_u64())
        .unwrap_or(0)
}

/// Backup and restore of a master holding many sales (docs/benchmarks.md): every sale a real
/// till's (open, one line, paid in cash), pushed through the real push path in batches.
/// `POS_BACKUP_BENCH_SALES` (default 2,000) sets how many.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark, minutes long: POS_BACKUP_BENCH_SALES=20000 cargo test -p pos-sync-server --test it backup::benchmark -- --ignored --nocapture"]
async fn benchmark() {
    let Some(tools) = tools() else { return };
    let sales: usize = std::env::var("POS_BACKUP_BENCH_SALES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let s3 = S3::start(&tools);
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("server");
    let flags = s3.flags();
    let app = pos_sync_server::app::prepare(&config(&data, &flags))
        .await
        .expect("prepare");
    let (app, cluster) = TestApp::prepared(app);
    let t = app.tenant("Bench").await;
    let item = publish_item(&app, &t, 250).await;
    let mut till = till(&app, &t).await;
    let backup = |kind: &str| {
        let mut f = flags.clone();
        f.extend(["--backup".to_string(), kind.to_string()]);
        let c = config(&data, &f);
        async move {
            let start = Instant::now();
            command(c).await.expect("backup");
            start.elapsed()
        }
    };
    let repo = Repo::from_config(&config(&data, &flags)).unwrap().unwrap();
    let info = |repo: &Repo| repo.info(&data).unwrap();
    backup("full").await;
    let empty = info(&repo);
    let empty_label = pos_sync_server::backup::latest_label(&empty).unwrap();
    let archive_before = s3.stored_bytes();

    let start = Instant::now();
    let eur = pos_core::money::Currency::from_code("EUR").unwrap();
    for i in 0..sales {
        let c = till.cashier;
        let sale = till.store.open_sale(&c, None).unwrap();
        till.store
            .add_item(&c, sale, item, 1 + (i % 3) as i64, &[], 1)
            .unwrap();
        let due = till
            .store
            .get::<pos_core::sale::Sale>(sale)
            .unwrap()
            .totals()
            .unwrap()
            .due;
        till.store
            .pay(
                &c,
                sale,
                pos_core::sale::Tender::Cash,
                pos_core::money::Money::new(due, eur),
                None,
            )
            .unwrap();
        if i % 100 == 99 {
            till.push(&app).await;
        }
        if i % 50_000 == 49_999 {
            eprintln!("{} sales after {:.0?}", i + 1, start.elapsed());
        }
    }
    till.push(&app).await;
    let made = start.elapsed();
    archived(&app.state.pool).await;
    let db_bytes: i64 = query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(&app.state.pool)
        .await
        .unwrap();
    let full = backup("full").await;
    let after = info(&repo);
    let label = pos_sync_server::backup::latest_label(&after).unwrap();
    let per_sale_backup =
        (repo_size(&after, &label) as f64 - repo_size(&empty, &empty_label) as f64) / sales as f64;
    // WAL archived for the sales (the full backup's own WAL included, a few KB).
    let wal = s3.stored_bytes() - archive_before - repo_size(&after, &label);
    for i in 0..sales / 10 {
        let c = till.cashier;
        let sale = till.store.open_sale(&c, None).unwrap();
        till.store.add_item(&c, sale, item, 1, &[], 1).unwrap();
        let due = till
            .store
            .get::<pos_core::sale::Sale>(sale)
            .unwrap()
            .totals()
            .unwrap()
            .due;
        till.store
            .pay(
                &c,
                sale,
                pos_core::sale::Tender::Cash,
                pos_core::money::Money::new(due, eur),
                None,
            )
            .unwrap();
        if i % 100 == 99 {
            till.push(&app).await;
        }
    }
    till.push(&app).await;
    let incr = backup("incr").await;
    archived(&app.state.pool).await;

    let restored = dir.path().join("restored");
    let mut f = flags.clone();
    f.extend([
        "--restore-into".to_string(),
        restored.to_string_lossy().into_owned(),
    ]);
    let start = Instant::now();
    command(config(&data, &f)).await.expect("restore");
    let copied = start.elapsed();
    let app2 = pos_sync_server::app::prepare(&config(&restored, &[]))
        .await
        .expect("restored server");
    let serving = start.elapsed();
    let n: i64 = query_scalar("SELECT count(*) FROM p_sales WHERE tenant_id = $1")
        .bind(t.tenant_id)
        .fetch_one(&app2.state.pool)
        .await
        .unwrap();
    assert_eq!(n as usize, sales + sales / 10);
    println!(
        "BENCH backup: {sales} sales made and pushed in {made:.1?}; database {:.1} MB; \
         full backup {full:.2?}, {:.0} bytes stored per sale (compressed, encrypted); \
         WAL archived {:.0} bytes per sale; incremental after {} more sales {incr:.2?}; \
         restore {copied:.2?} copied, serving after {serving:.2?}",
        db_bytes as f64 / 1e6,
        per_sale_backup,
        wal as f64 / sales as f64,
        sales / 10
    );
    drop(app2);
    drop(app);
    drop(cluster);
}

/// What the [`FaultProxy`] answers to writes (PUT, POST): pass them on, an S3 internal error,
/// or MinIO's "storage full" (HTTP 507).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Pass,
    Error,
    Full,
}

#[derive(Clone)]
struct ProxyState {
    upstream: u16,
    mode: std::sync::Arc<std::sync::Mutex<Fault>>,
    refused: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    client: reqwest::Client,
}

/// An HTTP proxy on loopback between stunnel and s3s-fs that answers writes with S3 errors while
/// told to: a repository that fails or is full in the middle of a backup. Reads always pass, and
/// requests go on unchanged (their Host header included: it is signed).
pub struct FaultProxy {
    pub port: u16,
    state: ProxyState,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    pub async fn start(s3: &S3) -> FaultProxy {
        // reqwest is built without a default crypto provider (the server installs ring's).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = ProxyState {
            upstream: s3.s3s_port,
            mode: std::sync::Arc::new(std::sync::Mutex::new(Fault::Pass)),
            refused: Default::default(),
            client: reqwest::Client::builder()
                .no_proxy()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        };
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FaultProxy { port, state, task }
    }

    pub fn set(&self, mode: Fault) {
        *self.state.mode.lock().unwrap() = mode;
    }

    /// Writes answered with an error so far.
    pub fn refused(&self) -> usize {
        self.state.refused.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn forward(
    axum::extract::State(st): axum::extract::State<ProxyState>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::http::{Method, StatusCode};
    use axum::response::IntoResponse;
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 256 << 20).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mode = *st.mode.lock().unwrap();
    if matches!(parts.method, Method::PUT | Method::POST) && mode != Fault::Pass {
        st.refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (status, code, message) = match mode {
            Fault::Full => (
                StatusCode::INSUFFICIENT_STORAGE,
                "XMinioStorageFull",
                "Storage backend has reached its minimum free drive threshold.",
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            ),
        };
        let xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        );
        return (status, [("content-type", "application/xml")], xml).into_response();
    }
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut out = st.client.request(
        parts.method.clone(),
        format!("http://127.0.0.1:{}{path}", st.upstream),
    );
    for (k, v) in &parts.headers {
        if k != "content-length" && k != "transfer-encoding" && k != "connection" {
            out = out.header(k, v);
        }
    }
    let Ok(resp) = out.body(bytes).send().await else {
        return StatusCode::BAD_GATEWAY.into_response();
    };
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap_or_default();
    let mut answer = axum::response::Response::new(axum::body::Body::from(body));
    *answer.status_mut() = status;
    for (k, v) in &headers {
        if k != "transfer-encoding" && k != "connection" {
            answer.headers_mut().insert(k, v.clone());
        }
    }
    answer
}

/// Issue 14's bad input: a repository that answers errors, then says it is full, in the middle
/// of backups. Each backup fails with pgBackRest's error (no secret in it) and leaves nothing a
/// later backup or restore would take for a backup; WAL waits in pg_wal meanwhile; once the
/// repository answers again the next backup succeeds and the archive catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_answering_errors_or_full_fails_backups_clearly_and_loses_nothing() {
    let Some(tools) = tools() else { return };
    let mut s3 = S3::start(&tools);
    let proxy = FaultProxy::start(&s3).await;
    s3.through(&proxy);
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("server");
    let mut flags = s3.flags();
    // A backup whose WAL cannot reach the repository fails after 5 s, not the default minute.
    flags.extend(["--backup-wal-wait-secs", "5"].map(String::from));
    let app = pos_sync_server::app::prepare(&config(&data, &flags))
        .await
        .expect("prepare");
    let (app, cluster) = TestApp::prepared(app);
    let repo = Repo::from_config(&config(&data, &flags)).unwrap().unwrap();
    let backup = |kind: &str| {
        let mut f = flags.clone();
        f.extend(["--backup", kind, "--backup-job-retry", "0"].map(String::from));
        command(config(&data, &f))
    };
    backup("full").await.expect("a first full backup");
    let t = app.tenant("Acme").await;
    let item = publish_item(&app, &t, 250).await;
    let mut till = till(&app, &t).await;
    for (fault, what) in [
        (Fault::Error, "internal errors"),
        (Fault::Full, "storage full"),
    ] {
        till.sell(&app, item, 1).await;
        // A full backup starts writing; then the repository starts failing under it.
        let files = s3.backup_files();
        let mut f = flags.clone();
        f.extend(["--backup", "full", "--backup-job-retry", "0"].map(String::from));
        let run = tokio::spawn(command(config(&data, &f)));
        let deadline = Instant::now() + Duration::from_secs(30);
        while s3.backup_files() <= files + 2 {
            assert!(
                Instant::now() < deadline,
                "the backup never started writing"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let before = proxy.refused();
        proxy.set(fault);
        let err = run
            .await
            .unwrap()
            .expect_err("a backup into a failing repository fails");
        let msg = err.to_string();
        eprintln!("backup with {what}: {msg}");
        assert!(
            matches!(err, BackupError::PgBackRest { .. }) && msg.contains("pgbackrest backup"),
            "{what}: {msg}"
        );
        assert!(
            !msg.contains(CIPHER_PASS) && !msg.contains(KEY_SECRET),
            "{msg}"
        );
        assert!(
            proxy.refused() > before,
            "{what}: the repository refused writes"
        );
        proxy.set(Fault::Pass);
    }
    // Back: the next backup succeeds, the WAL written meanwhile is archived, and the repository
    // lists the two good backups only.
    assert!(backup("incr").await.expect("the next backup succeeds"));
    archived(&app.state.pool).await;
    let info = repo.info(&data).unwrap();
    let kinds: Vec<&str> = info[0]["backup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["full", "incr"], "{info}");
    drop(app);
    drop(cluster);
}
