//! Receipts to email: a local queue beside the documents, not in them. An email address is
//! personal data and automerge history cannot be erased, so the address never enters a sale's
//! document; it waits here until the sync engine hands it to the server (after the sale itself
//! has been pushed), and the row records what the server answered.

use rusqlite::{params, OptionalExtension};
use serde::Serialize;
use uuid::Uuid;

use super::{now_ms, Store, StoreError};
use crate::doc::DocType;
use crate::email::normalize_email;
use crate::refund::Refund;
use crate::sale::{Sale, SaleStatus};

/// One receipt to email, as queued on this device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptEmail {
    /// Chosen by the device; the server is idempotent by it.
    pub id: Uuid,
    /// The closed sale or the refund.
    pub doc_id: Uuid,
    pub doc_type: String,
    pub email: String,
    pub created_at: i64,
    /// `pending`, `sent` (the server queued the mail) or `refused`.
    pub status: String,
    pub sent_at: Option<i64>,
    /// Why the server refused it (machine-readable), when refused.
    pub code: Option<String>,
    pub last_error: Option<String>,
}

const COLUMNS: &str = "id, doc_id, doc_type, email, created_at, status, sent_at, code, last_error";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ReceiptEmail> {
    Ok(ReceiptEmail {
        id: r.get::<_, String>(0)?.parse().unwrap_or_default(),
        doc_id: r.get::<_, String>(1)?.parse().unwrap_or_default(),
        doc_type: r.get(2)?,
        email: r.get(3)?,
        created_at: r.get(4)?,
        status: r.get(5)?,
        sent_at: r.get(6)?,
        code: r.get(7)?,
        last_error: r.get(8)?,
    })
}

impl Store {
    /// Queues the receipt of `doc_id` (a closed sale or a refund of this store) to be emailed
    /// to `email` once the till is online. The address is checked first
    /// ([`crate::email::normalize_email`]).
    pub fn queue_receipt_email(
        &mut self,
        doc_id: Uuid,
        email: &str,
    ) -> Result<ReceiptEmail, StoreError> {
        let email = normalize_email(email)?;
        let env = self.envelope(doc_id)?;
        if env.store_id != Some(self.identity().store_id) {
            return Err(StoreError::NotAReceipt(doc_id));
        }
        match env.doc_type {
            DocType::Sale => {
                if self.get::<Sale>(doc_id)?.status != SaleStatus::Closed {
                    return Err(StoreError::NotAReceipt(doc_id));
                }
            }
            DocType::Refund => {
                self.get::<Refund>(doc_id)?;
            }
            _ => return Err(StoreError::NotAReceipt(doc_id)),
        }
        let queued = ReceiptEmail {
            id: Uuid::now_v7(),
            doc_id,
            doc_type: env.doc_type.as_str().to_string(),
            email,
            created_at: now_ms(),
            status: "pending".into(),
            sent_at: None,
            code: None,
            last_error: None,
        };
        self.conn().execute(
            "INSERT INTO receipt_emails (id, doc_id, doc_type, email, created_at, status)
             VALUES (?1, ?2, ?3, ?4, ?5, 'pending')",
            params![
                queued.id.to_string(),
                doc_id.to_string(),
                queued.doc_type,
                queued.email,
                queued.created_at
            ],
        )?;
        Ok(queued)
    }

    /// Pending emails whose document has nothing left in the outbox (the server must have the
    /// receipt before it can mail it), oldest first.
    pub fn receipt_emails_to_send(&self, limit: usize) -> Result<Vec<ReceiptEmail>, StoreError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {COLUMNS} FROM receipt_emails e WHERE status = 'pending'
             AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.doc_id = e.doc_id)
             ORDER BY created_at, id LIMIT ?1"
        ))?;
        let rows = stmt.query_map([limit as i64], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The queue, newest first (for the sync screen), at most `limit`.
    pub fn receipt_emails(&self, limit: usize) -> Result<Vec<ReceiptEmail>, StoreError> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {COLUMNS} FROM receipt_emails ORDER BY created_at DESC, id DESC LIMIT ?1"
        ))?;
        let rows = stmt.query_map([limit as i64], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// One queued email.
    pub fn receipt_email(&self, id: Uuid) -> Result<Option<ReceiptEmail>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM receipt_emails WHERE id = ?1"),
                [id.to_string()],
                row,
            )
            .optional()?)
    }

    /// `(pending, refused)` counts, for the sync status.
    pub fn receipt_email_counts(&self) -> Result<(i64, i64), StoreError> {
        Ok(self.conn().query_row(
            "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'refused')
             FROM receipt_emails",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?)
    }

    /// The server queued these emails: they are never sent again.
    pub fn receipt_emails_sent(&mut self, ids: &[Uuid]) -> Result<(), StoreError> {
        let now = now_ms();
        let tx = self.conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE receipt_emails SET status = 'sent', sent_at = ?2, code = NULL, last_error = NULL
                 WHERE id = ?1 AND status = 'pending'",
            )?;
            for id in ids {
                stmt.execute(params![id.to_string(), now])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The server refused this email (`code` is its machine-readable reason): it stays
    /// visible, and is never sent again.
    pub fn receipt_email_refused(
        &mut self,
        id: Uuid,
        code: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE receipt_emails SET status = 'refused', code = ?2, last_error = ?3
             WHERE id = ?1 AND status = 'pending'",
            params![id.to_string(), code, message],
        )?;
        Ok(())
    }
}
