//! The store mesh on the desktop app: an enrolled device with a key joins its store's LAN
//! (`pos_sync::node`, `pos_sync::discovery`), so that tickets, tabs and sales keep moving
//! between the store's devices when the cloud is away.
//!
//! No rule here: links, checks and merges are `pos_sync`'s. Where it listens and how it finds
//! peers come from the environment, read once at start:
//! - `POS_MESH_LISTEN`: the address to listen on (default `0.0.0.0:47420`; when that port is
//!   taken, another instance on this machine has it, and an ephemeral port is used: discovery
//!   announces it);
//! - `POS_MESH_PEERS`: peer addresses for networks that block multicast, comma-separated;
//! - `POS_MESH_DISCOVERY`: `lan` (default), `loopback` (instances on one machine, tests) or
//!   `off`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pos_core::store::Store;
use pos_sync::discovery::{Discovery, Interfaces};
use pos_sync::http::DeviceCredential;
use pos_sync::node::{MeshNode, NodeConfig};
use pos_sync::peer::kept_peers;

use crate::state::lock_store;

/// The default port of the store mesh.
pub const DEFAULT_PORT: u16 = 47420;

/// A device's membership of its store's mesh while the app runs.
pub struct StoreMesh {
    pub node: MeshNode,
    _discovery: Option<Discovery>,
}

impl StoreMesh {
    /// Devices of the store linked with in the last round.
    pub fn linked(&self) -> usize {
        self.node.status().linked.len()
    }

    /// Takes the peer list the last staff refresh kept.
    pub fn refresh_peers(&self, store: &Mutex<Store>) {
        if let Ok(peers) = kept_peers(&lock_store(store)) {
            self.node.set_peers(&peers);
        }
    }
}

fn env_listen() -> SocketAddr {
    std::env::var("POS_MESH_LISTEN")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)))
}

fn env_peers() -> Vec<SocketAddr> {
    std::env::var("POS_MESH_PEERS")
        .unwrap_or_default()
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn env_discovery() -> Option<Interfaces> {
    match std::env::var("POS_MESH_DISCOVERY").as_deref() {
        Ok("off") => None,
        Ok("loopback") => Some(Interfaces::Loopback),
        _ => Some(Interfaces::Lan),
    }
}

/// Joins the store's mesh, or `None` when this device cannot (a credential of an earlier
/// release has no key) or the network refuses (logged; the device sells on alone).
pub fn start(
    store: Arc<Mutex<Store>>,
    cred: &DeviceCredential,
    on_applied: impl Fn() + Send + Sync + 'static,
) -> Option<StoreMesh> {
    let key = cred.signing_key()?;
    let (peers, identity) = {
        let s = lock_store(&store);
        (kept_peers(&s).unwrap_or_default(), s.identity().clone())
    };
    let mut config = NodeConfig {
        listen: env_listen(),
        peers: env_peers(),
        round: Duration::from_secs(2),
    };
    let on_applied = Arc::new(on_applied);
    let started = {
        let f = on_applied.clone();
        MeshNode::start(store.clone(), key, &peers, config.clone(), move || f())
    };
    let node = match started {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, listen = %config.listen, "store mesh: trying an ephemeral port");
            config.listen.set_port(0);
            let key = cred.signing_key()?;
            let f = on_applied.clone();
            match MeshNode::start(store, key, &peers, config, move || f()) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "store mesh: not joined");
                    return None;
                }
            }
        }
    };
    let discovery = env_discovery().and_then(|interfaces| {
        let sink = node.address_sink();
        Discovery::start(
            identity.store_id,
            identity.device_id,
            node.local_addr().port(),
            interfaces,
            move |_, addr| sink(addr),
        )
        .map_err(|e| tracing::warn!(error = %e, "store mesh: no discovery"))
        .ok()
    });
    Some(StoreMesh {
        node,
        _discovery: discovery,
    })
}
