//! The server's merge engine: pushed changes in, decisions and rows to write out.
//!
//! **Architecture invariant: no HTTP, no Postgres here.** The server loads the batch's documents
//! and the facts the policy needs, calls [`merge`], and writes the [`MergeOutcome`] in one
//! transaction. So the engine is tested and benchmarked alone.
//!
//! For every change, in order:
//! 1. the author's device must be the token's device, and the envelope must be in the token's
//!    tenant and store (or tenant-wide for catalog documents), and equal the stored envelope;
//! 2. a change its document already holds (or that the caller lists as known) is a duplicate;
//! 3. a change whose dependencies are missing is answered "retry after", not rejected;
//! 4. the change is applied to the server's copy, the patches between before and after are
//!    taken, and [`pos_core::policy::authorize`] runs on them with the author's role *from the
//!    server's records*; a refused change is undone;
//! 5. accepted changes yield the document's new state, its projection rows and an audit event.
//!
//! Documents are independent except that a refund is checked against its sale and the sale's
//! other refunds (any of which may be in the same batch), so the batch runs in phases — catalog
//! and settings, then the other store documents in parallel on every core, then refunds and
//! Z reports one document at a time — each change in its input order within its document.

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::{AutoCommit, ChangeHash, ReadDoc};
use pos_core::auth::Actor;
use pos_core::catalog::StoreSettings;
use pos_core::doc::{patch_paths, AnyDoc, DocType, Document, Envelope};
use pos_core::policy::{authorize_json, PolicyContext};
use pos_core::projection::{project, Row};
use pos_core::refund::Refund;
use pos_core::sale::Sale;
use rayon::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use crate::wire::{Author, WireChange};

/// What the token says the caller is. Never taken from the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope {
    pub tenant_id: Uuid,
    pub store_id: Uuid,
    pub device_id: Uuid,
    /// What the pushing device was enrolled as: every role the policy reads for its changes
    /// (author and approver) is capped by it (`DeviceKind::cap`), as the device caps its own.
    pub kind: pos_core::auth::DeviceKind,
}

/// The server's stored copy of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterDoc {
    pub envelope: Envelope,
    /// `save()` bytes of the last compaction, if any.
    pub snapshot: Option<Vec<u8>>,
    /// Raw changes accepted since the snapshot, in order.
    pub changes: Vec<Vec<u8>>,
}

/// The decision on one pushed change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Decision {
    Accepted,
    /// Already in the change log, with this sequence.
    Duplicate {
        seq: i64,
    },
    /// The same change appears earlier in this batch, at this index.
    DuplicateInBatch {
        index: usize,
    },
    Rejected {
        code: String,
        message: String,
    },
    RetryAfter {
        missing: Vec<String>,
    },
}

/// A change to append to the change log. The server gives it the next sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedChange {
    /// Index of the change in the pushed batch.
    pub index: usize,
    pub envelope: Envelope,
    pub hash: String,
    pub bytes: Vec<u8>,
    pub author: Author,
}

/// A document's new state after the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct DocUpdate {
    pub envelope: Envelope,
    /// The document did not exist before this batch.
    pub created: bool,
    /// `Some`: the document was compacted: store this snapshot and drop its stored changes.
    pub snapshot: Option<Vec<u8>>,
    /// Otherwise: append these changes to the stored ones.
    pub appended: Vec<Vec<u8>>,
    pub heads: Vec<String>,
    pub doc: AnyDoc,
    /// Concurrent values of a field (e.g. two offline price edits): the winner is in `doc`,
    /// all of them are here, for head office.
    pub conflicts: Vec<FieldConflict>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldConflict {
    pub field: String,
    /// The value every replica converged on (automerge's deterministic winner).
    pub winner: serde_json::Value,
    /// Every concurrent value, the winner included.
    pub values: Vec<serde_json::Value>,
}

/// One audit event per accepted change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    pub index: usize,
    pub actor: Author,
    pub doc_id: Uuid,
    pub doc_type: DocType,
    pub hash: String,
    /// The fields the change touched (a field put whole stands for what is under it).
    pub fields: Vec<String>,
}

/// Everything the server writes for a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeOutcome {
    /// One decision per pushed change, in order.
    pub decisions: Vec<Decision>,
    pub accepted: Vec<AcceptedChange>,
    pub docs: Vec<DocUpdate>,
    /// Projection rows per updated document (replace the document's rows with these).
    pub projections: Vec<(Envelope, Vec<Row>)>,
    pub audit: Vec<AuditEvent>,
}

/// Compact a document's stored changes into a snapshot past this many (and only then).
pub const COMPACT_AFTER: usize = 64;

/// A document being merged.
struct Working {
    env: Envelope,
    created: bool,
    base: MasterDoc,
    am: AutoCommit,
    typed: Option<AnyDoc>,
    /// `typed` as JSON (the policy's "before" for the next change).
    json: Option<serde_json::Value>,
    hydrated: Option<automerge::hydrate::Value>,
    known: HashSet<ChangeHash>,
    accepted: Vec<Vec<u8>>,
    failed_load: Option<String>,
}

fn empty_map() -> automerge::hydrate::Value {
    automerge::hydrate::Value::Map(automerge::hydrate::Map::default())
}

fn load(base: &MasterDoc) -> Result<AutoCommit, String> {
    let mut am = match &base.snapshot {
        Some(s) => pos_core::doc::load_bytes(s).map_err(|e| e.to_string())?,
        None => AutoCommit::new(),
    };
    let changes = base
        .changes
        .iter()
        .map(|b| pos_core::doc::change_from_bytes(b.clone()).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    pos_core::doc::apply_changes(&mut am, changes).map_err(|e| e.to_string())?;
    Ok(am)
}

impl Working {
    fn new(env: Envelope, base: Option<MasterDoc>) -> Working {
        let created = base.is_none();
        let base = base.unwrap_or(MasterDoc {
            envelope: env,
            snapshot: None,
            changes: Vec::new(),
        });
        let (mut am, failed_load) = match load(&base) {
            Ok(am) => (am, None),
            Err(e) => (AutoCommit::new(), Some(e)),
        };
        // Index changes from here on, so each change's patches come from the patch log rather
        // than from a scan of the whole document (`diff_incremental`).
        am.update_diff_cursor();
        let mut w = Working {
            env: base.envelope,
            created,
            base,
            am,
            typed: None,
            json: None,
            hydrated: None,
            known: HashSet::new(),
            accepted: Vec::new(),
            failed_load,
        };
        w.reset_view();
        w
    }

    /// Recomputes the typed view and the known hashes from the automerge document.
    fn reset_view(&mut self) {
        self.known = self
            .am
            .get_changes(&[])
            .into_iter()
            .map(|c| c.hash())
            .collect();
        if self.am.get_heads().is_empty() {
            self.typed = None;
            self.json = None;
            self.hydrated = None;
        } else {
            let hv = self
                .am
                .hydrate(automerge::ROOT, None)
                .unwrap_or_else(|_| empty_map());
            self.typed = AnyDoc::from_hydrated(self.env.doc_type, &hv).ok();
            self.json = self.typed.as_ref().map(AnyDoc::to_json);
            self.hydrated = Some(hv);
        }
    }

    /// Undoes a refused change: back to the stored state plus the changes accepted so far.
    fn rollback(&mut self) {
        if let Ok(mut am) = load(&self.base) {
            let accepted = self
                .accepted
                .iter()
                .filter_map(|b| pos_core::doc::change_from_bytes(b.clone()).ok())
                .collect::<Vec<_>>();
            if pos_core::doc::apply_changes(&mut am, accepted).is_ok() {
                am.update_diff_cursor();
                self.am = am;
            }
        }
        self.reset_view();
    }
}

/// The store's other devices whose changes a device may carry to the server (the store mesh):
/// enrolled in the pushing device's store, not revoked, with a registered key. The server
/// loads it from its own records; nothing in it comes from the request.
#[derive(Debug, Clone, Default)]
pub struct RelayAuthors {
    by_device: HashMap<Uuid, (pos_core::auth::DeviceKind, crate::signing::PublicKey)>,
}

impl RelayAuthors {
    pub fn new() -> RelayAuthors {
        RelayAuthors::default()
    }

    pub fn insert(
        &mut self,
        device_id: Uuid,
        kind: pos_core::auth::DeviceKind,
        key: crate::signing::PublicKey,
    ) {
        self.by_device.insert(device_id, (kind, key));
    }

    pub fn is_empty(&self) -> bool {
        self.by_device.is_empty()
    }
}

/// A policy context that answers from this batch first (a refund may arrive with its sale),
/// then from the server's preloaded facts.
#[derive(Clone, Copy)]
struct BatchContext<'a> {
    inner: &'a (dyn PolicyContext + Sync),
    sales: &'a HashMap<Uuid, Sale>,
    refunds: &'a HashMap<Uuid, Refund>,
    kind: pos_core::auth::DeviceKind,
}

impl PolicyContext for BatchContext<'_> {
    fn module_enabled(&self, module: pos_core::modules::Module) -> bool {
        self.inner.module_enabled(module)
    }

    fn settings(&self, store_id: Uuid) -> Option<StoreSettings> {
        self.inner.settings(store_id)
    }

    fn role_of(&self, user_id: &str) -> Option<pos_core::auth::Role> {
        self.inner.role_of(user_id).map(|r| self.kind.cap(r))
    }

    fn sale_and_refunds(
        &self,
        sale_id: Uuid,
        excluding: Uuid,
    ) -> Option<(Sale, Vec<(Uuid, Refund)>)> {
        let outer = self.inner.sale_and_refunds(sale_id, excluding);
        let sale = self
            .sales
            .get(&sale_id)
            .cloned()
            .or_else(|| outer.as_ref().map(|(s, _)| s.clone()))?;
        let mut refunds: BTreeMap<Uuid, Refund> = outer
            .map(|(_, r)| r.into_iter().collect())
            .unwrap_or_default();
        for (id, r) in self.refunds {
            if *id != excluding && r.sale_id == sale_id.to_string() {
                refunds.insert(*id, r.clone());
            }
        }
        Some((sale, refunds.into_iter().collect()))
    }
}

fn reject(code: &str, message: impl Into<String>) -> Decision {
    Decision::Rejected {
        code: code.to_string(),
        message: message.into(),
    }
}

/// Checks what does not need the document: device, scope, envelope shape. Returns the kind of
/// the author's device, which caps every role the policy reads for the change.
fn check_scope(
    scope: &Scope,
    relay: &RelayAuthors,
    c: &WireChange,
) -> Result<pos_core::auth::DeviceKind, Decision> {
    let kind = if c.author.device_id == scope.device_id {
        scope.kind
    } else {
        // Relayed: only with its author's valid signature, and then as its author.
        let Some((kind, key)) = relay.by_device.get(&c.author.device_id) else {
            return Err(reject(
                "device_mismatch",
                format!(
                    "change authored by device {} pushed by device {}, and the author is not \
                     an enrolled device of this store with a registered key",
                    c.author.device_id, scope.device_id
                ),
            ));
        };
        let Some(signature) = &c.signature else {
            return Err(reject(
                "unsigned",
                format!(
                    "change authored by device {} pushed by device {} without its author's \
                     signature",
                    c.author.device_id, scope.device_id
                ),
            ));
        };
        key.verify(&crate::signing::SignedFields::of(c), signature)
            .map_err(|e| reject("bad_signature", e.to_string()))?;
        *kind
    };
    let env = &c.envelope;
    if env.tenant_id != scope.tenant_id {
        return Err(reject(
            "wrong_tenant",
            format!("document {} belongs to another tenant", env.doc_id),
        ));
    }
    env.validate()
        .map_err(|e| reject("bad_envelope", e.to_string()))?;
    match env.store_id {
        Some(store) if store != scope.store_id => Err(reject(
            "wrong_store",
            format!(
                "document {} belongs to store {store}, not this device's",
                env.doc_id
            ),
        )),
        _ => Ok(kind),
    }
}

/// The phase a document type is merged in (see the module docs).
fn phase(t: DocType) -> usize {
    match t {
        DocType::StoreSettings | DocType::Category | DocType::Item => 0,
        DocType::Refund | DocType::ZReport => 2,
        _ => 1,
    }
}

/// Merges a pushed batch. `docs` holds the server's copy of every existing document the batch
/// touches; `known` may map hashes of changes already in the change log to their sequence.
/// A change found in its document but not in `known` is `Duplicate { seq: 0 }`: the caller
/// looks its sequence up (the Postgres server passes no `known` and does so for the few
/// duplicates, by document and hash).
pub fn merge(
    scope: &Scope,
    ctx: &(dyn PolicyContext + Sync),
    docs: HashMap<Uuid, MasterDoc>,
    known: &HashMap<String, i64>,
    changes: &[WireChange],
) -> MergeOutcome {
    merge_relayed(scope, &RelayAuthors::default(), ctx, docs, known, changes)
}

/// [`merge`], where the batch may also hold changes of the store's other devices (`relay`),
/// each checked against its author's signature and authorized as its author.
pub fn merge_relayed(
    scope: &Scope,
    relay: &RelayAuthors,
    ctx: &(dyn PolicyContext + Sync),
    mut docs: HashMap<Uuid, MasterDoc>,
    known: &HashMap<String, i64>,
    changes: &[WireChange],
) -> MergeOutcome {
    let mut decisions: Vec<Option<Decision>> = vec![None; changes.len()];
    let mut kinds: Vec<pos_core::auth::DeviceKind> = vec![scope.kind; changes.len()];
    // Pre-pass: scope checks, duplicates (stored or earlier in the batch).
    // A change hash names one change of one document. A copy in the same document is a
    // duplicate (it gets its first copy's answer); the same hash sent for another document is
    // refused, never merged twice nor answered as the other's duplicate (unread).
    let mut first_index: HashMap<&str, usize> = HashMap::new();
    let mut by_doc: BTreeMap<(usize, Uuid), Vec<usize>> = BTreeMap::new();
    for (i, c) in changes.iter().enumerate() {
        match check_scope(scope, relay, c) {
            Ok(kind) => kinds[i] = kind,
            Err(d) => {
                decisions[i] = Some(d);
                continue;
            }
        }
        if let Some(seq) = known.get(&c.hash) {
            decisions[i] = Some(Decision::Duplicate { seq: *seq });
            continue;
        }
        if let Some(first) = first_index.get(c.hash.as_str()) {
            let other = changes[*first].envelope.doc_id;
            decisions[i] = Some(if other == c.envelope.doc_id {
                Decision::DuplicateInBatch { index: *first }
            } else {
                Decision::Rejected {
                    code: "hash_reused".into(),
                    message: format!(
                        "change {} is sent for document {other} in this push already",
                        c.hash
                    ),
                }
            });
            continue;
        }
        first_index.insert(&c.hash, i);
        by_doc
            .entry((phase(c.envelope.doc_type), c.envelope.doc_id))
            .or_default()
            .push(i);
    }

    let mut sales: HashMap<Uuid, Sale> = HashMap::new();
    let mut refunds: HashMap<Uuid, Refund> = HashMap::new();
    let mut finished: Vec<(Working, Vec<(usize, Vec<String>)>)> = Vec::new();
    for ph in 0..3 {
        let groups: Vec<(Uuid, Vec<usize>)> = by_doc
            .iter()
            .filter(|((p, _), _)| *p == ph)
            .map(|((_, id), idx)| (*id, idx.clone()))
            .collect();
        if groups.is_empty() {
            continue;
        }
        let jobs: Vec<(Working, Vec<usize>)> = groups
            .into_iter()
            .map(|(id, idx)| {
                let env = changes[idx[0]].envelope;
                (Working::new(env, docs.remove(&id)), idx)
            })
            .collect();
        let results: Vec<(Working, Vec<(usize, Decision, Vec<String>)>)> = if ph == 2 {
            // Refunds of one sale limit each other (what is left to refund), so this phase runs
            // one document at a time, each seeing the refunds merged before it.
            let mut out = Vec::with_capacity(jobs.len());
            for (w, idx) in jobs {
                let batch_ctx = BatchContext {
                    inner: ctx,
                    sales: &sales,
                    refunds: &refunds,
                    kind: scope.kind,
                };
                let (w, r) = run_doc(&batch_ctx, &kinds, w, &idx, changes);
                if let Some(AnyDoc::Refund(refund)) = &w.typed {
                    refunds.insert(w.env.doc_id, refund.clone());
                }
                out.push((w, r));
            }
            out
        } else {
            let batch_ctx = BatchContext {
                inner: ctx,
                sales: &sales,
                refunds: &refunds,
                kind: scope.kind,
            };
            // On rayon's pool: its threads live as long as the server, so their allocator
            // caches stay warm. Threads spawned per push cost a page fault per fresh page
            // (docs/benchmarks.md).
            jobs.into_par_iter()
                .map(|(w, idx)| run_doc(&batch_ctx, &kinds, w, &idx, changes))
                .collect()
        };
        for (w, results) in results {
            let mut fields = Vec::new();
            for (i, d, f) in results {
                if d == Decision::Accepted {
                    fields.push((i, f));
                }
                decisions[i] = Some(d);
            }
            match &w.typed {
                Some(AnyDoc::Sale(s)) => {
                    sales.insert(w.env.doc_id, s.clone());
                }
                Some(AnyDoc::Refund(r)) => {
                    refunds.insert(w.env.doc_id, r.clone());
                }
                _ => {}
            }
            finished.push((w, fields));
        }
    }

    let mut outcome = MergeOutcome {
        decisions: Vec::with_capacity(changes.len()),
        accepted: Vec::new(),
        docs: Vec::new(),
        projections: Vec::new(),
        audit: Vec::new(),
    };
    let mut accepted_idx: Vec<(usize, Envelope)> = Vec::new();
    for (mut w, fields) in finished {
        if w.accepted.is_empty() {
            continue;
        }
        let Some(doc) = w.typed.clone() else { continue };
        // A document the projection cannot map is refused whole: an empty row list would
        // replace head office's rows of it with nothing.
        let rows = match project(&w.env, &doc) {
            Ok(rows) => rows,
            Err(e) => {
                for (i, _) in &fields {
                    decisions[*i] = Some(reject(
                        "invalid_document",
                        format!("document {} does not project: {e}", w.env.doc_id),
                    ));
                }
                continue;
            }
        };
        for (i, f) in fields {
            accepted_idx.push((i, w.env));
            outcome.audit.push(AuditEvent {
                index: i,
                actor: changes[i].author,
                doc_id: w.env.doc_id,
                doc_type: w.env.doc_type,
                hash: changes[i].hash.clone(),
                fields: f,
            });
        }
        let stored = w.base.changes.len() + w.accepted.len();
        // Compaction only past COMPACT_AFTER changes: a closed sale (about a dozen changes) stays
        // as its changes. `save()` inside the push cost half the merge time (docs/benchmarks.md);
        // loading a dozen changes is cheap, and bootstrap sends snapshot + changes as they are.
        let compact = stored >= COMPACT_AFTER;
        let conflicts = conflicts_of(&w.am, &doc);
        outcome.projections.push((w.env, rows));
        outcome.docs.push(DocUpdate {
            envelope: w.env,
            created: w.created,
            snapshot: compact.then(|| w.am.save()),
            appended: if compact {
                Vec::new()
            } else {
                std::mem::take(&mut w.accepted)
            },
            heads: w.am.get_heads().iter().map(|h| h.to_string()).collect(),
            doc,
            conflicts,
        });
    }
    accepted_idx.sort_by_key(|(i, _)| *i);
    for (i, env) in accepted_idx {
        let c = &changes[i];
        outcome.accepted.push(AcceptedChange {
            index: i,
            envelope: env,
            hash: c.hash.clone(),
            bytes: c.bytes.clone(),
            author: c.author,
        });
    }
    outcome.decisions = decisions
        .into_iter()
        .map(|d| d.unwrap_or_else(|| reject("internal", "change was not processed")))
        .collect();
    outcome
}

/// Merges the changes of one document, in order.
fn run_doc(
    ctx: &BatchContext<'_>,
    kinds: &[pos_core::auth::DeviceKind],
    mut w: Working,
    idx: &[usize],
    changes: &[WireChange],
) -> (Working, Vec<(usize, Decision, Vec<String>)>) {
    let mut out = Vec::with_capacity(idx.len());
    for &i in idx {
        // Roles capped by the author's device kind (the pusher's, or a relayed author's).
        let ctx = BatchContext {
            kind: kinds[i],
            ..*ctx
        };
        let (d, fields) = run_change(&ctx, &mut w, &changes[i]);
        out.push((i, d, fields));
    }
    (w, out)
}

fn run_change(ctx: &BatchContext<'_>, w: &mut Working, c: &WireChange) -> (Decision, Vec<String>) {
    if let Some(e) = &w.failed_load {
        return (
            reject("internal", format!("stored document is unreadable: {e}")),
            vec![],
        );
    }
    if c.envelope != w.env {
        return (
            reject(
                "envelope_mismatch",
                format!("envelope of {} differs from the stored one", w.env.doc_id),
            ),
            vec![],
        );
    }
    let change = match pos_core::doc::change_from_bytes(c.bytes.clone()) {
        Ok(ch) => ch,
        Err(e) => {
            return (
                reject("malformed", format!("change bytes do not parse: {e}")),
                vec![],
            )
        }
    };
    if change.hash().to_string() != c.hash {
        return (
            reject(
                "hash_mismatch",
                format!("change hash is {}, not {}", change.hash(), c.hash),
            ),
            vec![],
        );
    }
    if w.known.contains(&change.hash()) {
        // Already in the stored document but not in the caller's `known` map: `seq: 0` means
        // "look its sequence up in the change log" (see `merge`).
        return (Decision::Duplicate { seq: 0 }, vec![]);
    }
    let missing: Vec<String> = change
        .deps()
        .iter()
        .filter(|d| !w.known.contains(d))
        .map(|d| d.to_string())
        .collect();
    if !missing.is_empty() {
        return (Decision::RetryAfter { missing }, vec![]);
    }
    // Checked after the dependencies: a later change of a document this copy has not seen
    // created yet (it came by another path) waits for the creation; it is not refused.
    if w.created
        && w.typed.is_none()
        && w.accepted.is_empty()
        && c.envelope.created_by_device != c.author.device_id
    {
        return (
            reject(
                "envelope_mismatch",
                "a new document must be created by the device that authored its first change",
            ),
            vec![],
        );
    }
    let Some(role) = ctx.role_of(&c.author.user_id.to_string()) else {
        return (
            reject(
                "unknown_user",
                format!("user {} is not a member of this store", c.author.user_id),
            ),
            vec![],
        );
    };
    let actor = Actor {
        user_id: c.author.user_id,
        role,
        device_id: c.author.device_id,
    };

    let hash = change.hash();
    // Made without seeing some of what the server holds (another till's changes)? Heads and
    // dependencies are each a set of one or two hashes.
    let deps = change.deps().to_vec();
    let heads = w.am.get_heads();
    let concurrent = deps.len() != heads.len() || deps.iter().any(|d| !heads.contains(d));
    if let Err(e) = pos_core::doc::check_change(&change) {
        return (
            reject("malformed", format!("change is not valid: {e}")),
            vec![],
        );
    }
    if let Err(e) = pos_core::doc::apply_changes(&mut w.am, [change]) {
        w.rollback();
        return (
            reject("malformed", format!("change does not apply: {e}")),
            vec![],
        );
    }
    let patches = match pos_core::doc::diff_incremental(&mut w.am) {
        Ok(p) => p,
        Err(e) => {
            w.rollback();
            return (
                reject("malformed", format!("change does not apply: {e}")),
                vec![],
            );
        }
    };
    let paths = patch_paths(&patches);
    // Patched in place; a refused change rebuilds it (rollback).
    let mut hv = w.hydrated.take().unwrap_or_else(empty_map);
    let enc = w.am.get_text_rep();
    if hv.apply_patches(enc, patches).is_err() {
        hv =
            w.am.hydrate(automerge::ROOT, None)
                .unwrap_or_else(|_| empty_map());
    }
    let after = match AnyDoc::from_hydrated(w.env.doc_type, &hv) {
        Ok(a) => a,
        Err(e) => {
            w.rollback();
            return (reject("invalid_document", e.to_string()), vec![]);
        }
    };
    let after_json = after.to_json();
    let before = w.typed.as_ref().zip(w.json.as_ref());
    if let Err(e) = authorize_json(ctx, &actor, &w.env, before, (&after, &after_json), &paths) {
        let on_own_view = concurrent
            && is_balance_rule(&e)
            && authorized_on_authors_view(ctx, &actor, w, &deps, hash, &paths);
        if !on_own_view {
            w.rollback();
            return (reject(e.code(), e.to_string()), vec![]);
        }
    }
    w.known.insert(hash);
    w.accepted.push(c.bytes.clone());
    w.typed = Some(after);
    w.json = Some(after_json);
    w.hydrated = Some(hv);
    (Decision::Accepted, touched_fields(&paths))
}

/// A sale's balance rules: closed means fully paid, open means not overpaid. They hold on each
/// author's view, yet concurrent changes of two tills can break them in the merged document
/// without either being wrong: one till takes the payment and closes the sale while another,
/// which had pulled it half-synced, adds a line to what it saw as an open ticket. Refusing the
/// close would make a paid sale and its printed receipt vanish; so such a change is judged on
/// what its author saw, and the merged sale keeps its balance for head office to settle
/// (`p_closed_sales_with_balance`). Handing back an overpayment is judged the same way: the
/// amount is what its author's till showed as overpaid.
fn is_balance_rule(e: &pos_core::policy::PolicyError) -> bool {
    matches!(
        e,
        pos_core::policy::PolicyError::Sale(
            pos_core::sale::SaleError::NotFullyPaid { .. }
                | pos_core::sale::SaleError::Overpayment { .. }
                | pos_core::sale::SaleError::NothingToReturn { .. }
                | pos_core::sale::SaleError::ReturnMismatch { .. }
        )
    )
}

/// Whether the change passes the policy on its author's view: the document at its own
/// dependencies before, and at the change itself after (only for [`is_balance_rule`] refusals
/// of concurrent changes; reads history, so it costs a whole-document read or two).
fn authorized_on_authors_view(
    ctx: &BatchContext<'_>,
    actor: &Actor,
    w: &Working,
    deps: &[ChangeHash],
    hash: ChangeHash,
    paths: &[pos_core::doc::PatchPath],
) -> bool {
    let view = |heads: &[ChangeHash]| -> Option<(AnyDoc, serde_json::Value)> {
        let hv = w.am.hydrate(automerge::ROOT, Some(heads)).ok()?;
        let doc = AnyDoc::from_hydrated(w.env.doc_type, &hv).ok()?;
        let json = doc.to_json();
        Some((doc, json))
    };
    let Some((after, after_json)) = view(&[hash]) else {
        return false;
    };
    let before = if deps.is_empty() { None } else { view(deps) };
    if !deps.is_empty() && before.is_none() {
        return false;
    }
    authorize_json(
        ctx,
        actor,
        &w.env,
        before.as_ref().map(|(d, j)| (d, j)),
        (&after, &after_json),
        paths,
    )
    .is_ok()
}

/// The fields a change touched, for its audit event: sorted, each once, and a field the change
/// put whole (a new sale line, a new payment) stands for everything under it. A line added
/// with its fifteen fields is `lines.<id>`, not sixteen entries (a busy sale's audit event
/// was 5–7 kB, most of it the fields of its new lines).
fn touched_fields(paths: &[pos_core::doc::PatchPath]) -> Vec<String> {
    let mut all: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
    all.sort();
    all.dedup();
    let mut out: Vec<String> = Vec::with_capacity(all.len());
    for f in all {
        let under_kept = out.iter().rev().any(|k| {
            f.len() > k.len() && f.starts_with(k.as_str()) && f.as_bytes()[k.len()] == b'.'
        });
        if !under_kept {
            out.push(f);
        }
    }
    out
}

/// Concurrent values of the fields head office must see: an item's price and store prices.
fn conflicts_of(am: &AutoCommit, doc: &AnyDoc) -> Vec<FieldConflict> {
    let AnyDoc::Item(_) = doc else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let scalar_values =
        |vals: Vec<(automerge::Value<'_>, automerge::ObjId)>| -> Vec<serde_json::Value> {
            vals.into_iter()
                .filter_map(|(v, _)| match v {
                    automerge::Value::Scalar(s) => Some(match s.as_ref() {
                        automerge::ScalarValue::Int(i) => serde_json::json!(i),
                        other => serde_json::json!(other.to_string()),
                    }),
                    _ => None,
                })
                .collect()
        };
    let winner = |obj: &automerge::ObjId, key: &str| -> serde_json::Value {
        match am.get(obj, key) {
            Ok(Some((v, id))) => scalar_values(vec![(v, id)]).pop().unwrap_or_default(),
            _ => serde_json::Value::Null,
        }
    };
    if let Ok(vals) = am.get_all(automerge::ROOT, "price") {
        if vals.len() > 1 {
            out.push(FieldConflict {
                field: "price".into(),
                winner: winner(&automerge::ROOT, "price"),
                values: scalar_values(vals),
            });
        }
    }
    if let Ok(Some((automerge::Value::Object(_), sp))) = am.get(automerge::ROOT, "store_prices") {
        for key in am.keys(&sp).collect::<Vec<_>>() {
            if let Ok(vals) = am.get_all(&sp, key.as_str()) {
                if vals.len() > 1 {
                    out.push(FieldConflict {
                        field: format!("store_prices.{key}"),
                        winner: winner(&sp, &key),
                        values: scalar_values(vals),
                    });
                }
            }
        }
    }
    out
}

/// One wire result per pushed change, in order, from a merge's decisions: `seqs` maps the
/// index of each accepted change to the sequence the server gave it, and every
/// `Decision::Duplicate` carries its sequence (the caller filled in the `seq: 0` ones). A copy of
/// a change earlier in the batch gets that change's answer: "duplicate" only when the first copy
/// is on the server, never when it was refused or must be sent again (the device drops a change
/// answered "duplicate" from its outbox). Both servers, Postgres and in-memory, answer with this.
pub fn answers(
    decisions: &[Decision],
    changes: &[WireChange],
    seqs: &HashMap<usize, i64>,
    retry_after_ms: u64,
) -> Vec<crate::wire::PushResult> {
    use crate::wire::PushResult;
    let mut results: Vec<PushResult> = Vec::with_capacity(changes.len());
    for (d, c) in decisions.iter().zip(changes) {
        let hash = c.hash.clone();
        let r = match d {
            Decision::Accepted => match seqs.get(&results.len()) {
                Some(seq) => PushResult::Accepted { hash, seq: *seq },
                None => PushResult::Rejected {
                    hash,
                    code: "internal".into(),
                    message: "accepted change without a sequence".into(),
                },
            },
            Decision::Duplicate { seq } => PushResult::Duplicate { hash, seq: *seq },
            Decision::DuplicateInBatch { index } => match results.get(*index) {
                Some(PushResult::Accepted { seq, .. } | PushResult::Duplicate { seq, .. }) => {
                    PushResult::Duplicate { hash, seq: *seq }
                }
                Some(PushResult::Rejected { code, message, .. }) => PushResult::Rejected {
                    hash,
                    code: code.clone(),
                    message: message.clone(),
                },
                _ => PushResult::RetryAfter {
                    hash,
                    missing: Vec::new(),
                    after_ms: retry_after_ms,
                },
            },
            Decision::Rejected { code, message } => PushResult::Rejected {
                hash,
                code: code.clone(),
                message: message.clone(),
            },
            Decision::RetryAfter { missing } => PushResult::RetryAfter {
                hash,
                missing: missing.clone(),
                after_ms: retry_after_ms,
            },
        };
        results.push(r);
    }
    results
}

/// A stored document as bytes automerge can `load`: its snapshot followed by the raw changes
/// stored after it (automerge loads a sequence of chunks). No `save()`: that is the expensive
/// step (about 1.4 ms a document), and bootstrap sends whole stores.
pub fn loadable_bytes(doc: &MasterDoc) -> Vec<u8> {
    let mut out = doc.snapshot.clone().unwrap_or_default();
    for c in &doc.changes {
        out.extend_from_slice(c);
    }
    out
}

/// Convenience for the server and tests: the typed state of a stored document.
pub fn load_master(doc: &MasterDoc) -> Result<(AutoCommit, AnyDoc), String> {
    let am = load(doc)?;
    let typed = AnyDoc::hydrate(doc.envelope.doc_type, &am).map_err(|e| e.to_string())?;
    Ok((am, typed))
}

/// Writes a server-side edit (head office publishing an item or a price) as a change on the
/// server's copy of a document, ready to go through [`merge`] like any device's change.
/// `before` is `None` for a new document.
pub fn author_change<D: Document>(
    envelope: Envelope,
    before: Option<&MasterDoc>,
    after: &D,
    actor_bytes: &[u8],
) -> Result<(String, Vec<u8>), String> {
    let (mut am, before_json) = match before {
        Some(m) => {
            let (am, typed) = load_master(m)?;
            (am, typed.to_json())
        }
        None => (AutoCommit::new(), serde_json::json!({})),
    };
    am.set_actor(automerge::ActorId::from(actor_bytes.to_vec()));
    let _ = envelope;
    after
        .clone()
        .into_any()
        .write_into(&mut am, &before_json)
        .map_err(|e| e.to_string())?;
    am.commit().ok_or_else(|| "no change".to_string())?;
    let ch = am
        .get_last_local_change()
        .ok_or_else(|| "no change".to_string())?;
    Ok((ch.hash().to_string(), ch.raw_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    /// A new line is one audit field; an edit of a line's quantity names the quantity.
    #[test]
    fn a_field_put_whole_stands_for_the_fields_under_it() {
        let mut am = AutoCommit::new();
        am.update_diff_cursor();
        let lines = am
            .put_object(automerge::ROOT, "lines", automerge::ObjType::Map)
            .unwrap();
        am.commit();
        let _ = am.diff_incremental();
        let line = am
            .put_object(&lines, "l1", automerge::ObjType::Map)
            .unwrap();
        am.put(&line, "qty", 1).unwrap();
        am.put(&line, "name", "Latte").unwrap();
        am.put(automerge::ROOT, "status", "open").unwrap();
        am.commit();
        let added = touched_fields(&patch_paths(&am.diff_incremental()));
        assert_eq!(added, ["lines.l1", "status"]);
        am.put(&line, "qty", 2).unwrap();
        am.commit();
        let edited = touched_fields(&patch_paths(&am.diff_incremental()));
        assert_eq!(edited, ["lines.l1.qty"]);
    }

    /// A snapshot followed by raw change chunks loads as the whole document, without `save()`.
    #[test]
    fn snapshot_plus_changes_load_as_one_document() {
        let mut am = AutoCommit::new();
        am.put(automerge::ROOT, "a", 1).unwrap();
        am.commit();
        let snapshot = am.save();
        let mut changes = Vec::new();
        for v in 2..5 {
            am.put(automerge::ROOT, "a", v).unwrap();
            am.commit();
            changes.push(am.get_last_local_change().unwrap().raw_bytes().to_vec());
        }
        let env = Envelope {
            doc_id: Uuid::now_v7(),
            tenant_id: Uuid::now_v7(),
            store_id: Some(Uuid::now_v7()),
            doc_type: DocType::Sale,
            created_by_device: Uuid::now_v7(),
        };
        for snap in [Some(snapshot), None] {
            let doc = MasterDoc {
                envelope: env,
                snapshot: snap.clone(),
                changes: changes.clone(),
            };
            let loaded = AutoCommit::load(&loadable_bytes(&doc));
            if snap.is_none() {
                // changes alone (without the first) miss their dependency: automerge still loads
                // them, but queued; only snapshot + changes is a whole document.
                continue;
            }
            let mut loaded = loaded.unwrap();
            assert_eq!(loaded.get_heads(), am.get_heads());
            let v = loaded.get(automerge::ROOT, "a").unwrap().unwrap().0;
            assert_eq!(v.to_i64(), Some(4));
        }
    }
}
