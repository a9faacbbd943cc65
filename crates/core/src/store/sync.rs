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

    /// Applies changes the server accepted (pulled, in server order), through the store's write
    /// path: documents, projections, cache; no outbox and no policy (the server ran it).
    pub fn apply_remote(
        &mut self,
        changes: &[(Envelope, Vec<u8>)],
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
        tx.execute(
            "DELETE FROM doc_changes WHERE doc_id = ?1",
            [id.to_string()],
        )?;
        for t in tables_of(envelope.doc_type) {
            tx.execute(
                &format!("DELETE FROM {} WHERE doc_id = ?1", t.name),
                [id.to_string()],
            )?;
        }
        match server_snapshot {
            None => {
                tx.execute("DELETE FROM documents WHERE doc_id = ?1", [id.to_string()])?;
            }
            Some(bytes) => {
                let mut am = crate::doc::load_bytes(bytes)?;
                let typed = AnyDoc::hydrate(envelope.doc_type, &am)?;
                let heads = heads_text(&am.get_heads());
                let actor = Uuid::now_v7().as_bytes().to_vec();
                put_document_row(&tx, envelope, &actor, Some(bytes), &heads, 0, now)?;
                write_projection(&tx, envelope, &typed)?;
            }
        }
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
