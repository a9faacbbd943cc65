//! A device receiving changes from another device of its store (the store mesh): the same
//! checks and the same merge the server runs, on the device's own replica.
//!
//! Every change from the LAN must carry its author's signature, whoever passed it on (the
//! link only proves who is at the other end, not who wrote what it forwards); it is then
//! authorized by [`merge::merge_relayed`] with its author's role and device kind, on this
//! replica's documents and facts ([`pos_core::store::Store::peer_facts`]). What passes is
//! applied in one transaction (all or nothing), and kept as it came (signed) for the cloud, so
//! that this device carries it there if its author cannot; what does not pass is not applied
//! and is listed with the sync problems.
//!
//! **Architecture invariant: a device applies a peer's change only as the server would.** The
//! decision is `merge_relayed`'s, the function the server calls on a push.

use std::collections::HashMap;

use pos_core::store::{RelayEntry, Store, StoreError};
use uuid::Uuid;

use crate::merge::{self, Decision, MasterDoc, RelayAuthors, Scope};
use crate::signing::{DeviceKey, PublicKey, SignedFields};
use crate::wire::{PeerRecord, WireChange};

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("the replica failed: {0}")]
    Store(#[from] StoreError),
    #[error("a change could not be kept for the cloud: {0}")]
    Encode(String),
}

/// The peer list the device kept at its last sync (empty before the first one).
pub fn kept_peers(store: &Store) -> Result<Vec<PeerRecord>, PeerError> {
    Ok(match store.mesh_peers()? {
        Some(json) => serde_json::from_str(&json).map_err(|e| PeerError::Encode(e.to_string()))?,
        None => Vec::new(),
    })
}

/// The authors whose changes this device accepts from the LAN: the server's peer list (a key
/// that does not decode is left out, so its device is refused).
pub fn authors_from(peers: &[PeerRecord]) -> RelayAuthors {
    let mut a = RelayAuthors::new();
    for p in peers {
        if let Ok(key) = PublicKey::from_bytes(&p.public_key) {
            a.insert(p.device_id, p.kind, key);
        }
    }
    a
}

/// What this device sends a peer: its own outbox, each change signed with its key, then the
/// changes it received from other peers and still carries (signed by their authors), so that
/// everything travels on to devices that missed it. At most `limit` changes, leaving out those
/// `sent` says the peer has: they are skipped before signing, and the ones after them are
/// still reached however many were sent before.
pub fn outgoing(
    store: &Store,
    key: &DeviceKey,
    limit: usize,
    sent: impl Fn(&str) -> bool,
) -> Result<Vec<WireChange>, PeerError> {
    let me = store.identity().device_id;
    // `usize::MAX`: every entry (SQLite reads the limit as -1, none).
    let own: Vec<_> = store
        .outbox_batch(usize::MAX)?
        .into_iter()
        .filter(|e| !sent(&e.hash))
        .take(limit)
        .collect();
    let mut out = crate::device::wire_changes(&own, me);
    for c in &mut out {
        c.signature = Some(key.sign(&SignedFields::of(c)));
    }
    for e in store.relay_batch(usize::MAX)? {
        if out.len() >= limit {
            break;
        }
        if sent(&e.hash) {
            continue;
        }
        if let Ok(c) = serde_json::from_slice::<WireChange>(&e.change) {
            out.push(c);
        }
    }
    Ok(out)
}

/// What became of a peer's batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerReport {
    pub applied: usize,
    /// Already on this device.
    pub duplicates: usize,
    /// Refused: `(hash, code, message)`; listed with the sync problems.
    pub refused: Vec<(String, String, String)>,
    /// Waiting for changes they build on (sent again later, with them).
    pub waiting: Vec<String>,
}

/// Judges and applies `changes` received from a peer. `authors` are the store's other devices
/// with their kinds and keys (the server's peer list); this device's own changes coming back
/// are recognised as its own.
pub fn receive(
    store: &mut Store,
    authors: &RelayAuthors,
    changes: &[WireChange],
) -> Result<PeerReport, PeerError> {
    let id = store.identity().clone();
    let scope = Scope {
        tenant_id: id.tenant_id,
        store_id: id.store_id,
        device_id: id.device_id,
        kind: id.kind,
    };
    let mut report = PeerReport::default();
    // A change the cloud refused (this device has its notice) does not come back from a peer
    // that has not heard of the refusal yet; it is listed once already, where it was undone.
    let mut passing = Vec::with_capacity(changes.len());
    for c in changes {
        if store.is_refused(&c.hash)? {
            report.refused.push((
                c.hash.clone(),
                "refused_by_cloud".to_string(),
                "the cloud refused this change; a peer cannot bring it back".to_string(),
            ));
        } else {
            passing.push(c.clone());
        }
    }
    let changes = &passing[..];
    let mut docs: HashMap<Uuid, MasterDoc> = HashMap::new();
    for c in changes {
        if c.envelope.tenant_id != id.tenant_id || docs.contains_key(&c.envelope.doc_id) {
            continue;
        }
        if let Some((envelope, bytes)) = store.document_state(c.envelope.doc_id)? {
            docs.insert(
                c.envelope.doc_id,
                MasterDoc {
                    envelope,
                    snapshot: Some(bytes),
                    changes: Vec::new(),
                },
            );
        }
    }
    // A change of this device is in its own replica already; one that claims to be and is not
    // (its author forged) must not pass as this device's own.
    let own: Vec<bool> = changes
        .iter()
        .map(|c| c.author.device_id == id.device_id)
        .collect();
    let facts = store.peer_facts()?;
    let outcome = merge::merge_relayed(&scope, authors, &facts, docs, &HashMap::new(), changes);
    let mut apply = Vec::new();
    let mut keep = Vec::new();
    let mut problems = Vec::new();
    for (i, (c, d)) in changes.iter().zip(&outcome.decisions).enumerate() {
        match d {
            Decision::Accepted if own[i] => {
                // This device's change that it no longer holds: only its own store may
                // write it back (it is in its outbox or was refused); not from the LAN.
                let message = "a change claiming to be this device's own, which it does not hold";
                problems.push((c, "device_mismatch", message.to_string()));
            }
            Decision::Accepted => {
                apply.push((c.envelope, c.bytes.clone()));
                keep.push(RelayEntry {
                    hash: c.hash.clone(),
                    doc_id: c.envelope.doc_id,
                    author_device: c.author.device_id,
                    change: serde_json::to_vec(c).map_err(|e| PeerError::Encode(e.to_string()))?,
                });
            }
            Decision::Duplicate { .. } | Decision::DuplicateInBatch { .. } => {
                report.duplicates += 1
            }
            Decision::Rejected { code, message } => problems.push((c, code, message.clone())),
            Decision::RetryAfter { .. } => report.waiting.push(c.hash.clone()),
        }
    }
    if !apply.is_empty() {
        let r = store.apply_from_peer(&apply, &keep)?;
        report.applied = r.applied;
        report.duplicates += r.already_known;
    }
    for (c, code, message) in problems {
        store.record_peer_refusal(&c.envelope, &c.hash, code, &message)?;
        report
            .refused
            .push((c.hash.clone(), code.to_string(), message));
    }
    Ok(report)
}
