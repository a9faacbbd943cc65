//! A device receiving changes from another device of its store (the store mesh): the same
//! checks and the same merge the server runs, on the device's own replica.
//!
//! Every change from the LAN must carry its author's signature, whoever passed it on (the
//! link only proves who is at the other end, not who wrote what it forwards); it is then
//! authorized by [`merge::merge_relayed`] with its author's role and device kind, on this
//! replica's documents and facts ([`pos_core::store::Store::peer_facts`]). What passes is
//! applied in one transaction (all or nothing); what does not is not applied and is listed
//! with the sync problems.
//!
//! **Architecture invariant: a device applies a peer's change only as the server would.** The
//! decision is `merge_relayed`'s, the function the server calls on a push.

use std::collections::HashMap;

use pos_core::store::{Store, StoreError};
use uuid::Uuid;

use crate::merge::{self, Decision, MasterDoc, RelayAuthors, Scope};
use crate::wire::WireChange;

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("the replica failed: {0}")]
    Store(#[from] StoreError),
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
    for (i, (c, d)) in changes.iter().zip(&outcome.decisions).enumerate() {
        match d {
            Decision::Accepted if own[i] => {
                // This device's change that it no longer holds: only its own store may
                // write it back (it is in its outbox or was refused); not from the LAN.
                report.refused.push((
                    c.hash.clone(),
                    "device_mismatch".into(),
                    "a change claiming to be this device's own, which it does not hold".into(),
                ));
            }
            Decision::Accepted => apply.push((c.envelope, c.bytes.clone())),
            Decision::Duplicate { .. } | Decision::DuplicateInBatch { .. } => {
                report.duplicates += 1
            }
            Decision::Rejected { code, message } => {
                report
                    .refused
                    .push((c.hash.clone(), code.clone(), message.clone()));
            }
            Decision::RetryAfter { .. } => report.waiting.push(c.hash.clone()),
        }
    }
    if !apply.is_empty() {
        let r = store.apply_remote(&apply)?;
        report.applied = r.applied;
        report.duplicates += r.already_known;
    }
    for (hash, code, message) in &report.refused {
        if let Some(c) = changes.iter().find(|c| &c.hash == hash) {
            store.record_peer_refusal(&c.envelope, hash, code, message)?;
        }
    }
    Ok(report)
}
