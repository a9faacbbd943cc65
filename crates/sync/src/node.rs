//! A device's place in the store mesh: a listener for its peers' links and a loop that links
//! to every known peer address in rounds, exchanging changes both ways
//! (ARCHITECTURE.md "Store mesh").
//!
//! One exchange per link: the side that connected sends what it has for the other
//! ([`peer::outgoing`]: its own outbox signed, then what it carries), then reads the other's;
//! the side that accepted reads first, then sends. Each side judges what it received with
//! [`peer::receive`] (the server's merge) and applies it in one transaction, so a peer killed
//! mid-transfer leaves nothing half-applied: a frame is whole or refused. What was delivered
//! to a peer is not sent to it again while this node runs.
//!
//! Threads and blocking sockets, like the rest of the device side. The store is locked for
//! each local step only, never across network I/O.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pos_core::store::Store;
use uuid::Uuid;

use crate::lease::{
    LeaseAnswer, LeaseError, LeaseOp, LeaseRefusal, LeaseRequest, Leases, LEASE_TTL,
};
use crate::merge::RelayAuthors;
use crate::mesh::{Link, MeshError, MeshTls, PeerSet};
use crate::peer::{self, authors_from, PeerError};
use crate::signing::DeviceKey;
use crate::wire::{PeerRecord, WireChange};

/// How long a cashier waits for a sale's owner to answer a lease call (each network step).
pub const LEASE_CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Most changes sent on one link in one exchange.
pub const EXCHANGE_LIMIT: usize = 2_000;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Mesh(#[from] MeshError),
    #[error(transparent)]
    Peer(#[from] PeerError),
    #[error("the peer sent a frame that is not a batch of changes: {0}")]
    BadFrame(String),
    #[error("the peer closed the link before its batch")]
    Closed,
}

/// What the mesh looks like from this device, for the status bar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeshStatus {
    /// Devices linked with in the last round (or that linked to this one since).
    pub linked: BTreeSet<Uuid>,
    /// Changes received from peers and applied, since start.
    pub applied: usize,
    /// Changes received from peers and refused, since start.
    pub refused: usize,
    /// Incoming links that failed (refused key, a frame cut or malformed), since start.
    pub failed_links: usize,
}

/// How a node runs.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Where to listen for peers' links (`0.0.0.0:PORT` on a store's LAN).
    pub listen: SocketAddr,
    /// Peer addresses known without discovery (Settings' static list).
    pub peers: Vec<SocketAddr>,
    /// Time between rounds when nothing asks for one sooner.
    pub round: Duration,
}

struct Shared {
    store: Arc<Mutex<Store>>,
    key: DeviceKey,
    tls: MeshTls,
    peer_set: Arc<PeerSet>,
    authors: RwLock<RelayAuthors>,
    addresses: Mutex<BTreeSet<SocketAddr>>,
    /// Hashes delivered to each peer device.
    delivered: Mutex<HashMap<Uuid, HashSet<String>>>,
    status: Mutex<MeshStatus>,
    stop: AtomicBool,
    on_applied: Box<dyn Fn() + Send + Sync>,
    /// This device's id.
    me: Uuid,
    /// The address each peer device answered on last (the owner of a sale is asked there).
    addr_of: Mutex<HashMap<Uuid, SocketAddr>>,
    /// The leases this device granted on the sales it owns (`lease`).
    leases: Mutex<Leases>,
    /// Changes received that waited for others not received yet (at most [`MAX_PARKED`]).
    parked: Mutex<Vec<WireChange>>,
}

/// Most received changes kept waiting for their dependencies; past it, the cloud brings them.
pub const MAX_PARKED: usize = 10_000;

/// What the side that connected opens a link with: an exchange of changes, or a lease request
/// to a sale's owner.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Opening {
    Exchange(Vec<WireChange>),
    Lease(LeaseRequest),
}

/// What [`MeshNode::hold_for_money`] holds until [`MeshNode::release`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "release it once the payment or refund is written"]
pub enum MoneyHold {
    /// No lease was needed (the cloud is reachable).
    None,
    /// This device owns the sale and holds its own lease.
    Own { sale: Uuid },
    /// A lease from the sale's owner.
    Remote {
        sale: Uuid,
        owner: Uuid,
        addr: SocketAddr,
    },
}

/// A running node. Dropping it stops its threads.
pub struct MeshNode {
    shared: Arc<Shared>,
    local: SocketAddr,
    nudge: Sender<()>,
    threads: Vec<JoinHandle<()>>,
}

impl MeshNode {
    /// Starts listening and linking. `peers` is the server's peer list (refresh it with
    /// [`MeshNode::set_peers`]); `on_applied` runs after a peer's changes were applied (the app
    /// refreshes its screens).
    pub fn start(
        store: Arc<Mutex<Store>>,
        key: DeviceKey,
        peers: &[PeerRecord],
        config: NodeConfig,
        on_applied: impl Fn() + Send + Sync + 'static,
    ) -> Result<MeshNode, NodeError> {
        let peer_set = PeerSet::new(peer_keys(peers));
        let tls = MeshTls::new(&key, peer_set.clone())?;
        let listener = TcpListener::bind(config.listen).map_err(MeshError::Io)?;
        let local = listener.local_addr().map_err(MeshError::Io)?;
        let me = store
            .lock()
            .map(|s| s.identity().device_id)
            .unwrap_or_else(|p| p.into_inner().identity().device_id);
        let shared = Arc::new(Shared {
            me,
            addr_of: Mutex::new(HashMap::new()),
            leases: Mutex::new(Leases::new()),
            parked: Mutex::new(Vec::new()),
            store,
            key,
            tls,
            peer_set,
            authors: RwLock::new(authors_from(peers)),
            addresses: Mutex::new(config.peers.iter().copied().collect()),
            delivered: Mutex::new(HashMap::new()),
            status: Mutex::new(MeshStatus::default()),
            stop: AtomicBool::new(false),
            on_applied: Box::new(on_applied),
        });
        let (tx, rx) = channel::<()>();
        let mut threads = Vec::new();
        let s = shared.clone();
        threads.push(
            std::thread::Builder::new()
                .name("pos-mesh-listen".into())
                .spawn(move || {
                    for tcp in listener.incoming() {
                        if s.stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let Ok(tcp) = tcp else { continue };
                        let s = s.clone();
                        // One thread per link; a link lasts one exchange.
                        let _ = std::thread::Builder::new()
                            .name("pos-mesh-link".into())
                            .spawn(move || {
                                if let Err(e) = accept_one(&s, tcp) {
                                    tracing::warn!(error = %e, "store mesh: incoming link failed");
                                    if let Ok(mut st) = s.status.lock() {
                                        st.failed_links += 1;
                                    }
                                }
                            });
                    }
                })
                .map_err(MeshError::Io)?,
        );
        let s = shared.clone();
        let round = config.round;
        threads.push(
            std::thread::Builder::new()
                .name("pos-mesh-rounds".into())
                .spawn(move || loop {
                    match rx.recv_timeout(round) {
                        Ok(()) | Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    if s.stop.load(Ordering::Relaxed) {
                        return;
                    }
                    while rx.try_recv().is_ok() {}
                    run_round(&s, local);
                })
                .map_err(MeshError::Io)?,
        );
        Ok(MeshNode {
            shared,
            local,
            nudge: tx,
            threads,
        })
    }

    /// Where this node listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Replaces the peer list (the server's fresh `GET /v1/sync/peers`): a device taken off it
    /// is refused from the next link on.
    pub fn set_peers(&self, peers: &[PeerRecord]) {
        self.shared.peer_set.replace(peer_keys(peers));
        if let Ok(mut a) = self.shared.authors.write() {
            *a = authors_from(peers);
        }
    }

    /// A peer address learnt by discovery or typed in Settings.
    pub fn add_address(&self, addr: SocketAddr) {
        self.address_sink()(addr)
    }

    /// Stops linking to `addr` (a static address taken out of Settings); discovery may bring it
    /// back if a device announces it.
    pub fn remove_address(&self, addr: SocketAddr) {
        if let Ok(mut a) = self.shared.addresses.lock() {
            a.remove(&addr);
        }
    }

    /// [`MeshNode::add_address`] for another thread (discovery's callback); a new address
    /// brings the next round forward.
    pub fn address_sink(&self) -> impl Fn(SocketAddr) + Send + Sync + 'static {
        let shared = self.shared.clone();
        let nudge = Mutex::new(self.nudge.clone());
        move |addr| {
            let new = shared
                .addresses
                .lock()
                .map(|mut a| a.insert(addr))
                .unwrap_or(false);
            if new {
                if let Ok(n) = nudge.lock() {
                    let _ = n.send(());
                }
            }
        }
    }

    /// Asks for a round now (after a local write: a fired ticket reaches the kitchen at once).
    pub fn nudge(&self) {
        let _ = self.nudge.send(());
    }

    /// Before paying or refunding `sale` (created by `owner`): the owner's lease.
    /// - On the owner itself: its own lease, refused while another device holds one.
    /// - On another device while the cloud is reachable: nothing (the cloud serialises).
    /// - Otherwise: a lease from the owner over the mesh, refused when the owner cannot be
    ///   reached or another device holds it. On return the owner's changes are applied here.
    ///
    /// Hand the result to [`MeshNode::release`] once the payment or refund is written (or
    /// was not).
    pub fn hold_for_money(
        &self,
        sale: Uuid,
        owner: Uuid,
        cloud_online: bool,
    ) -> Result<MoneyHold, LeaseError> {
        let s = &self.shared;
        if owner == s.me {
            let mut leases = s.leases.lock().unwrap_or_else(|p| p.into_inner());
            leases.grant(sale, s.me, Instant::now(), LEASE_TTL)?;
            return Ok(MoneyHold::Own { sale });
        }
        if cloud_online {
            return Ok(MoneyHold::None);
        }
        let addr = s
            .addr_of
            .lock()
            .ok()
            .and_then(|a| a.get(&owner).copied())
            .ok_or(LeaseError::OwnerUnreachable { owner })?;
        lease_call(s, addr, owner, LeaseOp::Ask, sale)?;
        Ok(MoneyHold::Remote { sale, owner, addr })
    }

    /// Ends a hold: the owner's own lease at once; a remote one by telling the owner, with the
    /// payment's or refund's changes (a release that does not arrive ends at the lease's
    /// expiry). Blocking: call it off the screen's thread.
    pub fn release(&self, hold: MoneyHold) {
        let s = &self.shared;
        match hold {
            MoneyHold::None => {}
            MoneyHold::Own { sale } => s
                .leases
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .release(sale, s.me),
            MoneyHold::Remote { sale, owner, addr } => {
                if let Err(e) = lease_call(s, addr, owner, LeaseOp::Release, sale) {
                    tracing::info!(%sale, error = %e, "store mesh: lease not released; it expires");
                }
            }
        }
    }

    /// Who holds a lease on `sale` from this device, if anyone (the owner's view).
    pub fn lease_holder(&self, sale: Uuid) -> Option<Uuid> {
        self.shared
            .leases
            .lock()
            .ok()
            .and_then(|l| l.holder(sale, Instant::now()))
    }

    pub fn status(&self) -> MeshStatus {
        self.shared
            .status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }
}

impl Drop for MeshNode {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        let _ = self.nudge.send(());
        // Wake the listener's accept.
        let _ = TcpStream::connect_timeout(&self.local, Duration::from_millis(200));
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn peer_keys(peers: &[PeerRecord]) -> Vec<(Uuid, [u8; 32])> {
    peers
        .iter()
        .filter_map(|p| Some((p.device_id, p.public_key.as_slice().try_into().ok()?)))
        .collect()
}

fn lock_store(s: &Shared) -> std::sync::MutexGuard<'_, Store> {
    // Every write is one SQLite transaction: a poisoned lock leaves the store consistent.
    s.store.lock().unwrap_or_else(|p| p.into_inner())
}

/// What to send `peer`: what it has not been delivered yet.
fn batch_for(s: &Shared, peer: Uuid) -> Result<Vec<WireChange>, NodeError> {
    let delivered = s
        .delivered
        .lock()
        .map(|d| d.get(&peer).cloned())
        .ok()
        .flatten()
        .unwrap_or_default();
    Ok(peer::outgoing(
        &lock_store(s),
        &s.key,
        EXCHANGE_LIMIT,
        |h| delivered.contains(h),
    )?)
}

fn delivered(s: &Shared, peer: Uuid, batch: &[WireChange]) {
    if let Ok(mut d) = s.delivered.lock() {
        d.entry(peer)
            .or_default()
            .extend(batch.iter().map(|c| c.hash.clone()));
    }
}

fn take_in(s: &Shared, peer: Uuid, frame: Option<Vec<u8>>) -> Result<(), NodeError> {
    let frame = frame.ok_or(NodeError::Closed)?;
    let changes: Vec<WireChange> =
        serde_json::from_slice(&frame).map_err(|e| NodeError::BadFrame(e.to_string()))?;
    take_changes(s, peer, changes)
}

fn take_changes(s: &Shared, peer: Uuid, changes: Vec<WireChange>) -> Result<(), NodeError> {
    if let Ok(mut st) = s.status.lock() {
        st.linked.insert(peer);
    }
    if changes.is_empty() {
        return Ok(());
    }
    // Changes that waited for others (a line that came before its sale, by another path) are
    // judged again with every new batch, after it: the sender counts them delivered.
    let mut parked = s.parked.lock().unwrap_or_else(|p| p.into_inner());
    let mut batch = changes;
    let seen: HashSet<String> = batch.iter().map(|c| c.hash.clone()).collect();
    batch.extend(parked.drain(..).filter(|c| !seen.contains(&c.hash)));
    let authors = s.authors.read().map(|a| a.clone()).unwrap_or_default();
    let report = peer::receive(&mut lock_store(s), &authors, &batch)?;
    let waiting: HashSet<&String> = report.waiting.iter().collect();
    parked.extend(
        batch
            .into_iter()
            .filter(|c| waiting.contains(&c.hash))
            .take(MAX_PARKED),
    );
    drop(parked);
    if !report.refused.is_empty() {
        tracing::warn!(peer = %peer, refused = report.refused.len(),
            first = ?report.refused.first().map(|r| &r.1), "store mesh: changes refused");
    }
    if let Ok(mut st) = s.status.lock() {
        st.applied += report.applied;
        st.refused += report.refused.len();
    }
    if report.applied > 0 {
        (s.on_applied)();
    }
    Ok(())
}

fn encode(batch: &[WireChange]) -> Result<Vec<u8>, NodeError> {
    serde_json::to_vec(batch).map_err(|e| NodeError::BadFrame(e.to_string()))
}

fn accept_one(s: &Shared, tcp: TcpStream) -> Result<(), NodeError> {
    let mut link = s.tls.accept_stream(tcp)?;
    let peer = link.peer;
    let frame = link.receive()?.ok_or(NodeError::Closed)?;
    let opening: Opening =
        serde_json::from_slice(&frame).map_err(|e| NodeError::BadFrame(e.to_string()))?;
    match opening {
        Opening::Exchange(changes) => {
            take_changes(s, peer, changes)?;
            let batch = batch_for(s, peer)?;
            link.send(&encode(&batch)?)?;
            delivered(s, peer, &batch);
        }
        Opening::Lease(req) => {
            // Everything the asking device knows first, so the owner decides on it.
            take_changes(s, peer, req.changes)?;
            let refusal = decide_lease(s, peer, req.op, req.sale_id);
            let batch = batch_for(s, peer)?;
            let answer = LeaseAnswer {
                granted: refusal.is_none(),
                refusal,
                changes: batch.clone(),
            };
            link.send(
                &serde_json::to_vec(&answer).map_err(|e| NodeError::BadFrame(e.to_string()))?,
            )?;
            delivered(s, peer, &batch);
        }
    }
    Ok(())
}

/// The owner's decision on a lease request from `peer`.
fn decide_lease(s: &Shared, peer: Uuid, op: LeaseOp, sale: Uuid) -> Option<LeaseRefusal> {
    let mut leases = s.leases.lock().unwrap_or_else(|p| p.into_inner());
    match op {
        LeaseOp::Release => {
            leases.release(sale, peer);
            None
        }
        LeaseOp::Ask => {
            let envelope = lock_store(s).envelope(sale).ok();
            match envelope {
                None => Some(LeaseRefusal::UnknownSale),
                Some(e) if e.created_by_device != s.me => Some(LeaseRefusal::NotOwner),
                Some(_) => match leases.grant(sale, peer, Instant::now(), LEASE_TTL) {
                    Ok(_) => None,
                    Err(LeaseError::Held { by }) => Some(LeaseRefusal::Held { by }),
                    Err(_) => Some(LeaseRefusal::NotOwner),
                },
            }
        }
    }
}

/// One lease call to `owner` at `addr`: what this device has for it goes with the request,
/// and what the owner has comes back with the answer (applied here before it is read).
fn lease_call(
    s: &Shared,
    addr: SocketAddr,
    owner: Uuid,
    op: LeaseOp,
    sale: Uuid,
) -> Result<(), LeaseError> {
    let unreachable = |e: &dyn std::fmt::Display| {
        tracing::info!(%owner, %addr, error = %e, "store mesh: a sale's owner did not answer");
        LeaseError::OwnerUnreachable { owner }
    };
    let mut link = s
        .tls
        .connect_within(addr, LEASE_CALL_TIMEOUT)
        .map_err(|e| unreachable(&e))?;
    if link.peer != owner {
        return Err(unreachable(&"another device answers at its address"));
    }
    let batch = batch_for(s, owner).map_err(|e| unreachable(&e))?;
    let request = LeaseRequest {
        op,
        sale_id: sale,
        changes: batch.clone(),
    };
    let bytes = serde_json::to_vec(&request).map_err(|e| unreachable(&e))?;
    link.send(&bytes).map_err(|e| unreachable(&e))?;
    let frame = link
        .receive()
        .map_err(|e| unreachable(&e))?
        .ok_or_else(|| unreachable(&"the link closed"))?;
    delivered(s, owner, &batch);
    let answer: LeaseAnswer = serde_json::from_slice(&frame).map_err(|e| unreachable(&e))?;
    take_changes(s, owner, answer.changes).map_err(|e| LeaseError::Refused(e.to_string()))?;
    match (answer.granted, answer.refusal) {
        (true, _) => Ok(()),
        (false, Some(r)) => Err(r.into()),
        (false, None) => Err(LeaseError::Refused("no reason given".into())),
    }
}

fn connect_one(s: &Shared, addr: SocketAddr) -> Result<Uuid, NodeError> {
    let mut link: Link<_> = s.tls.connect(addr)?;
    let peer = link.peer;
    if let Ok(mut a) = s.addr_of.lock() {
        a.insert(peer, addr);
    }
    let batch = batch_for(s, peer)?;
    link.send(&encode(&batch)?)?;
    let frame = link.receive()?;
    delivered(s, peer, &batch);
    take_in(s, peer, frame)?;
    Ok(peer)
}

fn run_round(s: &Shared, local: SocketAddr) {
    let addresses: Vec<SocketAddr> = s
        .addresses
        .lock()
        .map(|a| a.iter().copied().filter(|a| *a != local).collect())
        .unwrap_or_default();
    let mut linked = BTreeSet::new();
    for addr in addresses {
        match connect_one(s, addr) {
            Ok(peer) => {
                linked.insert(peer);
            }
            Err(e) => tracing::debug!(%addr, error = %e, "store mesh: no link"),
        }
    }
    if let Ok(mut st) = s.status.lock() {
        st.linked = linked;
    }
}
