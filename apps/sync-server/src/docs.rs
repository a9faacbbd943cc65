//! The master documents in Postgres: loading them for a merge, writing a merge's outcome,
//! the generic projection writer, and documents the server writes itself (store settings and
//! the catalog published by head office).

use std::collections::HashMap;

use pos_core::doc::{AnyDoc, DocType, Document, Envelope};
use pos_core::projection::{self, Row, Value, TABLES};
use pos_sync::merge::{author_change, load_master, MasterDoc};
use rand::RngCore;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_core::sql_str::AssertSqlSafe;
use uuid::Uuid;

use crate::db::{self, now_ms, Tx};
use crate::error::ApiError;

/// The device id recorded as creator of documents the server writes itself.
pub const SERVER_DEVICE: Uuid = Uuid::nil();

/// doc_id, doc_type, store_id, created_by_device, snapshot, snapshot_seq.
type DocRow = (Uuid, String, Option<Uuid>, Uuid, Option<Vec<u8>>, i64);

fn envelope(tenant: Uuid, r: &DocRow) -> Result<Envelope, ApiError> {
    Ok(Envelope {
        doc_id: r.0,
        tenant_id: tenant,
        store_id: r.2,
        doc_type: r.1.parse().map_err(ApiError::internal)?,
        created_by_device: r.3,
    })
}

/// Loads the stored copies of `ids` (those that exist). With `lock`, the document rows stay
/// locked until the transaction ends (ids are locked in sorted order, so no deadlock).
pub async fn load_docs(
    tx: &mut sqlx_postgres::PgConnection,
    tenant: Uuid,
    ids: &[Uuid],
    lock: bool,
) -> Result<HashMap<Uuid, MasterDoc>, ApiError> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    // Ids are joined from `UNNEST`, never matched with `= ANY($2)`: once a connection has run a
    // statement five times Postgres may keep a generic plan, and for `= ANY` of an array of
    // unknown size that plan was "every document of the tenant, filtered against the array",
    // which made a 50,000-item bootstrap three times slower (docs/benchmarks.md).
    let sql = if lock {
        "SELECT d.doc_id, d.doc_type, d.store_id, d.created_by_device, d.snapshot, d.snapshot_seq
         FROM UNNEST($2::uuid[]) AS x(id) JOIN documents d ON d.tenant_id = $1 AND d.doc_id = x.id
         ORDER BY d.doc_id FOR UPDATE OF d"
    } else {
        "SELECT d.doc_id, d.doc_type, d.store_id, d.created_by_device, d.snapshot, d.snapshot_seq
         FROM UNNEST($2::uuid[]) AS x(id) JOIN documents d ON d.tenant_id = $1 AND d.doc_id = x.id"
    };
    let rows: Vec<DocRow> = query_as(sql)
        .bind(tenant)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in &rows {
        out.insert(
            r.0,
            MasterDoc {
                envelope: envelope(tenant, r)?,
                snapshot: r.4.clone(),
                changes: Vec::new(),
            },
        );
    }
    if out.is_empty() {
        return Ok(out);
    }
    // Only the documents found, each from its own snapshot on: one index range per document
    // (joining `documents` again made Postgres hash the tenant's every document per push).
    let (found, after): (Vec<Uuid>, Vec<i64>) = rows.iter().map(|r| (r.0, r.5)).unzip();
    let changes: Vec<(Uuid, Vec<u8>)> = query_as(
        "SELECT c.doc_id, c.bytes FROM UNNEST($2::uuid[], $3::bigint[]) AS x(id, after)
         JOIN change_log c ON c.tenant_id = $1 AND c.doc_id = x.id AND c.seq > x.after
         ORDER BY c.doc_id, c.seq",
    )
    .bind(tenant)
    .bind(&found)
    .bind(&after)
    .fetch_all(&mut *tx)
    .await?;
    for (id, bytes) in changes {
        if let Some(d) = out.get_mut(&id) {
            d.changes.push(bytes);
        }
    }
    Ok(out)
}

/// A document's current state as bytes automerge loads: its snapshot followed by the changes
/// stored after it (`pos_sync::merge::loadable_bytes`), without the cost of a `save()`.
pub fn snapshot_of(doc: &MasterDoc) -> Result<Vec<u8>, ApiError> {
    Ok(pos_sync::merge::loadable_bytes(doc))
}

/// Replaces the projection rows of one document (see [`write_projections`]).
pub async fn write_projection(
    tx: &mut Tx<'_>,
    env: &Envelope,
    rows: &[Row],
) -> Result<(), ApiError> {
    write_projections(
        tx,
        env.tenant_id,
        &[(*env, rows.to_vec())],
        &Default::default(),
    )
    .await
}

/// Replaces the projection rows of many documents of one tenant at once: one DELETE per table
/// (skipped for documents in `created`, which have no rows yet), then one INSERT per table with
/// one typed array per column (each column's type read once from the catalog). The statement
/// text is the same for any number of rows, so it is prepared once per connection, and a batch
/// of 1,000 changes writes in a handful of statements.
pub async fn write_projections(
    tx: &mut Tx<'_>,
    tenant: Uuid,
    docs: &[(Envelope, Vec<Row>)],
    created: &std::collections::HashSet<Uuid>,
) -> Result<(), ApiError> {
    use std::collections::BTreeMap;
    let mut deletes: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut inserts: BTreeMap<&'static str, Vec<&Row>> = BTreeMap::new();
    for (env, rows) in docs {
        for t in projection::tables_of(env.doc_type)
            .iter()
            .filter(|_| !created.contains(&env.doc_id))
        {
            deletes
                .entry(t.name)
                .or_default()
                .push(env.doc_id.to_string());
        }
        for r in rows {
            inserts.entry(r.table).or_default().push(r);
        }
    }
    for (table, ids) in deletes {
        query(AssertSqlSafe(format!(
            "DELETE FROM {table} t USING UNNEST($2::text[]) AS x(id)
             WHERE t.tenant_id = $1 AND t.doc_id = x.id"
        )))
        .bind(tenant)
        .bind(ids)
        .execute(&mut **tx)
        .await?;
    }
    if inserts.is_empty() {
        return Ok(());
    }
    let types = projection_types(tx).await?;
    for (table, rows) in inserts {
        let def = TABLES
            .iter()
            .find(|t| t.name == table)
            .ok_or_else(|| ApiError::Internal(format!("no projection table {table}")))?;
        let ints = types.get(table).ok_or_else(|| {
            ApiError::Internal(format!("projection table {table} has no columns"))
        })?;
        if ints.len() != def.columns.len() {
            return Err(ApiError::Internal(format!(
                "projection table {table} has {} columns in the database, {} in pos_core",
                ints.len(),
                def.columns.len()
            )));
        }
        // One typed array per column, unnested into rows: no JSON to build and parse (that
        // was 5 µs a row of PostgreSQL's time, docs/benchmarks.md).
        let mut texts: Vec<Vec<Option<String>>> = vec![Vec::new(); def.columns.len()];
        let mut numbers: Vec<Vec<Option<i64>>> = vec![Vec::new(); def.columns.len()];
        for row in &rows {
            if row.values.len() != def.columns.len() {
                return Err(ApiError::Internal(format!(
                    "projection row for {table} has {} values, the table {} columns",
                    row.values.len(),
                    def.columns.len()
                )));
            }
            for (k, v) in row.values.iter().enumerate() {
                if ints[k] {
                    numbers[k].push(match v {
                        Value::Null => None,
                        Value::Int(i) => Some(*i),
                        Value::Text(t) => Some(t.parse().map_err(|_| {
                            ApiError::Internal(format!(
                                "projection {table}.{} is a number, got {t:?}",
                                def.columns[k]
                            ))
                        })?),
                    });
                } else {
                    texts[k].push(match v {
                        Value::Null => None,
                        Value::Int(i) => Some(i.to_string()),
                        Value::Text(t) => Some(t.clone()),
                    });
                }
            }
        }
        let cols = def.columns.join(", ");
        let arrays = (0..def.columns.len())
            .map(|k| format!("${}::{}[]", k + 2, if ints[k] { "bigint" } else { "text" }))
            .collect::<Vec<_>>()
            .join(", ");
        let sql =
            format!("INSERT INTO {table} (tenant_id, {cols}) SELECT $1, * FROM UNNEST({arrays})");
        let mut q = query(AssertSqlSafe(sql)).bind(tenant);
        for k in 0..def.columns.len() {
            q = if ints[k] {
                q.bind(std::mem::take(&mut numbers[k]))
            } else {
                q.bind(std::mem::take(&mut texts[k]))
            };
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Per projection table, which of its columns (after `tenant_id`, in `TABLES` order) are
/// `bigint`; the rest are `text`. Read once from the catalog: the schema is the embedded
/// migrations', the same for every database this binary serves.
async fn projection_types(
    tx: &mut Tx<'_>,
) -> Result<&'static HashMap<&'static str, Vec<bool>>, ApiError> {
    static TYPES: std::sync::OnceLock<HashMap<&'static str, Vec<bool>>> =
        std::sync::OnceLock::new();
    if let Some(t) = TYPES.get() {
        return Ok(t);
    }
    let names: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    let rows: Vec<(String, String, bool)> = query_as(
        "SELECT c.relname::text, a.attname::text, a.atttypid = 'bigint'::regtype
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
         WHERE c.relname = ANY($1) AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
           AND c.relnamespace = to_regnamespace(current_schema())",
    )
    .bind(&names)
    .fetch_all(&mut **tx)
    .await?;
    let mut types = HashMap::new();
    for t in TABLES {
        let ints = t
            .columns
            .iter()
            .map(|col| {
                rows.iter()
                    .find(|(tb, c, _)| tb == t.name && c == col)
                    .map(|r| r.2)
                    .ok_or_else(|| {
                        ApiError::Internal(format!("projection column {}.{col} is missing", t.name))
                    })
            })
            .collect::<Result<Vec<bool>, ApiError>>()?;
        types.insert(t.name, ints);
    }
    Ok(TYPES.get_or_init(|| types))
}

/// Inserts the row of a new document (its envelope).
pub async fn insert_document(tx: &mut Tx<'_>, env: &Envelope) -> Result<(), ApiError> {
    let done = query(
        "INSERT INTO documents (tenant_id, doc_id, doc_type, store_id, created_by_device)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(env.tenant_id)
    .bind(env.doc_id)
    .bind(env.doc_type.as_str())
    .bind(env.store_id)
    .bind(env.created_by_device)
    .execute(&mut **tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::conflict(format!(
            "document {} was created concurrently; retry",
            env.doc_id
        )));
    }
    Ok(())
}

/// Records a document's new state after changes up to `last_seq` were appended: either a new
/// snapshot (the stored changes up to `last_seq` are now in it) or `appended` more changes.
pub async fn update_document(
    tx: &mut Tx<'_>,
    env: &Envelope,
    snapshot: Option<&[u8]>,
    appended: usize,
    last_seq: i64,
    heads: &[String],
) -> Result<(), ApiError> {
    match snapshot {
        Some(s) => {
            query(
                "UPDATE documents SET snapshot = $3, snapshot_seq = $4, changes_since_snapshot = 0,
                 heads = $5, updated_at = $6 WHERE tenant_id = $1 AND doc_id = $2",
            )
            .bind(env.tenant_id)
            .bind(env.doc_id)
            .bind(s)
            .bind(last_seq)
            .bind(heads)
            .bind(now_ms())
            .execute(&mut **tx)
            .await?
        }
        None => {
            query(
                "UPDATE documents SET changes_since_snapshot = changes_since_snapshot + $3,
                 heads = $4, updated_at = $5 WHERE tenant_id = $1 AND doc_id = $2",
            )
            .bind(env.tenant_id)
            .bind(env.doc_id)
            .bind(appended as i32)
            .bind(heads)
            .bind(now_ms())
            .execute(&mut **tx)
            .await?
        }
    };
    Ok(())
}

/// Appends one change to the change log.
#[allow(clippy::too_many_arguments)]
pub async fn append_change(
    tx: &mut Tx<'_>,
    env: &Envelope,
    seq: i64,
    hash: &str,
    bytes: &[u8],
    author_user: Option<Uuid>,
    author_device: Option<Uuid>,
) -> Result<(), ApiError> {
    query(
        "INSERT INTO change_log (tenant_id, seq, doc_id, store_id, hash, bytes, author_user, author_device, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(env.tenant_id)
    .bind(seq)
    .bind(env.doc_id)
    .bind(env.store_id)
    .bind(hash)
    .bind(bytes)
    .bind(author_user)
    .bind(author_device)
    .bind(now_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// What a server-side edit did.
#[derive(Debug, Clone, Copy)]
pub struct Written {
    /// `None`: nothing changed.
    pub seq: Option<i64>,
}

/// Writes a document as the server (head office publishing, store settings), in the caller's
/// transaction: one automerge change authored with a fresh actor, the change-log row with the
/// next sequence, the projection, an audit event and a NOTIFY. `edit` gets the current typed
/// document (`None` if new) and returns the new one.
pub async fn write_as_server<D: Document>(
    tx: &mut Tx<'_>,
    env: Envelope,
    user: Uuid,
    action: &str,
    edit: impl FnOnce(Option<D>) -> Result<D, ApiError>,
) -> Result<Written, ApiError> {
    let mut loaded = load_docs(tx, env.tenant_id, &[env.doc_id], true).await?;
    let before = loaded.remove(&env.doc_id);
    let env = match &before {
        Some(b) if b.envelope.doc_type != env.doc_type => {
            return Err(ApiError::conflict(format!(
                "document {} is a {}, not a {}",
                env.doc_id, b.envelope.doc_type, env.doc_type
            )))
        }
        Some(b) => b.envelope,
        None => env,
    };
    let before_typed: Option<D> = match &before {
        Some(b) => {
            let (_, any) = load_master(b).map_err(ApiError::Internal)?;
            Some(D::from_any(any).map_err(ApiError::internal)?)
        }
        None => None,
    };
    let before_json = before_typed.clone().map(|d| d.into_any().to_json());
    let after = edit(before_typed)?;
    let after_any = after.clone().into_any();
    if before_json.as_ref() == Some(&after_any.to_json()) {
        return Ok(Written { seq: None });
    }
    let mut actor = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut actor);
    let (hash, bytes) =
        author_change(env, before.as_ref(), &after, &actor).map_err(ApiError::Internal)?;
    if before.is_none() {
        insert_document(tx, &env).await?;
    }
    let seq = db::next_seqs(tx, env.tenant_id, 1).await?;
    append_change(tx, &env, seq, &hash, &bytes, Some(user), None).await?;
    update_document(tx, &env, None, 1, seq, std::slice::from_ref(&hash)).await?;
    let rows = projection::project(&env, &after_any).map_err(ApiError::internal)?;
    write_projection(tx, &env, &rows).await?;
    db::audit(
        tx,
        env.tenant_id,
        Some(user),
        None,
        action,
        &format!("{}:{}", env.doc_type, env.doc_id),
        serde_json::json!({ "before": before_json, "after": after_any.to_json(), "seq": seq }),
    )
    .await?;
    db::notify(tx, env.tenant_id, env.store_id, seq).await?;
    Ok(Written { seq: Some(seq) })
}

/// The store settings document of a store, typed.
pub async fn store_settings(
    tx: &mut Tx<'_>,
    tenant: Uuid,
    store: Uuid,
) -> Result<Option<pos_core::catalog::StoreSettings>, ApiError> {
    let id: Option<Uuid> = sqlx_core::query_scalar::query_scalar(
        "SELECT doc_id FROM documents WHERE tenant_id = $1 AND store_id = $2 AND doc_type = 'store_settings'
         ORDER BY created_at LIMIT 1",
    )
    .bind(tenant)
    .bind(store)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(id) = id else { return Ok(None) };
    let mut docs = load_docs(tx, tenant, &[id], false).await?;
    let Some(d) = docs.remove(&id) else {
        return Ok(None);
    };
    match load_master(&d) {
        Ok((_, AnyDoc::StoreSettings(s))) => Ok(Some(s)),
        _ => Ok(None),
    }
}

/// Whether a document type is in a device's scope: its store, or tenant-wide.
pub fn in_scope(env: &Envelope, tenant: Uuid, store: Uuid) -> bool {
    env.tenant_id == tenant && (env.store_id == Some(store) || env.store_id.is_none())
}

pub fn parse_doc_type(s: &str) -> Result<DocType, ApiError> {
    s.parse().map_err(ApiError::internal)
}

/// The canonical digest ([`projection::digest`]) of what a store's devices replicate: the
/// projection rows of the store's own documents and of the tenant's catalog. Equal to a device's
/// `Store::projection_digest` when the device is in sync.
pub async fn store_digest(
    pool: &sqlx_postgres::PgPool,
    tenant: Uuid,
    store: Uuid,
) -> Result<String, ApiError> {
    use sqlx_core::row::Row as _;
    let mut tables: HashMap<&'static str, Vec<Vec<Value>>> = HashMap::new();
    for t in TABLES {
        let sql = format!(
            "SELECT {} FROM {} WHERE tenant_id = $1 AND doc_id IN (SELECT doc_id::text FROM documents
             WHERE tenant_id = $1 AND (store_id = $2 OR store_id IS NULL))",
            t.columns.join(", "),
            t.name
        );
        let rows = query(AssertSqlSafe(sql))
            .bind(tenant)
            .bind(store)
            .fetch_all(pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut vals = Vec::with_capacity(t.columns.len());
            for i in 0..t.columns.len() {
                vals.push(match row.try_get::<Option<i64>, _>(i) {
                    Ok(v) => v.map(Value::Int).unwrap_or(Value::Null),
                    Err(_) => row
                        .try_get::<Option<String>, _>(i)?
                        .map(Value::Text)
                        .unwrap_or(Value::Null),
                });
            }
            out.push(vals);
        }
        tables.insert(t.name, out);
    }
    projection::digest(|t| Ok::<_, ApiError>(tables.remove(t.name).unwrap_or_default()))
}

/// Runs a query returning one bigint for a tenant (`$1`): a helper for tests and tools.
pub async fn count(pool: &sqlx_postgres::PgPool, sql: &str, tenant: Uuid) -> Result<i64, ApiError> {
    let (n,): (i64,) = query_as(AssertSqlSafe(sql.to_string()))
        .bind(tenant)
        .fetch_one(pool)
        .await?;
    Ok(n)
}
