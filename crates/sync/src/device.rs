//! The device sync engine: push the outbox, handle each answer, pull by cursor.
//!
//! One [`SyncEngine::sync_once`] call:
//! 1. pushes the outbox in batches of [`PUSH_BATCH`], oldest first;
//!    - accepted and duplicate changes leave the outbox;
//!    - a **rejected** change resets its document to the server's state (dropping the local
//!      changes built on it), is recorded as a visible sync problem, and is never sent again;
//!    - a change answered **retry after** stays in the outbox and is not sent again in this
//!      round (its dependency is on its way), so the engine cannot loop on it;
//! 2. hands the receipts queued for email to the server, once their document has left the
//!    outbox (the server mails a receipt it has): queued ones are marked sent, refused ones are
//!    marked refused with the server's reason and never sent again, and a transport failure
//!    leaves them pending;
//! 3. pulls everything after the cursor, page by page, and applies it through the store's
//!    write path, moving the cursor with each page.
//!
//! Transport failures put the engine in backoff (exponential, capped); [`SyncStatus`] is what
//! the UI shows. The engine is synchronous and knows nothing of HTTP: [`Transport`] is
//! implemented over HTTP in [`crate::http`] and in memory by the tests.

use std::collections::HashSet;

use pos_core::store::{OutboxEntry, Store, StoreError};
use serde::Serialize;
use thiserror::Error;
use uuid::Uuid;

use crate::wire::{
    Author, BootstrapPage, DocSnapshot, PullResponse, PushRequest, PushResponse, PushResult,
    ReceiptEmailItem, ReceiptEmailRequest, ReceiptEmailResponse, ReceiptEmailResult, RefusalsPage,
    StaffRecord, WireChange, MAX_RECEIPT_EMAILS, PROTOCOL_VERSION,
};

/// Changes per push request.
pub const PUSH_BATCH: usize = 1_000;
/// Changes per pull page.
pub const PULL_PAGE: usize = 1_000;

#[derive(Debug, Error)]
pub enum TransportError {
    /// The server cannot be reached (network down, refused, timeout). Retry later.
    #[error("server unreachable: {0}")]
    Unreachable(String),
    /// The server refused the device's credentials (revoked, expired, unknown).
    #[error("not authorized: {0}")]
    Unauthorized(String),
    /// The server answered with an error.
    #[error("server error {status}: {message}")]
    Server { status: u16, message: String },
    /// The answer did not parse.
    #[error("bad answer from server: {0}")]
    Protocol(String),
}

#[derive(Debug, Error)]
pub enum SyncError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the server answered {answers} results for {sent} changes")]
    Mismatch { sent: usize, answers: usize },
}

/// What a device needs from the server.
pub trait Transport {
    fn push(&mut self, req: &PushRequest) -> Result<PushResponse, TransportError>;
    fn pull(&mut self, cursor: i64, limit: usize) -> Result<PullResponse, TransportError>;
    /// The server's current state of a document (`None` if it has none).
    fn document(&mut self, doc_id: Uuid) -> Result<Option<DocSnapshot>, TransportError>;
    fn bootstrap(&mut self, page: Option<&str>) -> Result<BootstrapPage, TransportError>;
    fn staff(&mut self) -> Result<Vec<StaffRecord>, TransportError>;
    /// The tenant's modules (`pos_core::modules`), refreshed with the staff list. A transport
    /// that cannot say gives every module.
    fn entitlements(&mut self) -> Result<pos_core::modules::Entitlements, TransportError> {
        Ok(pos_core::modules::Entitlements::default())
    }
    /// The store mesh's peer list (`GET /v1/sync/peers`), refreshed with the staff list.
    /// `None`: this transport cannot say, and the kept list stays.
    fn peers(&mut self) -> Result<Option<Vec<crate::wire::PeerRecord>>, TransportError> {
        Ok(None)
    }
    /// The store's refusal notices after `after` (`GET /v1/sync/refusals`). `None`: this
    /// transport cannot say (a server of an earlier release), and nothing is undone.
    fn refusals(&mut self, after: i64) -> Result<Option<RefusalsPage>, TransportError> {
        let _ = after;
        Ok(None)
    }
    /// Hands receipts to email to the server; one result per email.
    fn receipt_emails(
        &mut self,
        req: &ReceiptEmailRequest,
    ) -> Result<ReceiptEmailResponse, TransportError>;
}

/// What the UI shows about sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct SyncStatus {
    pub online: bool,
    /// Local changes not yet acknowledged.
    pub pending: i64,
    /// Last successful round, ms since the epoch.
    pub last_success: Option<i64>,
    /// Changes the server refused (see `Store::sync_problems`).
    pub problems: i64,
    pub last_error: Option<String>,
    /// Receipts queued for email on this device, not yet handed to the server.
    pub emails_pending: i64,
    /// Receipt emails the server refused (see `Store::receipt_emails`).
    pub emails_refused: i64,
    /// Milliseconds to wait before the next attempt after a failure.
    pub backoff_ms: u64,
}

/// What one round did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct SyncReport {
    pub pushed: usize,
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: usize,
    pub retry_later: usize,
    pub pulled: usize,
    /// Receipt emails the server queued for sending in this round.
    pub emails_sent: usize,
    /// Receipt emails the server refused in this round.
    pub emails_refused: usize,
    /// Changes of other devices of the store (received over the store mesh) carried to the
    /// server in this round.
    pub relayed: usize,
    /// Changes undone on this device because the cloud refused them (or built on one it
    /// refused), counted with what was built on them.
    pub undone: usize,
}

/// The engine. Keep one per device.
#[derive(Debug, Default)]
pub struct SyncEngine {
    status: SyncStatus,
    failures: u32,
}

const BACKOFF_BASE_MS: u64 = 500;
const BACKOFF_MAX_MS: u64 = 60_000;

/// How the engine reaches the store: directly, or through the mutex an app shares with its
/// sync thread. A shared store is locked for each local step only (read the outbox, mark it
/// done, reset a document, apply a pulled page), **never across a network call**, so a till
/// keeps selling while a server is slow or silent.
trait StoreAccess {
    fn with<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R;
}

impl StoreAccess for &mut Store {
    fn with<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R {
        f(self)
    }
}

impl StoreAccess for &std::sync::Mutex<Store> {
    fn with<R>(&mut self, f: impl FnOnce(&mut Store) -> R) -> R {
        // A poisoned lock means a panic elsewhere while holding the store; SQLite's state is
        // still consistent (every write is one transaction), so carry on.
        let mut guard = self.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

impl SyncEngine {
    pub fn new() -> SyncEngine {
        SyncEngine::default()
    }

    pub fn status(&self) -> &SyncStatus {
        &self.status
    }

    /// One round: push everything, then pull everything. On a transport failure the status goes
    /// offline with a backoff; the outbox is untouched, so nothing is lost.
    pub fn sync_once(
        &mut self,
        store: &mut Store,
        t: &mut dyn Transport,
    ) -> Result<SyncReport, SyncError> {
        self.sync_with(store, t)
    }

    /// [`Self::sync_once`] on a store the app shares: the lock is taken for each local step and
    /// released during every network call.
    pub fn sync_shared(
        &mut self,
        store: &std::sync::Mutex<Store>,
        t: &mut dyn Transport,
    ) -> Result<SyncReport, SyncError> {
        self.sync_with(store, t)
    }

    fn sync_with(
        &mut self,
        mut store: impl StoreAccess,
        t: &mut dyn Transport,
    ) -> Result<SyncReport, SyncError> {
        let result = self.round(&mut store, t);
        let (pending, problems, emails) =
            store.with(|s| (s.outbox_len(), s.sync_problems(), s.receipt_email_counts()));
        self.status.pending = pending.unwrap_or(self.status.pending);
        if let Ok((pending, refused)) = emails {
            self.status.emails_pending = pending;
            self.status.emails_refused = refused;
        }
        self.status.problems = problems.map(|p| p.len() as i64).unwrap_or(0);
        match &result {
            Ok(_) => {
                self.failures = 0;
                self.status.online = true;
                self.status.last_success = Some(pos_core::store::now_ms());
                self.status.last_error = None;
                self.status.backoff_ms = 0;
            }
            Err(e) => {
                self.failures = self.failures.saturating_add(1);
                self.status.online =
                    !matches!(e, SyncError::Transport(TransportError::Unreachable(_)));
                self.status.last_error = Some(e.to_string());
                self.status.backoff_ms = BACKOFF_BASE_MS
                    .saturating_mul(1u64 << self.failures.min(16))
                    .min(BACKOFF_MAX_MS);
            }
        }
        result
    }

    fn round(
        &mut self,
        store: &mut impl StoreAccess,
        t: &mut dyn Transport,
    ) -> Result<SyncReport, SyncError> {
        let mut report = SyncReport::default();
        self.push_all(store, t, &mut report)?;
        self.send_emails(store, t, &mut report)?;
        self.pull_all(store, t, &mut report)?;
        self.undo_refused(store, t, &mut report)?;
        Ok(report)
    }

    /// Reads the store's refusal notices and undoes, on this device, each refused change it
    /// holds and what was built on it (it got them from a peer of the store mesh, or made them
    /// itself): the document becomes the cloud's plus the tentative changes that do not depend
    /// on the refused one. A notice of a change this device does not hold is remembered, so a
    /// peer cannot bring the change back. The cloud's state is fetched outside the store lock.
    fn undo_refused(
        &mut self,
        store: &mut impl StoreAccess,
        t: &mut dyn Transport,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        loop {
            let after = store.with(|s| s.refusals_cursor())?;
            let Some(page) = t.refusals(after)? else {
                return Ok(());
            };
            for n in &page.refusals {
                let held = store.with(|s| s.holds_change(n.doc_id, &n.hash))?;
                let cloud = if held { t.document(n.doc_id)? } else { None };
                let undone = store.with(|s| {
                    s.undo_refused(
                        n.doc_id,
                        &n.hash,
                        cloud.as_ref().map(|c| c.bytes.as_slice()),
                        &n.code,
                        &n.message,
                    )
                })?;
                report.undone += undone.dropped.len();
                store.with(|s| s.set_refusals_cursor(n.id))?;
            }
            if !page.more || page.refusals.is_empty() {
                return Ok(());
            }
        }
    }

    /// Pushes the changes received from peers of the store mesh (signed by their authors), after
    /// this device's own: the server checks each against its author's key and authorizes it as
    /// its author. Answered ones are dropped (a refusal is its author's to show); "retry after"
    /// waits for the next round.
    fn push_relayed(
        &mut self,
        store: &mut impl StoreAccess,
        t: &mut dyn Transport,
        report: &mut SyncReport,
    ) -> Result<usize, SyncError> {
        let mut held: HashSet<String> = HashSet::new();
        let mut carried = 0;
        loop {
            let entries: Vec<_> = store
                .with(|s| s.relay_batch(PUSH_BATCH + held.len()))?
                .into_iter()
                .filter(|e| !held.contains(&e.hash))
                .take(PUSH_BATCH)
                .collect();
            if entries.is_empty() {
                return Ok(carried);
            }
            let mut changes = Vec::with_capacity(entries.len());
            let mut unreadable = Vec::new();
            for e in &entries {
                match serde_json::from_slice::<WireChange>(&e.change) {
                    Ok(c) => changes.push(c),
                    Err(_) => unreadable.push(e.hash.clone()),
                }
            }
            if !unreadable.is_empty() {
                store.with(|s| s.relay_done(&unreadable))?;
            }
            if changes.is_empty() {
                continue;
            }
            let resp = t.push(&PushRequest {
                protocol: PROTOCOL_VERSION,
                changes: changes.clone(),
            })?;
            if resp.results.len() != changes.len() {
                return Err(SyncError::Mismatch {
                    sent: changes.len(),
                    answers: resp.results.len(),
                });
            }
            report.relayed += changes.len();
            carried += changes.len();
            let mut done = Vec::new();
            for r in &resp.results {
                match r {
                    PushResult::RetryAfter { hash, .. } => {
                        held.insert(hash.clone());
                    }
                    other => done.push(other.hash().to_string()),
                }
            }
            if done.is_empty() {
                return Ok(carried);
            }
            store.with(|s| s.relay_done(&done))?;
        }
    }

    /// Pushes this device's outbox, then what it carries for its peers, then its own again if
    /// some of it waited for what it carried (a line added to another till's tab).
    fn push_all(
        &mut self,
        store: &mut impl StoreAccess,
        t: &mut dyn Transport,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        let waited = self.push_own(store, t, report)?;
        if self.push_relayed(store, t, report)? > 0 && waited {
            self.push_own(store, t, report)?;
        }
        Ok(())
    }

    /// Pushes the outbox; whether some of it was answered "retry after".
    fn push_own(
        &mut self,
        store: &mut impl StoreAccess,
        t: &mut dyn Transport,
        report: &mut SyncReport,
    ) -> Result<bool, SyncError> {
        let device_id = store.with(|s| s.identity().device_id);
        // Changes answered "retry after" in this round are not sent again in it.
        let mut held: HashSet<String> = HashSet::new();
        loop {
            let batch: Vec<_> = store
                .with(|s| s.outbox_batch(PUSH_BATCH + held.len()))?
                .into_iter()
                .filter(|e| !held.contains(&e.hash))
                .take(PUSH_BATCH)
                .collect();
            if batch.is_empty() {
                return Ok(!held.is_empty());
            }
            let req = PushRequest {
                protocol: PROTOCOL_VERSION,
                changes: wire_changes(&batch, device_id),
            };
            let resp = t.push(&req)?;
            if resp.results.len() != batch.len() {
                return Err(SyncError::Mismatch {
                    sent: batch.len(),
                    answers: resp.results.len(),
                });
            }
            report.pushed += batch.len();
            let mut done = Vec::new();
            let mut retried = 0usize;
            let mut reset: Vec<(usize, String, String)> = Vec::new();
            for (i, r) in resp.results.iter().enumerate() {
                match r {
                    PushResult::Accepted { hash, .. } => {
                        report.accepted += 1;
                        done.push(hash.clone());
                    }
                    PushResult::Duplicate { hash, .. } => {
                        report.duplicates += 1;
                        done.push(hash.clone());
                    }
                    PushResult::Rejected { code, message, .. } => {
                        report.rejected += 1;
                        reset.push((i, code.clone(), message.clone()));
                    }
                    PushResult::RetryAfter { hash, .. } => {
                        report.retry_later += 1;
                        retried += 1;
                        held.insert(hash.clone());
                    }
                }
            }
            let progressed = !done.is_empty() || !reset.is_empty() || retried > 0;
            store.with(|s| s.outbox_done(&done))?;
            if !progressed {
                return Ok(!held.is_empty());
            }
            let mut reset_docs: HashSet<Uuid> = HashSet::new();
            for (i, code, message) in reset {
                let entry = &batch[i];
                if !reset_docs.insert(entry.envelope.doc_id) {
                    continue;
                }
                let snapshot = t.document(entry.envelope.doc_id)?;
                store.with(|s| {
                    s.reset_document(
                        &entry.envelope,
                        snapshot.as_ref().map(|s| s.bytes.as_slice()),
                        (&entry.hash, &code, &message),
                    )
                })?;
                // Its other outbox entries went with the reset.
                for e in batch
                    .iter()
                    .filter(|e| e.envelope.doc_id == entry.envelope.doc_id)
                {
                    held.insert(e.hash.clone());
                }
            }
        }
    }

    /// Hands the queued receipt emails whose document the server has to the server, in
    /// batches. The store is locked to read a batch and to record the answers, never during the
    /// call.
    fn send_emails(
        &mut self,
        store: &mut impl StoreAccess,
        t: &mut dyn Transport,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        loop {
            let batch = store.with(|s| s.receipt_emails_to_send(MAX_RECEIPT_EMAILS))?;
            if batch.is_empty() {
                return Ok(());
            }
            let req = ReceiptEmailRequest {
                protocol: PROTOCOL_VERSION,
                emails: batch
                    .iter()
                    .map(|e| ReceiptEmailItem {
                        id: e.id,
                        doc_id: e.doc_id,
                        email: e.email.clone(),
                    })
                    .collect(),
            };
            let resp = t.receipt_emails(&req)?;
            if resp.results.len() != batch.len() {
                return Err(SyncError::Mismatch {
                    sent: batch.len(),
                    answers: resp.results.len(),
                });
            }
            let asked: HashSet<Uuid> = batch.iter().map(|e| e.id).collect();
            let mut sent = Vec::new();
            let mut refused = Vec::new();
            for r in resp.results {
                if !asked.contains(&r.id()) {
                    continue;
                }
                match r {
                    ReceiptEmailResult::Queued { id } => sent.push(id),
                    ReceiptEmailResult::Refused { id, code, message } => {
                        refused.push((id, code, message))
                    }
                }
            }
            let answered = sent.len() + refused.len();
            report.emails_sent += sent.len();
            report.emails_refused += refused.len();
            store.with(|s| -> Result<(), StoreError> {
                s.receipt_emails_sent(&sent)?;
                for (id, code, message) in &refused {
                    s.receipt_email_refused(*id, code, message)?;
                }
                Ok(())
            })?;
            if answered == 0 || batch.len() < MAX_RECEIPT_EMAILS {
                return Ok(());
            }
        }
    }

    fn pull_all(
        &mut self,
        store: &mut impl StoreAccess,
        t: &mut dyn Transport,
        report: &mut SyncReport,
    ) -> Result<(), SyncError> {
        loop {
            let cursor = store.with(|s| s.sync_cursor())?;
            let page = t.pull(cursor, PULL_PAGE)?;
            let changes: Vec<_> = page
                .changes
                .iter()
                .map(|c| (c.envelope, c.bytes.clone()))
                .collect();
            let applied = store.with(|s| -> Result<_, StoreError> {
                let applied = s.apply_remote(&changes)?;
                if page.cursor > cursor {
                    s.set_sync_cursor(page.cursor)?;
                }
                Ok(applied)
            })?;
            report.pulled += applied.applied;
            if !page.more || page.changes.is_empty() {
                return Ok(());
            }
        }
    }

    /// Brings a freshly enrolled device's store up to date from document snapshots (not the
    /// whole history), then pulls from the bootstrap's cursor. `progress(done, total)` is called
    /// after each page, for a progress bar.
    pub fn bootstrap(
        &mut self,
        store: &mut Store,
        t: &mut (dyn Transport + Send),
        mut progress: impl FnMut(i64, i64),
    ) -> Result<SyncReport, SyncError> {
        // The next page is fetched while this one is imported: a thread fetches, one page ahead.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<BootstrapPage, TransportError>>(1);
        let cursor = std::thread::scope(|s| -> Result<Option<i64>, SyncError> {
            let fetch = &mut *t;
            s.spawn(move || {
                let mut token: Option<String> = None;
                loop {
                    let page = fetch.bootstrap(token.as_deref());
                    let next = page.as_ref().ok().and_then(|p| p.next.clone());
                    let last = next.is_none();
                    // A closed channel means the importer stopped (an error): stop too.
                    if tx.send(page).is_err() || last {
                        return;
                    }
                    token = next;
                }
            });
            let mut cursor: Option<i64> = None;
            let mut done = 0i64;
            for page in rx {
                let page = page?;
                cursor.get_or_insert(page.cursor);
                let docs: Vec<_> = page
                    .docs
                    .iter()
                    .map(|d| (d.envelope, d.bytes.as_slice()))
                    .collect();
                store.import_snapshots(&docs)?;
                done += page.docs.len() as i64;
                progress(done, page.total);
            }
            Ok(cursor)
        })?;
        self.refresh_staff(store, t)?;
        if let Some(c) = cursor {
            store.set_sync_cursor(c)?;
        }
        self.sync_once(store, t)
    }

    /// Replaces the store's staff list (with PIN hashes) by the server's.
    pub fn refresh_staff(
        &mut self,
        store: &mut Store,
        t: &mut dyn Transport,
    ) -> Result<(), SyncError> {
        refresh_staff_with(store, t)
    }

    /// [`Self::refresh_staff`] on a shared store: fetched without the lock, stored under it.
    pub fn refresh_staff_shared(
        &mut self,
        store: &std::sync::Mutex<Store>,
        t: &mut dyn Transport,
    ) -> Result<(), SyncError> {
        refresh_staff_with(store, t)
    }
}

/// Replaces the device's staff with the server's list: new and changed staff (names, roles, PIN
/// hashes) are written, and staff the server no longer lists can no longer log in here.
fn refresh_staff_with(mut store: impl StoreAccess, t: &mut dyn Transport) -> Result<(), SyncError> {
    let mut staff = Vec::new();
    for s in t.staff()? {
        let role = s
            .role
            .parse()
            .map_err(|e: pos_core::auth::AuthError| TransportError::Protocol(e.to_string()))?;
        staff.push((s.user_id, s.name, role, s.pin_hash));
    }
    let modules = t.entitlements()?;
    let peers = t.peers()?;
    store.with(|s| s.replace_staff(&staff))?;
    store.with(|s| s.set_entitlements(&modules))?;
    if let Some(peers) = peers {
        let json =
            serde_json::to_string(&peers).map_err(|e| TransportError::Protocol(e.to_string()))?;
        store.with(|s| s.set_mesh_peers(&json))?;
    }
    Ok(())
}

/// Outbox entries as pushed by `device_id` (the author's user is the entry's).
pub fn wire_changes(entries: &[OutboxEntry], device_id: Uuid) -> Vec<WireChange> {
    entries
        .iter()
        .map(|e| WireChange {
            envelope: e.envelope,
            hash: e.hash.clone(),
            bytes: e.bytes.clone(),
            author: Author {
                user_id: e.user_id,
                device_id,
            },
            signature: None,
        })
        .collect()
}
