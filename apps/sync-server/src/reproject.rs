//! Re-projection at start: when the binary's projection shape (`pos_core::projection::VERSION`)
//! is newer than the rows' (`server_meta.projections`), every document's rows are written again
//! from the document, so new columns of old rows (a refund's tenders, a store's time zone) are
//! never left empty. Projections are a pure function of the documents, so this is always safe.
//!
//! One transaction, under an advisory lock, before the server serves: a second instance starting
//! at the same time waits, then finds the version current and does nothing.

use std::collections::HashSet;

use pos_core::projection::{self, VERSION};
use sqlx_core::query::query;
use sqlx_core::query_scalar::query_scalar;
use sqlx_postgres::PgPool;
use uuid::Uuid;

use crate::docs::{load_docs, write_projections};
use crate::error::ApiError;

/// Documents loaded and written per round.
const PAGE: i64 = 500;

/// Re-projects every document if the rows are older than this binary's shape. Returns how many
/// documents were written.
pub async fn run(pool: &PgPool) -> Result<u64, ApiError> {
    let mut tx = pool.begin().await?;
    query("SELECT pg_advisory_xact_lock(hashtextextended('pos.reproject', 0))")
        .execute(&mut *tx)
        .await?;
    let current: Option<String> =
        query_scalar("SELECT value FROM server_meta WHERE key = 'projections'")
            .fetch_optional(&mut *tx)
            .await?;
    if current.and_then(|v| v.parse::<i32>().ok()).unwrap_or(1) >= VERSION {
        return Ok(0);
    }
    let tenants: Vec<Uuid> = query_scalar("SELECT tenant_id FROM tenants ORDER BY tenant_id")
        .fetch_all(&mut *tx)
        .await?;
    let mut written = 0u64;
    for tenant in tenants {
        let mut after = Uuid::nil();
        loop {
            let ids: Vec<Uuid> = query_scalar(
                "SELECT doc_id FROM documents WHERE tenant_id = $1 AND doc_id > $2
                 ORDER BY doc_id LIMIT $3",
            )
            .bind(tenant)
            .bind(after)
            .bind(PAGE)
            .fetch_all(&mut *tx)
            .await?;
            let Some(last) = ids.last().copied() else {
                break;
            };
            let docs = load_docs(&mut tx, tenant, &ids, false).await?;
            let mut out = Vec::with_capacity(docs.len());
            for id in &ids {
                let Some(d) = docs.get(id) else { continue };
                let (_, typed) = pos_sync::merge::load_master(d).map_err(ApiError::Internal)?;
                let rows = projection::project(&d.envelope, &typed).map_err(ApiError::internal)?;
                out.push((d.envelope, rows));
            }
            write_projections(&mut tx, tenant, &out, &HashSet::new()).await?;
            written += out.len() as u64;
            after = last;
        }
    }
    query(
        "INSERT INTO server_meta (key, value) VALUES ('projections', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )
    .bind(VERSION.to_string())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    if written > 0 {
        tracing::info!(
            documents = written,
            version = VERSION,
            "projections rebuilt"
        );
    }
    Ok(written)
}
