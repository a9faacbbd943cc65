//! What the sync engine needs from the replica: the outbox to push, acknowledgements, remote
//! changes to apply, and resets of refused documents. Every one of these goes through the same
//! transaction, cache and projection code as a local write; only the outbox and the policy
//! differ (a remote change was authorized by the server; it never enters the outbox).

use automerge::{ActorId, AutoCommit, ChangeHash, ReadDoc};
use rusqlite::params;
use serde::Serialize;
use uuid::Uuid;

use super::{heads_text, now_ms, put_document_row, write_projection, CachedDoc, Store, StoreError};
use crate::doc::{AnyDoc, Envelope};
use crate::projection::tables_of;

/// A local change waiting for the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub seq: i64,
    pub envelope: Envelope,
    pub hash: String,
    pub bytes: Vec<u8>,
    pub user_id: Uuid,
}

/// A change received from a peer of the store mesh, kept for the cloud: `change` is the wire
/// form with its author's signature, opaque to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayEntry {
    pub hash: String,
    pub doc_id: Uuid,
    pub author_device: Uuid,
    pub change: Vec<u8>,
}

/// What the policy reads to judge changes from a peer of the store mesh: the replica as
/// committed, through a read-only connection of its own, so that the merge engine may ask from
/// several threads. Roles are not capped here: the merge caps each change's roles by its
/// author's device kind.
pub struct PeerFacts {
    conn: std::sync::Mutex<rusqlite::Connection>,
    settings: Option<(Uuid, crate::catalog::StoreSettings)>,
}

impl PeerFacts {
    fn with<R>(&self, f: impl FnOnce(&super::LocalContext<'_>) -> Option<R>) -> Option<R> {
        let conn = self.conn.lock().ok()?;
        f(&super::LocalContext {
            tx: &conn,
            settings: self.settings.as_ref(),
            kind: crate::auth::DeviceKind::Till,
        })
    }
}

impl crate::policy::PolicyContext for PeerFacts {
    fn settings(&self, store_id: Uuid) -> Option<crate::catalog::StoreSettings> {
        self.with(|c| c.settings(store_id))
    }

    fn role_of(&self, user_id: &str) -> Option<crate::auth::Role> {
        self.with(|c| c.role_of(user_id))
    }

    fn sale_and_refunds(
        &self,
        sale_id: Uuid,
        excluding: Uuid,
    ) -> Option<(crate::sale::Sale, Vec<(Uuid, crate::refund::Refund)>)> {
        self.with(|c| c.sale_and_refunds(sale_id, excluding))
    }

    fn module_enabled(&self, module: crate::modules::Module) -> bool {
        self.with(|c| Some(c.module_enabled(module)))
            .unwrap_or(true)
    }
}

/// A change the server refused, as the UI lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncProblem {
    pub id: i64,
    pub doc_id: Uuid,
    pub doc_type: String,
    pub change_hash: String,
    pub code: String,
    pub message: String,
    pub at: i64,
}

/// What [`Store::apply_remote`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ApplyReport {
    pub applied: usize,
    /// Already here (our own changes coming back, or a page pulled twice).
    pub already_known: usize,
}

impl Store {
    /// The oldest `limit` outbox entries, in order.
    pub fn outbox_batch(&self, limit: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT o.seq, o.doc_id, o.change_hash, o.bytes, o.user_id
             FROM outbox o ORDER BY o.seq LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, doc, hash, bytes, user) = row?;
            let doc_id: Uuid = doc
                .parse()
                .map_err(|_| StoreError::UnknownDocument(Uuid::nil()))?;
            out.push(OutboxEntry {
                seq,
                envelope: self.envelope(doc_id)?,
                hash,
                bytes,
                user_id: user
                    .parse()
                    .map_err(|_| StoreError::UnknownUser(user.clone()))?,
            });
        }
        Ok(out)
    }

    /// Removes acknowledged changes (accepted or duplicate) from the outbox.
    pub fn outbox_done(&mut self, hashes: &[String]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("DELETE FROM outbox WHERE change_hash = ?1")?;
            for h in hashes {
                stmt.execute([h])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// What the policy needs to judge a peer's changes (see [`PeerFacts`]).
    pub fn peer_facts(&self) -> Result<PeerFacts, StoreError> {
        let conn = rusqlite::Connection::open_with_flags(
            self.path(),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        Ok(PeerFacts {
            conn: std::sync::Mutex::new(conn),
            settings: self.settings.clone(),
        })
    }

    /// A document as this replica holds it (`save()` bytes), or `None` when it has none.
    pub fn document_state(&mut self, id: Uuid) -> Result<Option<(Envelope, Vec<u8>)>, StoreError> {
        if let Some(c) = self.cache.get_mut(&id) {
            return Ok(Some((c.env, c.am.save())));
        }
        let exists: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM documents WHERE doc_id = ?1)",
            [id.to_string()],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(None);
        }
        let (env, mut am, _, _) = super::load_doc(&self.conn, id)?;
        Ok(Some((env, am.save())))
    }

    /// Records a change a peer sent that this device refused (the store mesh), as the sync
    /// problems list shows the server's refusals.
    pub fn record_peer_refusal(
        &mut self,
        envelope: &Envelope,
        hash: &str,
        code: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO sync_problems (doc_id, doc_type, change_hash, code, message, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                envelope.doc_id.to_string(),
                envelope.doc_type.as_str(),
                hash,
                code,
                format!("from a store device: {message}"),
                now_ms()
            ],
        )?;
        Ok(())
    }

    /// Applies changes the server accepted (pulled, in server order), through the store's write
    /// path: documents, projections, cache; no outbox and no policy (the server ran it).
    pub fn apply_remote(
        &mut self,
        changes: &[(Envelope, Vec<u8>)],
    ) -> Result<ApplyReport, StoreError> {
        self.apply_remote_keeping(changes, &[])
    }

    /// Applies changes a peer of the store mesh sent, once judged (`pos_sync::peer`), and keeps
    /// them in `relay` form for the cloud, in one transaction: a change is never applied without
    /// being kept, nor kept without being applied.
    pub fn apply_from_peer(
        &mut self,
        changes: &[(Envelope, Vec<u8>)],
        relay: &[RelayEntry],
    ) -> Result<ApplyReport, StoreError> {
        self.apply_remote_keeping(changes, relay)
    }

    /// Changes received from peers that the cloud has not answered yet, oldest first.
    pub fn relay_batch(&self, limit: usize) -> Result<Vec<RelayEntry>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT hash, doc_id, author_device, change FROM relay_outbox ORDER BY received_at, rowid LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (hash, doc, author, change) = row?;
            out.push(RelayEntry {
                hash,
                doc_id: doc
                    .parse()
                    .map_err(|_| StoreError::BadChange(format!("bad doc id {doc}")))?,
                author_device: author
                    .parse()
                    .map_err(|_| StoreError::BadChange(format!("bad device id {author}")))?,
                change,
            });
        }
        Ok(out)
    }

    /// How many received changes wait for the cloud.
    pub fn relay_len(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT count(*) FROM relay_outbox", [], |r| r.get(0))?)
    }

    /// Drops received changes the cloud has answered (accepted, known, or refused: a refusal
    /// is its author's to show).
    pub fn relay_done(&mut self, hashes: &[String]) -> Result<(), StoreError> {
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached("DELETE FROM relay_outbox WHERE hash = ?1")?;
            for h in hashes {
                stmt.execute([h])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn apply_remote_keeping(
        &mut self,
        changes: &[(Envelope, Vec<u8>)],
        relay: &[RelayEntry],
    ) -> Result<ApplyReport, StoreError> {
        let mut report = ApplyReport::default();
        let now = now_ms();
        let tx = self.conn.transaction()?;
        let mut touched: Vec<Uuid> = Vec::new();
        let result: Result<(), StoreError> = (|| {
            for (env, bytes) in changes {
                env.validate()?;
                let id = env.doc_id;
                if !self.cache.contains_key(&id) {
                    let exists: bool = tx.query_row(
                        "SELECT EXISTS (SELECT 1 FROM documents WHERE doc_id = ?1)",
                        [id.to_string()],
                        |r| r.get(0),
                    )?;
                    if exists {
                        let (e, am, typed, pending) = super::load_doc(&tx, id)?;
                        let json = typed.to_json();
                        self.cache.insert(
                            id,
                            CachedDoc {
                                env: e,
                                am,
                                typed,
                                json,
                                pending,
                            },
                        );
                    } else {
                        // A document this device has never seen: its first change creates it.
                        let actor = Uuid::now_v7().as_bytes().to_vec();
                        let mut am = AutoCommit::new();
                        am.set_actor(ActorId::from(actor.clone()));
                        let change = crate::doc::change_from_bytes(bytes.clone())
                            .map_err(|e| StoreError::BadChange(e.to_string()))?;
                        if !change.deps().is_empty() {
                            return Err(StoreError::BadChange(format!(
                                "first change of {id} depends on changes this device does not have"
                            )));
                        }
                        crate::doc::apply_changes(&mut am, [change])?;
                        let typed = AnyDoc::hydrate(env.doc_type, &am)?;
                        let hash = am
                            .get_heads()
                            .first()
                            .map(|h| h.to_string())
                            .unwrap_or_default();
                        put_document_row(&tx, env, &actor, None, &hash, 1, now)?;
                        tx.prepare_cached("INSERT INTO doc_changes (doc_id, seq, hash, bytes) VALUES (?1, 0, ?2, ?3)")?
                            .execute(params![id.to_string(), hash, bytes])?;
                        write_projection(&tx, env, &typed)?;
                        let json = typed.to_json();
                        touched.push(id);
                        self.cache.insert(
                            id,
                            CachedDoc {
                                env: *env,
                                am,
                                typed,
                                json,
                                pending: 1,
                            },
                        );
                        report.applied += 1;
                        continue;
                    }
                }
                touched.push(id);
                let cached = self
                    .cache
                    .get_mut(&id)
                    .ok_or(StoreError::UnknownDocument(id))?;
                if cached.env != *env {
                    return Err(StoreError::BadChange(format!(
                        "envelope of {id} differs from the local one"
                    )));
                }
                let change = crate::doc::change_from_bytes(bytes.clone())
                    .map_err(|e| StoreError::BadChange(e.to_string()))?;
                let hash = change.hash();
                if cached.am.get_change_by_hash(&hash).is_some() {
                    report.already_known += 1;
                    continue;
                }
                let missing: Vec<ChangeHash> = change
                    .deps()
                    .iter()
                    .filter(|d| cached.am.get_change_by_hash(d).is_none())
                    .copied()
                    .collect();
                if !missing.is_empty() {
                    return Err(StoreError::BadChange(format!(
                        "change {hash} of {id} needs {} change(s) this device does not have",
                        missing.len()
                    )));
                }
                crate::doc::apply_changes(&mut cached.am, [change])?;
                let typed = AnyDoc::hydrate(env.doc_type, &cached.am)?;
                cached.json = typed.to_json();
                cached.typed = typed.clone();
                let seq = cached.pending;
                cached.pending += 1;
                let heads = heads_text(&cached.am.get_heads());
                tx.prepare_cached(
                    "INSERT INTO doc_changes (doc_id, seq, hash, bytes) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![id.to_string(), seq, hash.to_string(), bytes])?;
                tx.prepare_cached(
                    "UPDATE documents SET heads = ?2, pending_changes = pending_changes + 1, updated_at = ?3 WHERE doc_id = ?1",
                )?
                .execute(params![id.to_string(), heads, now])?;
                write_projection(&tx, env, &typed)?;
                report.applied += 1;
            }
            let mut keep = tx.prepare_cached(
                "INSERT OR IGNORE INTO relay_outbox (hash, doc_id, author_device, change, received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for r in relay {
                keep.execute(params![
                    r.hash,
                    r.doc_id.to_string(),
                    r.author_device.to_string(),
                    r.change,
                    now
                ])?;
            }
            Ok(())
        })();
        match result.and_then(|_| tx.commit().map_err(StoreError::from)) {
            Ok(()) => {
                if let Ok(s) = self.load_settings() {
                    self.settings = s;
                }
                Ok(report)
            }
            Err(e) => {
                for id in touched {
                    self.cache.remove(&id);
                }
                Err(e)
            }
        }
    }

    /// Replaces a document with the server's state after the server refused a change to it:
    /// the local changes to it that are still in the outbox are dropped (they build on the
    /// refused one), the refusal is recorded as a sync problem, and the document continues with
    /// a fresh automerge actor (an actor never reuses a sequence number for other content).
    /// `server_snapshot` is `None` when the server has no such document (its creation was
    /// refused): the document is then removed.
    pub fn reset_document(
        &mut self,
        envelope: &Envelope,
        server_snapshot: Option<&[u8]>,
        problem: (&str, &str, &str),
    ) -> Result<(), StoreError> {
        let id = envelope.doc_id;
        let now = now_ms();
        self.cache.remove(&id);
        let tx = self.conn.transaction()?;
        let (hash, code, message) = problem;
        tx.execute(
            "INSERT INTO sync_problems (doc_id, doc_type, change_hash, code, message, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id.to_string(), envelope.doc_type.as_str(), hash, code, message, now],
        )?;
        tx.execute("DELETE FROM outbox WHERE doc_id = ?1", [id.to_string()])?;
        let mut server = server_snapshot.map(crate::doc::load_bytes).transpose()?;
        replace_document(&tx, envelope, server.as_mut(), now)?;
        tx.commit()?;
        if let Ok(s) = self.load_settings() {
            self.settings = s;
        }
        Ok(())
    }

    /// Stores a document snapshot received at bootstrap (replacing any local copy).
    pub fn import_snapshot(&mut self, envelope: &Envelope, bytes: &[u8]) -> Result<(), StoreError> {
        self.import_snapshots(&[(*envelope, bytes)])
    }

    /// Stores a page of bootstrap snapshots in one transaction (replacing any local copies).
    pub fn import_snapshots(&mut self, docs: &[(Envelope, &[u8])]) -> Result<(), StoreError> {
        for (envelope, _) in docs {
            envelope.validate()?;
        }
        // Loading and hydrating is the costly part and needs no connection: it runs on every
        // core, then the rows are written in one transaction.
        let decoded = decode_snapshots(docs)?;
        let now = now_ms();
        let tx = self.conn.transaction()?;
        for ((envelope, bytes), (heads, typed)) in docs.iter().zip(decoded) {
            let id = envelope.doc_id;
            self.cache.remove(&id);
            put_document_row(
                &tx,
                envelope,
                Uuid::now_v7().as_bytes(),
                Some(bytes),
                &heads,
                0,
                now,
            )?;
            tx.prepare_cached("DELETE FROM doc_changes WHERE doc_id = ?1")?
                .execute([id.to_string()])?;
            write_projection(&tx, envelope, &typed)?;
        }
        tx.commit()?;
        if let Ok(s) = self.load_settings() {
            self.settings = s;
        }
        Ok(())
    }

    /// Changes the server refused, newest first.
    pub fn sync_problems(&self) -> Result<Vec<SyncProblem>, StoreError> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id, doc_id, doc_type, change_hash, code, message, at FROM sync_problems ORDER BY id DESC LIMIT 200",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(SyncProblem {
                id: r.get(0)?,
                doc_id: r.get::<_, String>(1)?.parse().unwrap_or_default(),
                doc_type: r.get(2)?,
                change_hash: r.get(3)?,
                code: r.get(4)?,
                message: r.get(5)?,
                at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records the last server sequence pulled.
    /// Keeps the tenant's modules as the server last said (with the staff list), for the
    /// screens and the policy, offline too.
    /// Keeps the store mesh's peer list as the server gave it (opaque JSON to the store), so
    /// that a device started during an outage still knows whom to trust on the LAN.
    pub fn set_mesh_peers(&mut self, json: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO sync_state (key, value) VALUES ('mesh_peers', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [json],
        )?;
        Ok(())
    }

    /// The peer list last kept by [`Store::set_mesh_peers`].
    pub fn mesh_peers(&self) -> Result<Option<String>, StoreError> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn()
            .query_row(
                "SELECT value FROM sync_state WHERE key = 'mesh_peers'",
                [],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set_entitlements(&mut self, e: &crate::modules::Entitlements) -> Result<(), StoreError> {
        // A set of enum names: serialising it cannot fail.
        let json = serde_json::to_string(e).unwrap_or_else(|_| "{}".into());
        self.conn().execute(
            "INSERT INTO sync_state (key, value) VALUES ('entitlements', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [json],
        )?;
        Ok(())
    }

    pub fn set_sync_cursor(&mut self, cursor: i64) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO sync_state (key, value) VALUES ('cursor', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [cursor.to_string()],
        )?;
        Ok(())
    }
}

/// Replaces a document's stored state in `tx` by `state`: its changes since the snapshot and
/// its projection rows go, then `state` becomes its snapshot and projection, under a fresh
/// automerge actor (this device's next write must not reuse a sequence number of what was
/// dropped); with no state, the document's row goes too. The caller drops its cached copy.
pub(super) fn replace_document(
    tx: &rusqlite::Connection,
    envelope: &Envelope,
    state: Option<&mut AutoCommit>,
    now: i64,
) -> Result<(), StoreError> {
    let id = envelope.doc_id.to_string();
    tx.execute("DELETE FROM doc_changes WHERE doc_id = ?1", [&id])?;
    for t in tables_of(envelope.doc_type) {
        tx.execute(&format!("DELETE FROM {} WHERE doc_id = ?1", t.name), [&id])?;
    }
    match state {
        None => {
            tx.execute("DELETE FROM documents WHERE doc_id = ?1", [&id])?;
        }
        Some(am) => {
            let typed = AnyDoc::hydrate(envelope.doc_type, am)?;
            let bytes = am.save();
            let heads = heads_text(&am.get_heads());
            let actor = Uuid::now_v7().as_bytes().to_vec();
            put_document_row(tx, envelope, &actor, Some(&bytes), &heads, 0, now)?;
            write_projection(tx, envelope, &typed)?;
        }
    }
    Ok(())
}

/// Loads and hydrates snapshots on every core: each document's heads (as stored) and typed
/// state, in input order.
fn decode_snapshots(docs: &[(Envelope, &[u8])]) -> Result<Vec<(String, AnyDoc)>, StoreError> {
    let decode = |(envelope, bytes): &(Envelope, &[u8])| -> Result<(String, AnyDoc), StoreError> {
        let mut am = crate::doc::load_bytes(bytes)?;
        let typed = AnyDoc::hydrate(envelope.doc_type, &am)?;
        Ok((heads_text(&am.get_heads()), typed))
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    if threads == 1 || docs.len() < 16 {
        return docs.iter().map(decode).collect();
    }
    let chunk = docs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = docs
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().map(decode).collect::<Vec<_>>()))
            .collect();
        let mut out = Vec::with_capacity(docs.len());
        for h in handles {
            match h.join() {
                Ok(part) => out.extend(part),
                Err(_) => {
                    return Err(StoreError::BadChange(
                        "a snapshot could not be decoded".into(),
                    ))
                }
            }
        }
        out.into_iter().collect()
    })
}
