//! A tenant that leaves: the export of its data as one file, and its deletion. Both are the
//! platform superadmin's (like creating tenants and switching their modules), and both are
//! recorded in the platform's audit log (the superadmin's own tenant), which outlives the
//! tenant.
//!
//! **The export** (`GET /v1/admin/tenants/{id}/export`) is JSON Lines
//! (`application/x-ndjson`), read in one repeatable-read transaction (one consistent snapshot)
//! and streamed, so its size does not depend on memory. Line by line:
//! 1. `{"kind":"tenant","format":"pos-tenant-export/1","tenant_id","name","created_at","exported_at"}`;
//! 2. one `{"kind":"store","row":{…}}` per store;
//! 3. one `{"kind":"document","doc_id","doc_type","store_id","created_by_device","changes","automerge"}`
//!    per automerge document: `automerge` is the base64 of the stored snapshot followed by every
//!    later change (automerge's `load` reads that concatenation as the whole document), and
//!    `changes` the number of changes after the snapshot;
//! 4. one `{"kind":"row","table":"p_…","row":{…}}` per projection row (every `p_*` table with
//!    a `tenant_id`, read from the catalog, so a new projection table is exported without a
//!    change here; `tenant_id` itself is left out of each row);
//! 5. `{"kind":"end","documents":n,"rows":n}`: a file without it was cut short.
//!
//! Credentials (password, PIN and secret hashes, tokens, TOTP secrets, data keys) are never
//! exported; personal data sealed at rest is not in the document or projection tables.
//!
//! **The delete** (`DELETE /v1/admin/tenants/{id}?confirm=<the tenant's exact name>`) removes
//! every row with that `tenant_id` from every table of the schema (found in the catalog,
//! partitioned tables through their parent, detached audit months too), children before
//! parents by the foreign keys, then the tenant, in one transaction; the tenant's data keys go
//! with it, so any copy of its sealed data left elsewhere can no longer be opened. Its devices'
//! tokens are refused from the next request and their live sockets closed; its users' access
//! tokens (stateless, at most `--access-ttl-secs` old) find no role left. Its spooled
//! receipt emails are removed after the commit. Backups keep the tenant until they expire
//! (`--backup-retention-full`).

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx_core::query_as::query_as;
use sqlx_core::query_scalar::query_scalar;
use sqlx_core::sql_str::AssertSqlSafe;
use sqlx_postgres::PgPool;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::UserAuth;
use crate::db::{self, now_ms};
use crate::error::ApiError;
use crate::state::AppState;

/// The export's format name, in its first line.
pub const FORMAT: &str = "pos-tenant-export/1";

fn superadmin(user: &UserAuth) -> Result<(), ApiError> {
    if user.superadmin {
        Ok(())
    } else {
        Err(ApiError::Authz(
            "only a platform superadmin exports or deletes a tenant".into(),
        ))
    }
}

async fn tenant_name(pool: &PgPool, tenant: Uuid) -> Result<(String, i64), ApiError> {
    query_as("SELECT name, created_at FROM tenants WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such tenant".into()))
}

/// Tables of the schema with a `tenant_id` column (partitioned tables as their parent, never
/// their partitions), without `tenants` itself.
async fn tenant_tables(
    conn: &mut sqlx_postgres::PgConnection,
    only_projections: bool,
) -> Result<Vec<String>, ApiError> {
    let names: Vec<String> = query_scalar(
        "SELECT c.relname::text FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
          WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
            AND c.relname <> 'tenants' AND (NOT $1 OR c.relname LIKE 'p\\_%')
          ORDER BY c.relname",
    )
    .bind(only_projections)
    .fetch_all(conn)
    .await?;
    Ok(names)
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The export as a stream of JSON lines (see the module documentation). The audit event is
/// committed before the first byte.
pub async fn export(
    state: &AppState,
    user: &UserAuth,
    tenant: Uuid,
) -> Result<impl futures_util::Stream<Item = Result<String, std::io::Error>>, ApiError> {
    superadmin(user)?;
    let (name, created_at) = tenant_name(&state.pool, tenant).await?;
    let mut tx = state.pool.begin().await?;
    db::audit(
        &mut tx,
        user.tenant_id,
        Some(user.user_id),
        None,
        "tenant.export",
        &format!("tenant:{tenant}"),
        json!({ "tenant_id": tenant, "name": name }),
    )
    .await?;
    tx.commit().await?;

    let (out, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(64);
    let pool = state.pool.clone();
    tokio::spawn(async move {
        let header = json!({"kind": "tenant", "format": FORMAT, "tenant_id": tenant,
            "name": name, "created_at": created_at, "exported_at": now_ms()});
        let result = async {
            if out.send(Ok(line(&header))).await.is_err() {
                return Ok(());
            }
            write_export(&pool, tenant, &out).await
        }
        .await;
        if let Err(e) = result {
            // The client sees a file without its `end` line; the cause stays in the log.
            tracing::error!(error = %e, %tenant, "tenant export failed");
            let _ = out.send(Err(std::io::Error::other("export failed"))).await;
        }
    });
    Ok(tokio_stream_from(rx))
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<String, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

fn line(v: &Value) -> String {
    let mut s = v.to_string();
    s.push('\n');
    s
}

async fn write_export(
    pool: &PgPool,
    tenant: Uuid,
    out: &tokio::sync::mpsc::Sender<Result<String, std::io::Error>>,
) -> Result<(), ApiError> {
    let closed = || ApiError::internal("export reader went away");
    let mut tx = pool.begin().await?;
    sqlx_core::query::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    {
        let mut rows = query_scalar::<_, Value>(
            "SELECT to_jsonb(s) - 'tenant_id' FROM stores s WHERE tenant_id = $1 ORDER BY store_id",
        )
        .bind(tenant)
        .fetch(&mut *tx);
        while let Some(row) = rows.next().await {
            let row = row?;
            out.send(Ok(line(&json!({"kind": "store", "row": row}))))
                .await
                .map_err(|_| closed())?;
        }
    }
    let mut documents = 0u64;
    {
        let mut docs = query_as::<
            _,
            (
                Uuid,
                String,
                Option<Uuid>,
                Uuid,
                Option<Vec<u8>>,
                Option<Vec<Vec<u8>>>,
            ),
        >(
            "SELECT d.doc_id, d.doc_type, d.store_id, d.created_by_device, d.snapshot,
                    (SELECT array_agg(c.bytes ORDER BY c.seq) FROM change_log c
                      WHERE c.tenant_id = d.tenant_id AND c.doc_id = d.doc_id AND c.seq > d.snapshot_seq)
               FROM documents d WHERE d.tenant_id = $1 ORDER BY d.doc_id",
        )
        .bind(tenant)
        .fetch(&mut *tx);
        while let Some(row) = docs.next().await {
            let (doc_id, doc_type, store_id, device, snapshot, changes) = row?;
            let changes = changes.unwrap_or_default();
            let mut bytes = snapshot.unwrap_or_default();
            for c in &changes {
                bytes.extend_from_slice(c);
            }
            let v = json!({"kind": "document", "doc_id": doc_id, "doc_type": doc_type,
                "store_id": store_id, "created_by_device": device, "changes": changes.len(),
                "automerge": base64::engine::general_purpose::STANDARD.encode(&bytes)});
            out.send(Ok(line(&v))).await.map_err(|_| closed())?;
            documents += 1;
        }
    }
    let mut count = 0u64;
    for table in tenant_tables(&mut tx, true).await? {
        let sql = format!(
            "SELECT to_jsonb(t) - 'tenant_id' FROM {} t WHERE tenant_id = $1",
            quote_ident(&table)
        );
        let mut rows = query_scalar::<_, Value>(AssertSqlSafe(sql))
            .bind(tenant)
            .fetch(&mut *tx);
        while let Some(row) = rows.next().await {
            let row = row?;
            out.send(Ok(line(
                &json!({"kind": "row", "table": table, "row": row}),
            )))
            .await
            .map_err(|_| closed())?;
            count += 1;
        }
    }
    tx.commit().await?;
    out.send(Ok(line(
        &json!({"kind": "end", "documents": documents, "rows": count}),
    )))
    .await
    .map_err(|_| closed())?;
    Ok(())
}

/// `?confirm=` of the delete.
#[derive(Debug, Clone, Deserialize, IntoParams)]
pub struct DeleteTenantQuery {
    /// The tenant's exact name, so that a mistyped id cannot delete another tenant.
    pub confirm: Option<String>,
}

/// What a delete removed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TenantDeleted {
    pub tenant_id: Uuid,
    pub name: String,
    /// Rows removed per table (tables with none left out), the tenant's own row included.
    pub rows: BTreeMap<String, i64>,
}

/// Deletes every row of `tenant` in one transaction, audited in the platform's log.
pub async fn delete(
    state: &AppState,
    user: &UserAuth,
    tenant: Uuid,
    confirm: Option<&str>,
) -> Result<TenantDeleted, ApiError> {
    superadmin(user)?;
    if tenant == user.tenant_id {
        return Err(ApiError::validation(
            "the platform's own tenant cannot be deleted",
        ));
    }
    let (name, _) = tenant_name(&state.pool, tenant).await?;
    match confirm {
        Some(c) if c == name => {}
        _ => {
            return Err(ApiError::validation(
                "to delete a tenant, pass its exact name as ?confirm=",
            ))
        }
    }
    let mut tx = state.pool.begin().await?;
    // The tenant's row first: a concurrent delete or create of its rows waits for this one.
    let locked: Option<Uuid> =
        query_scalar("SELECT tenant_id FROM tenants WHERE tenant_id = $1 FOR UPDATE")
            .bind(tenant)
            .fetch_optional(&mut *tx)
            .await?;
    if locked.is_none() {
        return Err(ApiError::NotFound("no such tenant".into()));
    }
    let emails: Vec<Uuid> =
        query_scalar("SELECT email_id FROM receipt_emails WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_all(&mut *tx)
            .await?;
    // The tenant's devices' live sockets close on every instance at commit (their tokens are
    // refused from the next request: the device row is gone).
    let devices: Vec<Uuid> = query_scalar("SELECT device_id FROM devices WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_all(&mut *tx)
        .await?;
    for d in devices {
        db::notify_revoked(&mut tx, tenant, d).await?;
    }
    let tables = tenant_tables(&mut tx, false).await?;
    let edges: Vec<(String, String)> = query_as(
        "SELECT DISTINCT ch.relname::text, pa.relname::text FROM pg_constraint k
           JOIN pg_class ch ON ch.oid = k.conrelid JOIN pg_class pa ON pa.oid = k.confrelid
           JOIN pg_namespace n ON n.oid = ch.relnamespace
          WHERE k.contype = 'f' AND n.nspname = current_schema() AND NOT ch.relispartition",
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut rows = BTreeMap::new();
    for table in delete_order(&tables, &edges)? {
        let n = sqlx_core::query::query(AssertSqlSafe(format!(
            "DELETE FROM {} WHERE tenant_id = $1",
            quote_ident(&table)
        )))
        .bind(tenant)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n > 0 {
            rows.insert(table, n as i64);
        }
    }
    sqlx_core::query::query("DELETE FROM tenants WHERE tenant_id = $1")
        .bind(tenant)
        .execute(&mut *tx)
        .await?;
    rows.insert("tenants".into(), 1);
    db::audit(
        &mut tx,
        user.tenant_id,
        Some(user.user_id),
        None,
        "tenant.delete",
        &format!("tenant:{tenant}"),
        json!({ "before": { "tenant_id": tenant, "name": name }, "rows": rows }),
    )
    .await?;
    tx.commit().await?;
    // The tenant's receipts still waiting in the mail spool go too.
    for id in emails {
        let path = state.settings.mail_spool_dir.join(format!("{id}.eml"));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!(error = %e, %tenant, "removing a spooled receipt failed"),
        }
    }
    tracing::info!(%tenant, "tenant deleted");
    Ok(TenantDeleted {
        tenant_id: tenant,
        name,
        rows,
    })
}

/// The tables in an order that deletes every referencing table before the tables it
/// references (a table's references to itself do not count).
fn delete_order(tables: &[String], edges: &[(String, String)]) -> Result<Vec<String>, ApiError> {
    let set: BTreeSet<&str> = tables.iter().map(String::as_str).collect();
    // parent -> children still to delete
    let mut children: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (child, parent) in edges {
        if child != parent && set.contains(child.as_str()) && set.contains(parent.as_str()) {
            children
                .entry(parent.as_str())
                .or_default()
                .insert(child.as_str());
        }
    }
    let mut left: BTreeSet<&str> = set.clone();
    let mut order = Vec::with_capacity(tables.len());
    while !left.is_empty() {
        let ready: Vec<&str> = left
            .iter()
            .copied()
            .filter(|t| {
                children
                    .get(t)
                    .is_none_or(|cs| cs.iter().all(|c| !left.contains(c)))
            })
            .collect();
        if ready.is_empty() {
            return Err(ApiError::internal(format!(
                "foreign keys form a cycle among {left:?}"
            )));
        }
        for t in ready {
            left.remove(t);
            order.push(t.to_string());
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use super::delete_order;

    #[test]
    fn children_are_deleted_before_their_parents() {
        let tables: Vec<String> = ["change_log", "documents", "stores", "users"]
            .map(String::from)
            .to_vec();
        let edges = [
            ("change_log", "documents"),
            ("documents", "stores"),
            ("change_log", "stores"),
            ("users", "users"),
            ("documents", "tenants"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()));
        let order = delete_order(&tables, &edges).unwrap();
        let at = |t: &str| order.iter().position(|x| x == t).unwrap();
        assert!(at("change_log") < at("documents"));
        assert!(at("documents") < at("stores"));
        assert_eq!(order.len(), 4);
    }
}
