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
use pos_sync::lease::LeaseError;
use pos_sync::node::{MeshNode, MoneyHold, NodeConfig};
use pos_sync::peer::kept_peers;
use pos_sync::wire::PeerRecord;
use uuid::Uuid;

use crate::error::{CmdResult, CommandError};
use crate::state::{lock_store, Inner};

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
    static_peers: &[String],
    on_applied: impl Fn() + Send + Sync + 'static,
) -> Option<StoreMesh> {
    let key = cred.signing_key()?;
    let (peers, identity) = {
        let s = lock_store(&store);
        (kept_peers(&s).unwrap_or_default(), s.identity().clone())
    };
    let mut addresses = env_peers();
    addresses.extend(static_peers.iter().filter_map(|p| parse_peer(p).ok()));
    let mut config = NodeConfig {
        listen: env_listen(),
        peers: addresses,
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

/// A sale's lease for a payment or refund on this device (`pos_sync::lease`), released when
/// dropped, off the screen's thread (a remote release carries the payment to the sale's owner).
pub struct MoneyGuard {
    mesh: Arc<StoreMesh>,
    hold: Option<MoneyHold>,
}

impl Drop for MoneyGuard {
    fn drop(&mut self) {
        if let Some(hold) = self.hold.take() {
            let mesh = self.mesh.clone();
            std::thread::spawn(move || mesh.node.release(hold));
        }
    }
}

/// Before paying or refunding `sale`: the lease of the device that created it, when this device
/// is in a store mesh (`None` otherwise: a standalone or keyless device works as before). While
/// the cloud is reachable only the sale's own device takes one. Refused with where to take the
/// payment when the owner cannot be reached, or another device is spending the sale.
pub fn hold_for_money(inner: &Inner, sale: Uuid) -> CmdResult<Option<MoneyGuard>> {
    let Some(link) = &inner.sync else {
        return Ok(None);
    };
    let Some(mesh) = &link.mesh else {
        return Ok(None);
    };
    let (owner, peers) = {
        let s = inner.store()?;
        let envelope = match s.envelope(sale) {
            Ok(e) => e,
            // Unknown here: the payment itself says so.
            Err(pos_core::store::StoreError::UnknownDocument(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        (
            envelope.created_by_device,
            kept_peers(&s).unwrap_or_default(),
        )
    };
    let online = link.runner.status().online;
    match mesh.node.hold_for_money(sale, owner, online) {
        Ok(hold) => Ok(Some(MoneyGuard {
            mesh: mesh.clone(),
            hold: Some(hold),
        })),
        Err(e) => Err(CommandError::Conflict(explain(&e, &peers))),
    }
}

/// A cashier's sentence for a refused lease, naming devices as the store knows them.
fn explain(e: &LeaseError, peers: &[PeerRecord]) -> String {
    let name = |id: &Uuid| {
        peers
            .iter()
            .find(|p| p.device_id == *id)
            .map(|p| format!("“{}”", p.name))
            .unwrap_or_else(|| "another device of the store".to_string())
    };
    match e {
        LeaseError::OwnerUnreachable { owner } => format!(
            "This sale was started on {}, which cannot be reached while the cloud is offline. \
             Take the payment or refund on that device, or when the cloud is back.",
            name(owner)
        ),
        LeaseError::Held { by } => format!(
            "This sale is being paid or refunded on {} right now. Finish there first, or try \
             again in a minute.",
            name(by)
        ),
        LeaseError::Refused(why) => {
            format!("The device this sale was started on refused: {why}. Try again in a minute.")
        }
    }
}

/// A static peer address as typed in Settings: an IP address, with a port or without (the
/// mesh's default port).
pub fn parse_peer(text: &str) -> Result<SocketAddr, CommandError> {
    let t = text.trim();
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let Ok(ip) = t.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, DEFAULT_PORT));
    }
    Err(CommandError::invalid(format!(
        "“{t}” is not a device address. Type an IP address such as 192.168.1.21, or with its port: 192.168.1.21:{DEFAULT_PORT}."
    )))
}

/// A device of the store, as Settings shows it.
#[derive(Debug, Clone, serde::Serialize, specta::Type)]
pub struct MeshDeviceView {
    pub device_id: String,
    pub name: String,
    /// `till` or `kitchen`.
    pub kind: String,
    /// Linked with in the last round.
    pub linked: bool,
}

/// The store mesh, as Settings shows it.
#[derive(Debug, Clone, serde::Serialize, specta::Type)]
pub struct MeshView {
    /// Whether this device is in its store's mesh (enrolled with a key, and listening).
    pub joined: bool,
    /// Where it listens for the store's devices.
    pub listen: Option<String>,
    /// The addresses typed in Settings.
    pub static_peers: Vec<String>,
    /// The store's other devices the server lists.
    pub devices: Vec<MeshDeviceView>,
}

/// What Settings shows about the store mesh.
pub fn view(inner: &Inner) -> CmdResult<MeshView> {
    let mesh = inner.sync.as_ref().and_then(|l| l.mesh.as_ref());
    let peers = match &inner.store {
        Some(store) => kept_peers(&lock_store(store)).unwrap_or_default(),
        None => Vec::new(),
    };
    let linked = mesh.map(|m| m.node.status().linked).unwrap_or_default();
    Ok(MeshView {
        joined: mesh.is_some(),
        listen: mesh.map(|m| m.node.local_addr().to_string()),
        static_peers: inner.config.mesh_peers.clone(),
        devices: peers
            .iter()
            .map(|p| MeshDeviceView {
                device_id: p.device_id.to_string(),
                name: p.name.clone(),
                kind: p.kind.as_str().to_string(),
                linked: linked.contains(&p.device_id),
            })
            .collect(),
    })
}

/// Replaces the static addresses: checked, kept in the device's config, and handed to the
/// running node (the removed ones are no longer linked to).
pub fn save_static_peers(inner: &mut Inner, typed: &[String]) -> CmdResult<MeshView> {
    let mut new = Vec::new();
    for t in typed.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        parse_peer(t)?;
        if !new.iter().any(|n: &String| n == t) {
            new.push(t.to_string());
        }
    }
    let old = std::mem::replace(&mut inner.config.mesh_peers, new.clone());
    let dir = inner.data_dir.clone();
    if let Err(e) = inner.config.save(&dir) {
        inner.config.mesh_peers = old;
        return Err(e);
    }
    if let Some(mesh) = inner.sync.as_ref().and_then(|l| l.mesh.as_ref()) {
        for a in old.iter().filter(|a| !new.contains(a)) {
            if let Ok(addr) = parse_peer(a) {
                mesh.node.remove_address(addr);
            }
        }
        for a in &new {
            if let Ok(addr) = parse_peer(a) {
                mesh.node.add_address(addr);
            }
        }
    }
    view(inner)
}
