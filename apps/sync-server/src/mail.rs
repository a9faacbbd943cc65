//! Emailed receipts: a device hands over `{id, doc_id, email}` (`POST /v1/sync/receipt-emails`);
//! the server checks each against the token's tenant and store (`pos_sync::mail::check`),
//! renders the receipt as plain text from its master document, writes an RFC 5322 message into
//! the mail spool directory (the pickup directory a mail transfer agent sends from), and records
//! it as `queued` with an audit event. Idempotent by the device's id. Head office lists them
//! (`GET /v1/admin/receipt-emails`). Addresses are never logged.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use pos_core::auth::Permission;
use pos_sync::mail::{self, ReceiptText, Refusal};
use pos_sync::merge::{load_master, Scope};
use pos_sync::wire::{
    ReceiptEmailRequest, ReceiptEmailResponse, ReceiptEmailResult, MAX_RECEIPT_EMAILS,
    PROTOCOL_VERSION,
};
use serde::{Deserialize, Serialize};
use sqlx_core::query_as::query_as;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{require, DeviceAuth, UserAuth};
use crate::db::{self, now_ms};
use crate::docs::{self, load_docs};
use crate::error::ApiError;
use crate::state::AppState;

/// Handles a device's batch of receipt emails: one result per email, in order.
pub async fn receipt_emails(
    state: &AppState,
    device: &DeviceAuth,
    req: ReceiptEmailRequest,
) -> Result<ReceiptEmailResponse, ApiError> {
    if req.protocol != PROTOCOL_VERSION {
        return Err(ApiError::validation(format!(
            "protocol version {} is not supported (this server speaks {PROTOCOL_VERSION})",
            req.protocol
        )));
    }
    crate::modules::require(
        state,
        device.tenant_id,
        pos_core::modules::Module::EmailReceipts,
    )
    .await?;
    if req.emails.len() > MAX_RECEIPT_EMAILS {
        return Err(ApiError::validation(format!(
            "at most {MAX_RECEIPT_EMAILS} receipt emails per request, got {}",
            req.emails.len()
        )));
    }
    let scope = Scope {
        tenant_id: device.tenant_id,
        store_id: device.store_id,
        device_id: device.device_id,
        kind: device.kind,
    };
    let ids: Vec<Uuid> = req.emails.iter().map(|e| e.id).collect();
    let done: Vec<(Uuid,)> =
        query_as("SELECT r.email_id FROM UNNEST($2::uuid[]) AS x(id) JOIN receipt_emails r ON r.tenant_id = $1 AND r.email_id = x.id")
            .bind(scope.tenant_id)
            .bind(&ids)
            .fetch_all(&state.pool)
            .await?;
    let done: std::collections::HashSet<Uuid> = done.into_iter().map(|(id,)| id).collect();
    let doc_ids: Vec<Uuid> = req.emails.iter().map(|e| e.doc_id).collect();
    let mut conn = state.pool.acquire().await?;
    let stored = load_docs(&mut conn, scope.tenant_id, &doc_ids, false).await?;
    drop(conn);
    let mut tx = state.pool.begin().await?;
    let settings = docs::store_settings(&mut tx, scope.tenant_id, scope.store_id).await?;
    tx.rollback().await?;

    // Decide and render off the async threads (documents are hydrated from automerge).
    let emails = req.emails;
    let decided = tokio::task::spawn_blocking(move || {
        let mut typed = HashMap::new();
        for (id, d) in &stored {
            if let Ok((_, doc)) = load_master(d) {
                typed.insert(*id, doc);
            }
        }
        emails
            .into_iter()
            .map(|e| {
                if done.contains(&e.id) {
                    return (e, Ok(None));
                }
                let doc = stored
                    .get(&e.doc_id)
                    .and_then(|d| Some((&d.envelope, typed.get(&e.doc_id)?)));
                let outcome = mail::check(&scope, e.doc_id, doc, &e.email).and_then(|to| {
                    let doc = doc.map(|d| d.1).ok_or(Refusal {
                        code: "unknown_document",
                        message: format!("no document {} in this device's store", e.doc_id),
                    })?;
                    let text = mail::render(doc, settings.as_ref()).map_err(|m| Refusal {
                        code: "not_a_receipt",
                        message: m,
                    })?;
                    Ok(Some((to, text)))
                });
                (e, outcome)
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(ApiError::internal)?;

    let mut results = Vec::with_capacity(decided.len());
    for (e, outcome) in decided {
        match outcome {
            Ok(None) => results.push(ReceiptEmailResult::Queued { id: e.id }),
            Ok(Some((to, text))) => {
                queue(state, &scope, e.id, e.doc_id, &to, &text).await?;
                results.push(ReceiptEmailResult::Queued { id: e.id });
            }
            Err(r) => {
                tracing::info!(email_id = %e.id, doc_id = %e.doc_id, code = r.code, "receipt email refused");
                results.push(ReceiptEmailResult::Refused {
                    id: e.id,
                    code: r.code.to_string(),
                    message: r.message,
                })
            }
        }
    }
    Ok(ReceiptEmailResponse { results })
}

/// Records one email and writes its spool file, in one transaction: the row is inserted (or
/// found there: a concurrent resend), the file written and renamed into place, then the row
/// and its audit event commit. A crash before the commit leaves at most a spool file whose row
/// is missing; the device, which got no answer, sends the same id again and the file is
/// rewritten under the same name, so the mail is not queued twice.
async fn queue(
    state: &AppState,
    scope: &Scope,
    id: Uuid,
    doc_id: Uuid,
    to: &str,
    text: &ReceiptText,
) -> Result<(), ApiError> {
    let file = format!("{id}.eml");
    let recipient = state
        .keys
        .seal(
            &state.pool,
            scope.tenant_id,
            crate::keys::Column::ReceiptRecipient,
            id,
            to,
        )
        .await?;
    let mut tx = state.pool.begin().await?;
    let inserted: Option<(Uuid,)> = query_as(
        "INSERT INTO receipt_emails (tenant_id, email_id, store_id, device_id, doc_id,
             recipient_sealed, subject, body, spool_file)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (tenant_id, email_id) DO NOTHING RETURNING email_id",
    )
    .bind(scope.tenant_id)
    .bind(id)
    .bind(scope.store_id)
    .bind(scope.device_id)
    .bind(doc_id)
    .bind(&recipient)
    .bind(&text.subject)
    .bind(&text.body)
    .bind(&file)
    .fetch_optional(&mut *tx)
    .await?;
    if inserted.is_none() {
        return Ok(());
    }
    let message = mail::rfc5322(
        id,
        &state.settings.mail_from,
        to,
        text,
        now_ms(),
        &message_host(&state.settings.mail_from),
    );
    crate::smtp::spool(
        &mut tx,
        &state.settings.mail_spool_dir,
        scope.tenant_id,
        id,
        crate::smtp::MailKind::Receipt,
        message.into_bytes(),
    )
    .await?;
    db::audit(
        &mut tx,
        scope.tenant_id,
        None,
        Some(scope.device_id),
        "receipt_email.queue",
        &format!("document:{doc_id}"),
        serde_json::json!({ "email_id": id, "doc_id": doc_id, "receipt_no": text.receipt_no }),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The host part of `Message-ID`s: the sender's domain.
pub(crate) fn message_host(from: &str) -> String {
    from.rsplit('@')
        .next()
        .map(|h| h.trim_end_matches('>').trim())
        .filter(|h| !h.is_empty() && !h.contains(' '))
        .unwrap_or("pos-sync-server")
        .to_string()
}

/// Writes `bytes` as `dir/name`: into a hidden temporary file first (mode 0600, synced), then
/// renamed, so the mail transfer agent never picks up half a message.
pub(crate) fn write_spool(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    let path = dir.join(name);
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
pub struct ReceiptEmailQuery {
    /// Only this store's emails (then a manager of that store may read them).
    pub store_id: Option<Uuid>,
    /// 1 to 500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A receipt email as head office sees it (newest first).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiptEmailOut {
    pub email_id: Uuid,
    pub store_id: Uuid,
    pub device_id: Uuid,
    pub doc_id: Uuid,
    pub recipient: String,
    pub subject: String,
    /// Delivery state: `queued` (in the mail spool, not tried yet; with no SMTP relay
    /// configured it stays so, for a mail transfer agent), `sending` (claimed by a sender),
    /// `retrying` (a try failed for now: a 4xx answer or no answer; tried again later), `sent`
    /// (the relay accepted it), `failed` (refused for good with a 5xx answer, or out of tries).
    #[schema(value_type = MailStatus)]
    pub status: String,
    /// Tries so far.
    pub attempts: i32,
    /// The relay's answer or the transport error of the last failed try.
    pub last_error: Option<String>,
    /// When the relay accepted it (ms since the epoch).
    pub sent_at: Option<i64>,
    pub spool_file: String,
    pub created_at: i64,
}

/// A receipt email's delivery state (the schema of `ReceiptEmailOut::status`).
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // A schema only.
pub enum MailStatus {
    Queued,
    Sending,
    Retrying,
    Sent,
    Failed,
}

/// Lists queued receipt emails: `report.view` (manager and up) tenant-wide, or in `store_id`.
pub async fn list(
    state: &AppState,
    user: &UserAuth,
    q: ReceiptEmailQuery,
) -> Result<Vec<ReceiptEmailOut>, ApiError> {
    require(&state.pool, user, q.store_id, Permission::ReportView).await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit must be between 1 and 500"));
    }
    type Row = (
        Uuid,
        Uuid,
        Uuid,
        Uuid,
        Option<Vec<u8>>,
        String,
        String,
        String,
        i64,
        i32,
        Option<String>,
        Option<i64>,
    );
    let rows: Vec<Row> = query_as(
        "SELECT r.email_id, r.store_id, r.device_id, r.doc_id, r.recipient_sealed, r.subject,
             COALESCE(d.status, 'queued'), r.spool_file, r.created_at, COALESCE(d.attempts, 0),
             d.last_error, d.sent_at
         FROM receipt_emails r LEFT JOIN mail_deliveries d
           ON d.tenant_id = r.tenant_id AND d.mail_id = r.email_id
         WHERE r.tenant_id = $1 AND ($2::uuid IS NULL OR r.store_id = $2)
         ORDER BY r.created_at DESC, r.email_id DESC LIMIT $3",
    )
    .bind(user.tenant_id)
    .bind(q.store_id)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let recipient = state
            .keys
            .open_opt(
                &state.pool,
                user.tenant_id,
                crate::keys::Column::ReceiptRecipient,
                r.0,
                r.4.as_deref(),
            )
            .await?
            .unwrap_or_default();
        out.push(ReceiptEmailOut {
            email_id: r.0,
            store_id: r.1,
            device_id: r.2,
            doc_id: r.3,
            recipient,
            subject: r.5,
            status: r.6,
            attempts: r.9,
            last_error: r.10,
            sent_at: r.11,
            spool_file: r.7,
            created_at: r.8,
        });
    }
    Ok(out)
}
