//! An in-memory server around [`crate::merge::merge`]: the reference the engine's unit and
//! property tests (and the merge benchmark) run against. It holds documents, a change log with
//! per-tenant sequences, store settings and staff roles, exactly as the Postgres server does, but
//! in maps. It is not the proof of any feature: the end-to-end tests use the real server.

use std::collections::HashMap;

use pos_core::auth::Role;
use pos_core::catalog::StoreSettings;
use pos_core::doc::{AnyDoc, DocType, Envelope};
use pos_core::policy::PolicyContext;
use pos_core::refund::Refund;
use pos_core::sale::Sale;
use uuid::Uuid;

use crate::device::{Transport, TransportError};
use crate::merge::{answers, load_master, merge, Decision, MasterDoc, Scope};
use crate::wire::{
    BootstrapPage, DocSnapshot, PullResponse, PulledChange, PushRequest, PushResponse,
    ReceiptEmailRequest, ReceiptEmailResponse, ReceiptEmailResult, StaffRecord,
};

/// One tenant's server state.
#[derive(Debug, Default, Clone)]
pub struct MemoryServer {
    pub tenant_id: Uuid,
    pub docs: HashMap<Uuid, MasterDoc>,
    typed: HashMap<Uuid, AnyDoc>,
    /// `(seq, envelope, hash, bytes)` in sequence order.
    /// Sequence, envelope, hash, bytes, authoring device.
    pub log: Vec<(i64, Envelope, String, Vec<u8>, Uuid)>,
    hashes: HashMap<String, i64>,
    /// Staff per store: user id → (name, role, pin hash).
    pub staff: HashMap<Uuid, HashMap<Uuid, (String, Role, Option<String>)>>,
    pub revoked: Vec<Uuid>,
    /// Concurrent field values per document, as the last merge reported them.
    pub conflicts: HashMap<Uuid, Vec<crate::merge::FieldConflict>>,
    /// Receipt emails queued, by the device's id: document, address, rendered receipt.
    pub receipt_emails: HashMap<Uuid, (Uuid, String, crate::mail::ReceiptText)>,
    /// Refused changes, as the store's devices learn of them: (store, notice), one per hash.
    pub refusals: Vec<(Uuid, crate::wire::RefusalNotice)>,
}

struct Ctx<'a> {
    server: &'a MemoryServer,
    store_id: Uuid,
}

impl PolicyContext for Ctx<'_> {
    /// The in-memory server has every module (entitlements are the real server's).
    fn module_enabled(&self, _module: pos_core::modules::Module) -> bool {
        true
    }

    fn settings(&self, store_id: Uuid) -> Option<StoreSettings> {
        self.server.docs.values().find_map(|d| {
            (d.envelope.doc_type == DocType::StoreSettings && d.envelope.store_id == Some(store_id))
                .then(|| match self.server.typed.get(&d.envelope.doc_id) {
                    Some(AnyDoc::StoreSettings(s)) => Some(s.clone()),
                    _ => None,
                })
                .flatten()
        })
    }

    fn role_of(&self, user_id: &str) -> Option<Role> {
        let id: Uuid = user_id.parse().ok()?;
        self.server.staff.get(&self.store_id)?.get(&id).map(|s| s.1)
    }

    fn sale_and_refunds(
        &self,
        sale_id: Uuid,
        excluding: Uuid,
    ) -> Option<(Sale, Vec<(Uuid, Refund)>)> {
        let sale = match self.server.typed.get(&sale_id)? {
            AnyDoc::Sale(s) => s.clone(),
            _ => return None,
        };
        let refunds = self
            .server
            .typed
            .iter()
            .filter_map(|(id, d)| match d {
                AnyDoc::Refund(r) if *id != excluding && r.sale_id == sale_id.to_string() => {
                    Some((*id, r.clone()))
                }
                _ => None,
            })
            .collect();
        Some((sale, refunds))
    }
}

impl MemoryServer {
    pub fn new(tenant_id: Uuid) -> MemoryServer {
        MemoryServer {
            tenant_id,
            ..MemoryServer::default()
        }
    }

    /// Registers a staff member of a store.
    pub fn add_staff(
        &mut self,
        store_id: Uuid,
        user_id: Uuid,
        name: &str,
        role: Role,
        pin_hash: Option<String>,
    ) {
        self.staff
            .entry(store_id)
            .or_default()
            .insert(user_id, (name.to_string(), role, pin_hash));
    }

    /// Handles a push from the device `scope` names.
    pub fn push(&mut self, scope: &Scope, req: &PushRequest) -> PushResponse {
        let ids: Vec<Uuid> = req.changes.iter().map(|c| c.envelope.doc_id).collect();
        let docs: HashMap<Uuid, MasterDoc> = ids
            .iter()
            .filter_map(|id| self.docs.get(id).map(|d| (*id, d.clone())))
            .collect();
        // As the Postgres server: no tenant-wide hash lookup; a change its document holds is a
        // duplicate, whose sequence is found by document and hash.
        let outcome = {
            let ctx = Ctx {
                server: self,
                store_id: scope.store_id,
            };
            merge(scope, &ctx, docs, &HashMap::new(), &req.changes)
        };
        let mut seq_of: HashMap<usize, i64> = HashMap::new();
        for a in &outcome.accepted {
            let seq = self.log.last().map(|l| l.0).unwrap_or(0) + 1;
            self.log.push((
                seq,
                a.envelope,
                a.hash.clone(),
                a.bytes.clone(),
                a.author.device_id,
            ));
            self.hashes.insert(a.hash.clone(), seq);
            seq_of.insert(a.index, seq);
        }
        for u in outcome.docs {
            let id = u.envelope.doc_id;
            let entry = self.docs.entry(id).or_insert(MasterDoc {
                envelope: u.envelope,
                snapshot: None,
                changes: Vec::new(),
            });
            match u.snapshot {
                Some(s) => {
                    entry.snapshot = Some(s);
                    entry.changes.clear();
                }
                None => entry.changes.extend(u.appended),
            }
            self.typed.insert(id, u.doc);
            if u.conflicts.is_empty() {
                self.conflicts.remove(&id);
            } else {
                self.conflicts.insert(id, u.conflicts);
            }
        }
        // As the Postgres server: a duplicate's sequence is found by document and hash.
        let mut decisions = outcome.decisions;
        for (d, c) in decisions.iter_mut().zip(&req.changes) {
            if let Decision::Duplicate { seq } = d {
                if *seq == 0 {
                    *seq = self
                        .log
                        .iter()
                        .find(|l| l.1.doc_id == c.envelope.doc_id && l.2 == c.hash)
                        .map(|l| l.0)
                        .unwrap_or(0);
                }
            }
        }
        // As the Postgres server: every refusal becomes a notice for the pusher's store.
        for (d, c) in decisions.iter().zip(&req.changes) {
            if let Decision::Rejected { code, message } = d {
                if self.refusals.iter().any(|(_, n)| n.hash == c.hash) {
                    continue;
                }
                let id = self.refusals.len() as i64 + 1;
                self.refusals.push((
                    scope.store_id,
                    crate::wire::RefusalNotice {
                        id,
                        doc_id: c.envelope.doc_id,
                        hash: c.hash.clone(),
                        author_device: c.author.device_id,
                        pushed_by: scope.device_id,
                        code: code.to_string(),
                        message: message.clone(),
                        at: pos_core::store::now_ms(),
                    },
                ));
            }
        }
        let results = answers(&decisions, &req.changes, &seq_of, 1_000);
        PushResponse { results }
    }

    /// The store's refusal notices after `after`, oldest first.
    pub fn refusals_of(&self, store_id: Uuid, after: i64) -> crate::wire::RefusalsPage {
        crate::wire::RefusalsPage {
            refusals: self
                .refusals
                .iter()
                .filter(|(s, n)| *s == store_id && n.id > after)
                .map(|(_, n)| n.clone())
                .collect(),
            more: false,
        }
    }

    /// Changes in a store's scope (its own documents and tenant-wide ones) after `cursor`.
    /// Like the real server, a device is not sent its own changes back.
    pub fn pull(&self, scope: &Scope, cursor: i64, limit: usize) -> PullResponse {
        let mut changes = Vec::new();
        let mut last = cursor;
        let mut more = false;
        for (seq, env, hash, bytes, author) in self.log.iter().filter(|l| l.0 > cursor) {
            if env.store_id.is_some_and(|s| s != scope.store_id) || *author == scope.device_id {
                last = *seq;
                continue;
            }
            if changes.len() == limit {
                more = true;
                break;
            }
            changes.push(PulledChange {
                seq: *seq,
                envelope: *env,
                hash: hash.clone(),
                bytes: bytes.clone(),
            });
            last = *seq;
        }
        PullResponse {
            changes,
            cursor: last,
            more,
        }
    }

    /// The server's state of a document, as a snapshot.
    pub fn document(&self, doc_id: Uuid) -> Option<DocSnapshot> {
        let d = self.docs.get(&doc_id)?;
        let (mut am, _) = load_master(d).ok()?;
        Some(DocSnapshot {
            envelope: d.envelope,
            bytes: am.save(),
        })
    }

    /// Every document of a store (and the tenant's catalog), as snapshots, in one page.
    pub fn bootstrap(&self, store_id: Uuid) -> BootstrapPage {
        let docs: Vec<DocSnapshot> = self
            .docs
            .values()
            .filter(|d| d.envelope.store_id.is_none_or(|s| s == store_id))
            .filter_map(|d| self.document(d.envelope.doc_id))
            .collect();
        BootstrapPage {
            total: docs.len() as i64,
            docs,
            cursor: self.log.last().map(|l| l.0).unwrap_or(0),
            next: None,
        }
    }

    /// Queues receipt emails as the real server does (idempotent by id), without a spool.
    pub fn receipt_emails(
        &mut self,
        scope: &Scope,
        req: &ReceiptEmailRequest,
    ) -> ReceiptEmailResponse {
        let mut results = Vec::with_capacity(req.emails.len());
        for e in &req.emails {
            if self.receipt_emails.contains_key(&e.id) {
                results.push(ReceiptEmailResult::Queued { id: e.id });
                continue;
            }
            let stored = self
                .docs
                .get(&e.doc_id)
                .and_then(|d| Some((&d.envelope, self.typed.get(&e.doc_id)?)));
            let checked = crate::mail::check(scope, e.doc_id, stored, &e.email).and_then(|to| {
                let settings = Ctx {
                    server: self,
                    store_id: scope.store_id,
                }
                .settings(scope.store_id);
                let doc = self.typed.get(&e.doc_id).ok_or(crate::mail::Refusal {
                    code: "unknown_document",
                    message: "gone".into(),
                })?;
                let text = crate::mail::render(doc, settings.as_ref()).map_err(|m| {
                    crate::mail::Refusal {
                        code: "not_a_receipt",
                        message: m,
                    }
                })?;
                Ok((to, text))
            });
            match checked {
                Ok((to, text)) => {
                    self.receipt_emails.insert(e.id, (e.doc_id, to, text));
                    results.push(ReceiptEmailResult::Queued { id: e.id });
                }
                Err(r) => results.push(ReceiptEmailResult::Refused {
                    id: e.id,
                    code: r.code.to_string(),
                    message: r.message,
                }),
            }
        }
        ReceiptEmailResponse { results }
    }

    /// The typed state of a document on the server.
    pub fn typed(&self, doc_id: Uuid) -> Option<&AnyDoc> {
        self.typed.get(&doc_id)
    }
}

/// A [`Transport`] from one device to a shared [`MemoryServer`], with a switch to cut the
/// network.
pub struct MemoryTransport<'a> {
    pub server: &'a std::sync::Mutex<MemoryServer>,
    pub scope: Scope,
    pub online: bool,
}

impl MemoryTransport<'_> {
    fn server(&self) -> Result<std::sync::MutexGuard<'_, MemoryServer>, TransportError> {
        if !self.online {
            return Err(TransportError::Unreachable("network is down".into()));
        }
        let s = self
            .server
            .lock()
            .map_err(|_| TransportError::Unreachable("server crashed".into()))?;
        if s.revoked.contains(&self.scope.device_id) {
            return Err(TransportError::Unauthorized("device revoked".into()));
        }
        Ok(s)
    }
}

impl Transport for MemoryTransport<'_> {
    fn push(&mut self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        let scope = self.scope;
        Ok(self.server()?.push(&scope, req))
    }

    fn pull(&mut self, cursor: i64, limit: usize) -> Result<PullResponse, TransportError> {
        let scope = self.scope;
        Ok(self.server()?.pull(&scope, cursor, limit))
    }

    fn document(&mut self, doc_id: Uuid) -> Result<Option<DocSnapshot>, TransportError> {
        Ok(self.server()?.document(doc_id))
    }

    fn bootstrap(&mut self, _page: Option<&str>) -> Result<BootstrapPage, TransportError> {
        Ok(self.server()?.bootstrap(self.scope.store_id))
    }

    fn refusals(
        &mut self,
        after: i64,
    ) -> Result<Option<crate::wire::RefusalsPage>, TransportError> {
        let store = self.scope.store_id;
        Ok(Some(self.server()?.refusals_of(store, after)))
    }

    fn staff(&mut self) -> Result<Vec<StaffRecord>, TransportError> {
        let store = self.scope.store_id;
        Ok(self
            .server()?
            .staff
            .get(&store)
            .map(|m| {
                m.iter()
                    .map(|(id, (name, role, pin))| StaffRecord {
                        user_id: *id,
                        name: name.clone(),
                        role: role.as_str().to_string(),
                        pin_hash: pin.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    fn receipt_emails(
        &mut self,
        req: &ReceiptEmailRequest,
    ) -> Result<ReceiptEmailResponse, TransportError> {
        let scope = self.scope;
        Ok(self.server()?.receipt_emails(&scope, req))
    }
}
