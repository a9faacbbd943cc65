//! Tentative changes the cloud refused (issue 12, the store mesh): a change a device applied
//! from a peer, or made itself, is tentative until the cloud accepts it. When the cloud refuses
//! it, every device that applied it undoes it and everything built on it, and ends with the
//! document as the cloud has it plus its tentative changes that do not depend on the refused
//! one. A refused change is remembered, so that a peer that has not heard of the refusal yet
//! cannot bring it back.

use std::collections::HashSet;

use automerge::{AutoCommit, ChangeHash, ReadDoc};
use rusqlite::{params, OptionalExtension};
use uuid::Uuid;

use super::{now_ms, Store, StoreError};

/// What [`Store::undo_refused`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Undone {
    /// The refused change and the changes built on it, taken out of the document (hashes).
    pub dropped: Vec<String>,
    /// Tentative changes of the document that did not depend on it, kept and applied again.
    pub kept: usize,
    /// Whether the document is gone from this replica (the cloud never had it and every
    /// change of it depended on the refused one).
    pub removed: bool,
}

impl Store {
    /// Whether this replica's document `doc_id` contains the change `hash`.
    pub fn holds_change(&mut self, doc_id: Uuid, hash: &str) -> Result<bool, StoreError> {
        let Ok(hash) = hash.parse::<ChangeHash>() else {
            return Ok(false);
        };
        if let Some(c) = self.cache.get_mut(&doc_id) {
            return Ok(c.am.get_change_by_hash(&hash).is_some());
        }
        let exists: bool = self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM documents WHERE doc_id = ?1)",
            [doc_id.to_string()],
            |r| r.get(0),
        )?;
        if !exists {
            return Ok(false);
        }
        let (_, am, _, _) = super::load_doc(&self.conn, doc_id)?;
        Ok(am.get_change_by_hash(&hash).is_some())
    }

    /// Whether the cloud refused the change `hash` (a notice this device has seen).
    pub fn is_refused(&self, hash: &str) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM refused_changes WHERE hash = ?1)",
            [hash],
            |r| r.get(0),
        )?)
    }

    /// Remembers that the cloud refused `hash`, for a change this device does not hold: a peer
    /// that sends it later is refused (see [`Store::is_refused`]).
    pub fn note_refused(&mut self, doc_id: Uuid, hash: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT OR IGNORE INTO refused_changes (hash, doc_id, at) VALUES (?1, ?2, ?3)",
            params![hash, doc_id.to_string(), now_ms()],
        )?;
        Ok(())
    }

    /// The last refusal notice this device has handled (0: none).
    pub fn refusals_cursor(&self) -> Result<i64, StoreError> {
        let v: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM sync_state WHERE key = 'refusals_cursor'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    pub fn set_refusals_cursor(&mut self, cursor: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO sync_state (key, value) VALUES ('refusals_cursor', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [cursor.to_string()],
        )?;
        Ok(())
    }

    /// Undoes the change `hash` of document `doc_id`, which the cloud refused, and every change
    /// of the document built on it (its dependency closure), in one transaction:
    /// - the document becomes `cloud` (the server's state, `None` when it has none) plus this
    ///   replica's tentative changes that do not depend on the refused one, applied again;
    /// - the dropped changes leave the outbox and the relay outbox (never sent again);
    /// - the refusal is recorded as a sync problem (`code`, `message`), and remembered.
    ///
    /// A replica that does not hold the change only remembers the refusal.
    pub fn undo_refused(
        &mut self,
        doc_id: Uuid,
        hash: &str,
        cloud: Option<&[u8]>,
        code: &str,
        message: &str,
    ) -> Result<Undone, StoreError> {
        let refused: ChangeHash = hash
            .parse()
            .map_err(|_| StoreError::BadChange(format!("bad change hash {hash}")))?;
        if !self.holds_change(doc_id, hash)? {
            self.note_refused(doc_id, hash)?;
            return Ok(Undone::default());
        }
        let (env, mut local, _, _) = super::load_doc(&self.conn, doc_id)?;
        let mut base = match cloud {
            Some(bytes) => crate::doc::load_bytes(bytes)?,
            None => AutoCommit::new(),
        };
        if base.get_change_by_hash(&refused).is_some() {
            // The cloud has it after all (its author pushed it again and it passed): nothing
            // to undo, and nothing to remember.
            return Ok(Undone::default());
        }
        // The local changes the cloud does not have, in causal order; those reaching the
        // refused one through their dependencies go, the others are applied again.
        let mut doomed: HashSet<ChangeHash> = HashSet::from([refused]);
        let mut again = Vec::new();
        for change in local.get_changes(&[]) {
            if base.get_change_by_hash(&change.hash()).is_some() {
                continue;
            }
            if change.hash() == refused || change.deps().iter().any(|d| doomed.contains(d)) {
                doomed.insert(change.hash());
            } else {
                again.push(change.clone());
            }
        }
        let kept = again.len();
        crate::doc::apply_changes(&mut base, again)?;
        let dropped: Vec<String> = doomed.iter().map(|h| h.to_string()).collect();
        let removed = base.get_heads().is_empty();
        let now = now_ms();
        self.cache.remove(&doc_id);
        let tx = self.conn.transaction()?;
        let id = doc_id.to_string();
        {
            let mut out = tx.prepare_cached("DELETE FROM outbox WHERE change_hash = ?1")?;
            let mut relay = tx.prepare_cached("DELETE FROM relay_outbox WHERE hash = ?1")?;
            for h in &dropped {
                out.execute([h])?;
                relay.execute([h])?;
            }
        }
        tx.execute(
            "INSERT OR IGNORE INTO refused_changes (hash, doc_id, at) VALUES (?1, ?2, ?3)",
            params![hash, id, now],
        )?;
        let built_on = dropped.len() - 1;
        let message = if built_on == 0 {
            format!("refused by the cloud and undone on this device: {message}")
        } else {
            format!(
                "refused by the cloud and undone on this device, with {built_on} later change(s) built on it: {message}"
            )
        };
        tx.execute(
            "INSERT INTO sync_problems (doc_id, doc_type, change_hash, code, message, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![id, env.doc_type.as_str(), hash, code, message, now],
        )?;
        if removed {
            // Nothing of it is left: no outbox entry can point at it any more.
            tx.execute("DELETE FROM outbox WHERE doc_id = ?1", [&id])?;
        }
        super::sync::replace_document(&tx, &env, (!removed).then_some(&mut base), now)?;
        tx.commit()?;
        if let Ok(s) = self.load_settings() {
            self.settings = s;
        }
        Ok(Undone {
            dropped,
            kept,
            removed,
        })
    }
}
