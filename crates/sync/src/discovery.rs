//! Finding the store's devices on the LAN: DNS-SD over multicast DNS (`mdns-sd`), service
//! `_pos-store._tcp`, one instance per device, with TXT records `store` (the store's id) and
//! `device` (the device's id). Neither is secret: what admits a peer is its key on the link
//! ([`crate::mesh`]), never what it announces; an announcement only says where to try.
//! Networks that block multicast use the static peer list instead (Settings).

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};
use uuid::Uuid;

/// The DNS-SD service type of the store mesh.
pub const SERVICE_TYPE: &str = "_pos-store._tcp.local.";

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("multicast DNS failed: {0}")]
    Mdns(#[from] mdns_sd::Error),
    #[error("the discovery thread could not start: {0}")]
    Thread(#[from] std::io::Error),
}

/// Which interfaces to announce and listen on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interfaces {
    /// Every interface but loopback (a store's LAN).
    Lan,
    /// Loopback only (devices on one machine, and tests).
    Loopback,
}

/// Announces this device and reports the store's other devices as they appear. Dropping it
/// withdraws the announcement and stops listening.
pub struct Discovery {
    daemon: ServiceDaemon,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Discovery {
    /// Announces `device` of `store` listening on `port`, and calls `found` with the address
    /// of every other device of the same store that announces itself (possibly more than once).
    pub fn start(
        store: Uuid,
        device: Uuid,
        port: u16,
        interfaces: Interfaces,
        found: impl Fn(Uuid, SocketAddr) + Send + 'static,
    ) -> Result<Discovery, DiscoveryError> {
        let daemon = ServiceDaemon::new()?;
        let host = format!("{device}.local.");
        let props = [("store", store.to_string()), ("device", device.to_string())];
        let info = match interfaces {
            Interfaces::Lan => {
                daemon.disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])?;
                ServiceInfo::new(
                    SERVICE_TYPE,
                    &device.to_string(),
                    &host,
                    "",
                    port,
                    &props[..],
                )?
                .enable_addr_auto()
            }
            Interfaces::Loopback => {
                daemon.disable_interface(IfKind::All)?;
                daemon.enable_interface(IfKind::LoopbackV4)?;
                ServiceInfo::new(
                    SERVICE_TYPE,
                    &device.to_string(),
                    &host,
                    IpAddr::from([127, 0, 0, 1]),
                    port,
                    &props[..],
                )?
            }
        };
        daemon.register(info)?;
        let events = daemon.browse(SERVICE_TYPE)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let own_store = store.to_string();
        let thread = std::thread::Builder::new()
            .name("pos-mesh-discovery".into())
            .spawn(move || {
                while !stopping.load(Ordering::Relaxed) {
                    let Ok(event) = events.recv_timeout(Duration::from_millis(250)) else {
                        continue;
                    };
                    let ServiceEvent::ServiceResolved(s) = event else {
                        continue;
                    };
                    if s.get_property_val_str("store") != Some(own_store.as_str()) {
                        continue;
                    }
                    let Some(peer) = s
                        .get_property_val_str("device")
                        .and_then(|d| d.parse::<Uuid>().ok())
                    else {
                        continue;
                    };
                    if peer == device {
                        continue;
                    }
                    for ip in s.get_addresses() {
                        found(peer, SocketAddr::new(ip.to_ip_addr(), s.get_port()));
                    }
                }
            })?;
        Ok(Discovery {
            daemon,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.daemon.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
