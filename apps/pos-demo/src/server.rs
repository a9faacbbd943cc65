//! The sync server, in this process, with its own PostgreSQL cluster in the data folder.

use std::path::Path;

use anyhow::{Context, Result};
use clap::Parser;

pub const ADMIN_EMAIL: &str = "admin@platform.demo";
pub const ADMIN_PASSWORD: &str = "demo platform password";

pub struct Server {
    pub url: String,
    rt: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

/// Stops a cluster a crashed earlier run left behind, so its folder can be removed.
pub fn stop_leftover_cluster(dir: &Path) {
    let pg = dir.join("pg");
    if pg.join("data").join("postmaster.pid").exists() {
        let opts = pos_sync_server::pg::ClusterOptions {
            bin_dir: pos_sync_server::pg::DEFAULT_BIN_DIR.into(),
            ..pos_sync_server::pg::ClusterOptions::default()
        };
        if let Ok(mut c) = pos_sync_server::pg::LocalCluster::start(&pg, &opts) {
            let _ = c.stop();
        }
    }
}

pub fn start(dir: &Path) -> Result<Server> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let config = pos_sync_server::Config::parse_from([
        "pos-sync-server",
        "--data-dir",
        &dir.display().to_string(),
        "--bootstrap-admin-email",
        ADMIN_EMAIL,
        "--bootstrap-admin-password",
        ADMIN_PASSWORD,
        // Head office without compulsory TOTP: the demo is a local one (README).
        "--admin-2fa",
        "optional",
        "--shutdown-grace-secs",
        "5",
    ]);
    let app = rt
        .block_on(pos_sync_server::app::prepare(&config))
        .context(
            "starting the sync server (PostgreSQL 15 must be installed: ./scripts/ensure-deps.sh)",
        )?;
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let done = rt.spawn(async move {
        let _ = pos_sync_server::app::serve(&config, app, listener, async {
            let _ = rx.await;
        })
        .await;
    });
    Ok(Server {
        url,
        rt,
        stop: Some(tx),
        done: Some(done),
    })
}

impl Server {
    /// Blocks until Ctrl-C (or SIGTERM's default, which ends the process).
    pub fn wait_for_ctrl_c(&self) {
        let _ = self.rt.block_on(tokio::signal::ctrl_c());
    }
}

impl Drop for Server {
    /// Stops serving and the PostgreSQL cluster.
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(d) = self.done.take() {
            let _ = self.rt.block_on(d);
        }
    }
}
