//! The sync endpoints: push (through `pos_sync::merge`), pull by cursor, bootstrap, a document's
//! current state, the staff list and the live channel.
//!
//! The push handler holds no merge logic: it loads what the batch needs, calls
//! [`pos_sync::merge::merge`] on a blocking thread, and writes the outcome (change log with the
//! tenant's next sequences, documents, projections, conflicts, audit events, NOTIFY) in one
//! Postgres transaction.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::ws::{Message, WebSocket};
use pos_core::auth::Role;
use pos_core::catalog::StoreSettings;
use pos_core::doc::{AnyDoc, Envelope};
use pos_core::policy::PolicyContext;
use pos_core::refund::Refund;
use pos_core::sale::Sale;
use pos_sync::merge::{self, load_master, Decision, MergeOutcome, Scope};
use pos_sync::wire::{
    BootstrapPage, DocSnapshot, LiveMessage, PullResponse, PulledChange, PushRequest, PushResponse,
    PushResult, MAX_PULL_CHANGES,
};
use serde::Deserialize;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_postgres::PgPool;
use uuid::Uuid;

use crate::auth::DeviceAuth;
use crate::db::{self, now_ms};
use crate::docs::{self, load_docs, snapshot_of};
use crate::error::ApiError;
use crate::metrics as m;
use crate::state::{AppState, Notice};

/// How long a device should wait before resending a change with missing dependencies.
pub const RETRY_AFTER_MS: u64 = 1_000;

/// Read buffer and largest message of a live-channel connection, in bytes.
pub const LIVE_BUFFER: usize = 4 * 1024;

/// Documents per bootstrap page.
pub const BOOTSTRAP_PAGE: i64 = 500;

/// Answers the policy's questions from Postgres: the store's settings and roles are preloaded;
/// a refund's sale is loaded on demand (the merge runs on a blocking thread, so it may wait).
struct ServerContext {
    settings: HashMap<Uuid, StoreSettings>,
    /// The tenant's modules: documents of one that is off are refused.
    modules: pos_core::modules::Entitlements,
    roles: HashMap<String, Role>,
    pool: PgPool,
    tenant: Uuid,
    handle: tokio::runtime::Handle,
    sales: Mutex<HashMap<(Uuid, Uuid), Option<(Sale, Vec<(Uuid, Refund)>)>>>,
    /// A load that failed (the database, not the data): the push then fails whole and the
    /// device sends it again, rather than a refund being refused for want of its sale.
    failure: Mutex<Option<String>>,
}

impl ServerContext {
    async fn load(
        state: &AppState,
        tx: &mut db::Tx<'_>,
        scope: &Scope,
    ) -> Result<ServerContext, ApiError> {
        let mut settings = HashMap::new();
        if let Some(s) = docs::store_settings(tx, scope.tenant_id, scope.store_id).await? {
            settings.insert(scope.store_id, s);
        }
        let roles = crate::devices::store_roles(tx, scope.tenant_id, scope.store_id)
            .await?
            .into_iter()
            .map(|(id, _, role, _)| (id.to_string(), role))
            .collect();
        let modules = crate::modules::of_tenant(tx, scope.tenant_id).await?;
        Ok(ServerContext {
            settings,
            modules,
            roles,
            pool: state.pool.clone(),
            tenant: scope.tenant_id,
            handle: tokio::runtime::Handle::current(),
            sales: Mutex::new(HashMap::new()),
            failure: Mutex::new(None),
        })
    }

    async fn fetch_sale(
        &self,
        sale_id: Uuid,
        excluding: Uuid,
    ) -> Result<Option<(Sale, Vec<(Uuid, Refund)>)>, ApiError> {
        let mut conn = self.pool.acquire().await?;
        let refund_ids: Vec<(String,)> =
            query_as("SELECT doc_id FROM p_refunds WHERE tenant_id = $1 AND sale_id = $2")
                .bind(self.tenant)
                .bind(sale_id.to_string())
                .fetch_all(&mut *conn)
                .await?;
        let mut ids: Vec<Uuid> = refund_ids
            .iter()
            .filter_map(|(s,)| s.parse().ok())
            .filter(|id| *id != excluding)
            .collect();
        ids.push(sale_id);
        let docs = load_docs(&mut conn, self.tenant, &ids, false).await?;
        let Some(sale_doc) = docs.get(&sale_id) else {
            return Ok(None);
        };
        let Ok((_, AnyDoc::Sale(sale))) = load_master(sale_doc) else {
            return Ok(None);
        };
        let mut refunds = Vec::new();
        for (id, d) in &docs {
            if *id == sale_id {
                continue;
            }
            if let Ok((_, AnyDoc::Refund(r))) = load_master(d) {
                refunds.push((*id, r));
            }
        }
        refunds.sort_by_key(|(id, _)| *id);
        Ok(Some((sale, refunds)))
    }
}

impl PolicyContext for ServerContext {
    fn module_enabled(&self, module: pos_core::modules::Module) -> bool {
        self.modules.enabled(module)
    }

    fn settings(&self, store_id: Uuid) -> Option<StoreSettings> {
        self.settings.get(&store_id).cloned()
    }

    fn role_of(&self, user_id: &str) -> Option<Role> {
        self.roles.get(user_id).copied()
    }

    fn sale_and_refunds(
        &self,
        sale_id: Uuid,
        excluding: Uuid,
    ) -> Option<(Sale, Vec<(Uuid, Refund)>)> {
        if let Ok(cache) = self.sales.lock() {
            if let Some(hit) = cache.get(&(sale_id, excluding)) {
                return hit.clone();
            }
        }
        let found = match self.handle.block_on(self.fetch_sale(sale_id, excluding)) {
            Ok(found) => found,
            Err(e) => {
                if let Ok(mut f) = self.failure.lock() {
                    f.get_or_insert_with(|| format!("loading sale {sale_id} failed: {e}"));
                }
                None
            }
        };
        if let Ok(mut cache) = self.sales.lock() {
            cache.insert((sale_id, excluding), found.clone());
        }
        found
    }
}

/// `POST /v1/sync/push`.
pub async fn push(
    state: &AppState,
    device: &DeviceAuth,
    req: PushRequest,
) -> Result<PushResponse, ApiError> {
    req.check()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let _permit = state.pushes.acquire().await.map_err(ApiError::internal)?;
    let started = Instant::now();
    let scope = Scope {
        tenant_id: device.tenant_id,
        store_id: device.store_id,
        device_id: device.device_id,
        kind: device.kind,
    };
    let changes = req.changes;
    let ids: Vec<Uuid> = changes
        .iter()
        .filter(|c| c.envelope.tenant_id == scope.tenant_id)
        .map(|c| c.envelope.doc_id)
        .collect();

    let mut tx = state.pool.begin().await?;
    // Refunds are checked against what their sale has left to refund, read from committed
    // rows: pushes with refunds of one store take turns (until commit), so two tills' refunds
    // of the same sale cannot both pass. Taken before any document lock, always in this order.
    if changes
        .iter()
        .any(|c| c.envelope.doc_type == pos_core::doc::DocType::Refund)
    {
        query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("refunds:{}:{}", scope.tenant_id, scope.store_id))
            .execute(&mut *tx)
            .await?;
    }
    // The documents, locked: a change is a duplicate when its document holds it already
    // (the merge sees the document's own change hashes), so no tenant-wide hash lookup.
    let stored = load_docs(&mut tx, scope.tenant_id, &ids, true).await?;
    let ctx = ServerContext::load(state, &mut tx, &scope).await?;
    // Changes of the store's other devices, carried by this one (the store mesh): checked
    // against their authors' registered keys, authorized as their authors.
    let mut relay = merge::RelayAuthors::new();
    if changes
        .iter()
        .any(|c| c.author.device_id != scope.device_id)
    {
        for (id, _, kind, key) in
            crate::devices::relay_authors(&mut tx, scope.tenant_id, scope.store_id, scope.device_id)
                .await?
        {
            relay.insert(id, kind, key);
        }
    }
    let (mut outcome, changes, ctx) = tokio::task::spawn_blocking(move || {
        let out = merge::merge_relayed(&scope, &relay, &ctx, stored, &HashMap::new(), &changes);
        (out, changes, ctx)
    })
    .await
    .map_err(ApiError::internal)?;
    if let Some(e) = ctx.failure.lock().ok().and_then(|mut f| f.take()) {
        return Err(ApiError::Internal(e));
    }

    duplicate_seqs(&mut tx, scope.tenant_id, &mut outcome, &changes).await?;
    let seqs = write_outcome(&mut tx, &scope, &outcome, state.settings.events).await?;
    record_refusals(&mut tx, &scope, &outcome, &changes).await?;
    // Freshness for head office's reports: this device's data is on the server up to now.
    query("UPDATE devices SET last_push_at = $3 WHERE tenant_id = $1 AND device_id = $2")
        .bind(scope.tenant_id)
        .bind(scope.device_id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    let results = merge::answers(&outcome.decisions, &changes, &seqs, RETRY_AFTER_MS);
    let mut counts = [0u64; 4];
    for r in &results {
        counts[match r {
            PushResult::Accepted { .. } => 0,
            PushResult::Duplicate { .. } => 1,
            PushResult::Rejected { .. } => 2,
            PushResult::RetryAfter { .. } => 3,
        }] += 1;
    }
    m::changes("accepted", counts[0]);
    m::changes("duplicate", counts[1]);
    m::changes("rejected", counts[2]);
    m::changes("retry", counts[3]);
    metrics::histogram!(m::PUSH_SECONDS).record(started.elapsed().as_secs_f64());
    tracing::info!(
        accepted = counts[0],
        duplicate = counts[1],
        rejected = counts[2],
        retry = counts[3],
        ms = started.elapsed().as_millis() as u64,
        "push"
    );
    Ok(PushResponse { results })
}

/// Records each change this push refused as a notice to the pusher's store (the store mesh:
/// peers that applied it undo it) and as an audit event for head office. Numbered under the
/// tenant's sequence row lock, so in commit order. Pushes with no refusal write nothing.
async fn record_refusals(
    tx: &mut db::Tx<'_>,
    scope: &Scope,
    out: &MergeOutcome,
    changes: &[pos_sync::wire::WireChange],
) -> Result<(), ApiError> {
    let refused: Vec<(&pos_sync::wire::WireChange, &str, &str)> = out
        .decisions
        .iter()
        .zip(changes)
        .filter_map(|(d, c)| match d {
            Decision::Rejected { code, message } => Some((c, code.as_str(), message.as_str())),
            _ => None,
        })
        .filter(|(c, _, _)| c.envelope.tenant_id == scope.tenant_id)
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    db::next_seqs(tx, scope.tenant_id, 0).await?;
    let now = now_ms();
    for (c, code, message) in refused {
        let inserted = query(
            "INSERT INTO change_refusals (tenant_id, store_id, doc_id, change_hash, author_device,
                 pushed_by, code, message, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (tenant_id, change_hash) DO NOTHING",
        )
        .bind(scope.tenant_id)
        .bind(scope.store_id)
        .bind(c.envelope.doc_id)
        .bind(&c.hash)
        .bind(c.author.device_id)
        .bind(scope.device_id)
        .bind(code)
        .bind(message)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if inserted.rows_affected() == 0 {
            continue;
        }
        db::audit(
            tx,
            scope.tenant_id,
            Some(c.author.user_id),
            Some(c.author.device_id),
            "sync.refused",
            &format!("{}:{}", c.envelope.doc_type.as_str(), c.envelope.doc_id),
            serde_json::json!({
                "hash": c.hash,
                "code": code,
                "message": message,
                "pushed_by": scope.device_id,
            }),
        )
        .await?;
    }
    Ok(())
}

/// `GET /v1/sync/refusals`: the device's store's refusal notices after `after`.
pub async fn refusals(
    state: &AppState,
    device: &DeviceAuth,
    q: RefusalsQuery,
) -> Result<pos_sync::wire::RefusalsPage, ApiError> {
    if q.after < 0 {
        return Err(ApiError::validation("after must be 0 or more"));
    }
    type Row = (i64, Uuid, String, Uuid, Uuid, String, String, i64);
    let rows: Vec<Row> = query_as(
        "SELECT refusal_id, doc_id, change_hash, author_device, pushed_by, code, message, at
         FROM change_refusals
         WHERE tenant_id = $1 AND store_id = $2 AND refusal_id > $3
         ORDER BY refusal_id LIMIT $4",
    )
    .bind(device.tenant_id)
    .bind(device.store_id)
    .bind(q.after)
    .bind(REFUSALS_PAGE + 1)
    .fetch_all(&state.pool)
    .await?;
    let more = rows.len() as i64 > REFUSALS_PAGE;
    Ok(pos_sync::wire::RefusalsPage {
        refusals: rows
            .into_iter()
            .take(REFUSALS_PAGE as usize)
            .map(
                |(id, doc_id, hash, author_device, pushed_by, code, message, at)| {
                    pos_sync::wire::RefusalNotice {
                        id,
                        doc_id,
                        hash,
                        author_device,
                        pushed_by,
                        code,
                        message,
                        at,
                    }
                },
            )
            .collect(),
        more,
    })
}

/// Notices per page of `GET /v1/sync/refusals`.
pub const REFUSALS_PAGE: i64 = 500;

/// `GET /v1/sync/refusals`'s query.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct RefusalsQuery {
    /// The last notice already handled (0 at first).
    #[serde(default)]
    #[param(minimum = 0)]
    pub after: i64,
}

/// Fills in the sequence of each change the merge found already in its document
/// (`Decision::Duplicate { seq: 0 }`), from the change log by document and hash. Duplicates are
/// resends after a lost answer, so this runs rarely and reads only their documents' rows.
async fn duplicate_seqs(
    tx: &mut db::Tx<'_>,
    tenant: Uuid,
    out: &mut MergeOutcome,
    changes: &[pos_sync::wire::WireChange],
) -> Result<(), ApiError> {
    let (docs, hashes): (Vec<Uuid>, Vec<&str>) = out
        .decisions
        .iter()
        .zip(changes)
        .filter(|(d, _)| matches!(d, Decision::Duplicate { seq: 0 }))
        .map(|(_, c)| (c.envelope.doc_id, c.hash.as_str()))
        .unzip();
    if docs.is_empty() {
        return Ok(());
    }
    let found: HashMap<String, i64> = query_as(
        "SELECT c.hash, c.seq FROM UNNEST($2::uuid[], $3::text[]) AS x(d, h)
         JOIN change_log c ON c.tenant_id = $1 AND c.doc_id = x.d AND c.hash = x.h",
    )
    .bind(tenant)
    .bind(&docs)
    .bind(&hashes)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    for (d, c) in out.decisions.iter_mut().zip(changes) {
        if let Decision::Duplicate { seq } = d {
            if *seq == 0 {
                *seq = *found.get(&c.hash).ok_or_else(|| {
                    ApiError::Internal(format!(
                        "change {} is in document {} but not in its change log",
                        c.hash, c.envelope.doc_id
                    ))
                })?;
            }
        }
    }
    Ok(())
}

/// Writes a merge outcome in the caller's transaction; returns batch index → sequence.
///
/// Everything that does not need a sequence is written first (new documents, heads, projections,
/// audit events); only then is the tenant's sequence row locked (`next_seqs`), which serializes
/// the tenant's concurrent pushes until commit. So the lock covers the change log alone, not the
/// whole write (the documents themselves are already locked by `load_docs`).
async fn write_outcome(
    tx: &mut db::Tx<'_>,
    scope: &Scope,
    out: &MergeOutcome,
    events: bool,
) -> Result<HashMap<usize, i64>, ApiError> {
    let mut seqs = HashMap::new();
    if out.accepted.is_empty() {
        return Ok(seqs);
    }
    let tenant = scope.tenant_id;
    let now = now_ms();
    // 1. Documents: new ones get their row, grown ones their heads and change count.
    let created: Vec<&Envelope> = out
        .docs
        .iter()
        .filter(|d| d.created)
        .map(|d| &d.envelope)
        .collect();
    if !created.is_empty() {
        let done = query(
            "INSERT INTO documents (tenant_id, doc_id, doc_type, store_id, created_by_device)
             SELECT $1, i, t, s, c FROM UNNEST($2::uuid[], $3::text[], $4::uuid[], $5::uuid[]) AS x(i, t, s, c)
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant)
        .bind(created.iter().map(|e| e.doc_id).collect::<Vec<_>>())
        .bind(created.iter().map(|e| e.doc_type.as_str()).collect::<Vec<_>>())
        .bind(created.iter().map(|e| e.store_id).collect::<Vec<_>>())
        .bind(created.iter().map(|e| e.created_by_device).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() != created.len() as u64 {
            return Err(ApiError::conflict(
                "a document of this batch was created concurrently; push again",
            ));
        }
    }
    let grown: Vec<&pos_sync::merge::DocUpdate> =
        out.docs.iter().filter(|d| d.snapshot.is_none()).collect();
    if !grown.is_empty() {
        query(
            "UPDATE documents d SET changes_since_snapshot = d.changes_since_snapshot + x.n,
                 heads = string_to_array(x.h, ','), updated_at = $5
             FROM UNNEST($2::uuid[], $3::int[], $4::text[]) AS x(i, n, h)
             WHERE d.tenant_id = $1 AND d.doc_id = x.i",
        )
        .bind(tenant)
        .bind(grown.iter().map(|d| d.envelope.doc_id).collect::<Vec<_>>())
        .bind(
            grown
                .iter()
                .map(|d| d.appended.len() as i32)
                .collect::<Vec<_>>(),
        )
        .bind(grown.iter().map(|d| d.heads.join(",")).collect::<Vec<_>>())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    // 2. Projections.
    let created_ids: HashSet<Uuid> = created.iter().map(|e| e.doc_id).collect();
    // Events (the webhook outbox) compare the rows being replaced with the new ones.
    let before = if events {
        Some(crate::webhooks::Before::load(tx, tenant, out).await?)
    } else {
        None
    };
    docs::write_projections(tx, tenant, &out.projections, &created_ids).await?;
    // 3. Audit: one event per document and author in this push, listing the accepted changes
    //    (hash and fields touched; a change's sequence is found by its hash). The change log
    //    keeps each change's author and arrival too; a busy sale's dozen changes make one event.
    let mut events: Vec<((Uuid, Uuid, Uuid), String, Vec<serde_json::Value>)> = Vec::new();
    let mut event_of: HashMap<(Uuid, Uuid, Uuid), usize> = HashMap::new();
    for e in &out.audit {
        let key = (e.doc_id, e.actor.user_id, e.actor.device_id);
        let change = serde_json::json!({ "hash": e.hash, "fields": e.fields });
        let k = *event_of.entry(key).or_insert_with(|| {
            events.push((key, format!("{}:{}", e.doc_type, e.doc_id), Vec::new()));
            events.len() - 1
        });
        events[k].2.push(change);
    }
    let (mut a_id, mut a_user, mut a_dev, mut a_target, mut a_diff) =
        (vec![], vec![], vec![], vec![], vec![]);
    for ((_, user, device), target, changes) in events {
        a_id.push(Uuid::now_v7());
        a_user.push(user);
        a_dev.push(device);
        a_target.push(target);
        a_diff.push(serde_json::json!({ "changes": changes }).to_string());
    }
    query(
        "INSERT INTO audit_events (tenant_id, event_id, at, actor_user, actor_device, action, target, diff)
         SELECT $1, i, $2, u, d, 'sync.change', t, df::jsonb
         FROM UNNEST($3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[]) AS x(i, u, d, t, df)",
    )
    .bind(tenant)
    .bind(now)
    .bind(&a_id)
    .bind(&a_user)
    .bind(&a_dev)
    .bind(&a_target)
    .bind(&a_diff)
    .execute(&mut **tx)
    .await?;
    // 4. The tenant's sequences (locked from here to commit) and the change log.
    let first = db::next_seqs(tx, tenant, out.accepted.len() as i64).await?;
    let mut last_of_doc: HashMap<Uuid, i64> = HashMap::new();
    let (mut c_seq, mut c_doc, mut c_store, mut c_hash, mut c_bytes, mut c_user, mut c_dev) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for (k, a) in out.accepted.iter().enumerate() {
        let seq = first + k as i64;
        seqs.insert(a.index, seq);
        last_of_doc.insert(a.envelope.doc_id, seq);
        c_seq.push(seq);
        c_doc.push(a.envelope.doc_id);
        c_store.push(a.envelope.store_id);
        c_hash.push(a.hash.as_str());
        c_bytes.push(a.bytes.as_slice());
        c_user.push(a.author.user_id);
        c_dev.push(a.author.device_id);
    }
    query(
        "INSERT INTO change_log (tenant_id, seq, doc_id, store_id, hash, bytes, author_user, author_device, received_at)
         SELECT $1, s, d, st, h, b, u, dv, $9
         FROM UNNEST($2::bigint[], $3::uuid[], $4::uuid[], $5::text[], $6::bytea[], $7::uuid[], $8::uuid[])
              AS t(s, d, st, h, b, u, dv)",
    )
    .bind(tenant)
    .bind(&c_seq)
    .bind(&c_doc)
    .bind(&c_store)
    .bind(&c_hash)
    .bind(&c_bytes)
    .bind(&c_user)
    .bind(&c_dev)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    // 5. Compacted documents and concurrent values (both rare) record the sequence they hold.
    for d in &out.docs {
        let last = last_of_doc.get(&d.envelope.doc_id).copied().unwrap_or(0);
        if let Some(snapshot) = d.snapshot.as_deref() {
            docs::update_document(tx, &d.envelope, Some(snapshot), 0, last, &d.heads).await?;
        }
        if !d.conflicts.is_empty() {
            let doc_json = d.doc.to_json();
            for c in &d.conflicts {
                let winner = c
                    .field
                    .split('.')
                    .try_fold(&doc_json, |v, k| v.get(k))
                    .cloned()
                    .unwrap_or(serde_json::Value::Null);
                query(
                    "INSERT INTO price_conflicts (tenant_id, conflict_id, doc_id, field, \"values\", winner, seq)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                )
                .bind(tenant)
                .bind(Uuid::now_v7())
                .bind(d.envelope.doc_id)
                .bind(&c.field)
                .bind(sqlx_core::types::Json(&c.values))
                .bind(sqlx_core::types::Json(&winner))
                .bind(last)
                .execute(&mut **tx)
                .await?;
            }
        }
    }
    let last = first + out.accepted.len() as i64 - 1;
    if let Some(before) = &before {
        crate::webhooks::record(tx, tenant, out, before, &last_of_doc, last).await?;
    }
    let stores: HashSet<Option<Uuid>> = out.accepted.iter().map(|a| a.envelope.store_id).collect();
    for store in stores {
        db::notify(tx, tenant, store, last).await?;
    }
    Ok(seqs)
}

#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct PullQuery {
    /// The last sequence already seen (0 at first).
    #[serde(default)]
    #[param(minimum = 0)]
    pub cursor: i64,
    /// Most changes in this page: 1 to 5000, default 1000.
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<i64>,
}

type ChangeRow = (
    i64,
    Option<i64>,
    Option<Uuid>,
    Option<String>,
    Option<Uuid>,
    Option<Uuid>,
    Option<String>,
    Option<Vec<u8>>,
);

/// `GET /v1/sync/pull`: accepted changes of the device's store and tenant-wide ones, after the
/// cursor, in sequence order, **except the device's own**: it has them already, and sending a
/// till's busy day back to it doubled the time of a catch-up (docs/benchmarks.md). A device's
/// changes are authored with its own id only while it keeps its store; a new install enrols
/// anew and bootstraps.
///
/// The cursor answered is the last sequence the page covers: when nothing more is waiting, the
/// tenant's last sequence as of the same snapshot, so a device does not rescan its own changes
/// (sequences are taken under the tenant's row lock and committed with their rows, so every
/// sequence up to that one is visible in the snapshot).
pub async fn pull(
    state: &AppState,
    device: &DeviceAuth,
    q: PullQuery,
) -> Result<PullResponse, ApiError> {
    let started = Instant::now();
    let limit = q.limit.unwrap_or(1000);
    if !(1..=MAX_PULL_CHANGES as i64).contains(&limit) || q.cursor < 0 {
        return Err(ApiError::validation(format!(
            "limit must be 1 to {MAX_PULL_CHANGES} and cursor not negative"
        )));
    }
    // One statement, one snapshot: the tenant's last sequence and the page agree.
    let rows: Vec<ChangeRow> = query_as(
        "WITH top AS (SELECT coalesce(max(last_seq), 0) AS last FROM tenant_seq WHERE tenant_id = $1)
         SELECT top.last, p.seq, p.doc_id, p.doc_type, p.store_id, p.created_by_device, p.hash, p.bytes
         FROM top LEFT JOIN LATERAL (
             SELECT c.seq, c.doc_id, d.doc_type, c.store_id, d.created_by_device, c.hash, c.bytes
             FROM change_log c JOIN documents d ON d.tenant_id = c.tenant_id AND d.doc_id = c.doc_id
             WHERE c.tenant_id = $1 AND c.seq > $2 AND (c.store_id = $3 OR c.store_id IS NULL)
               AND c.author_device IS DISTINCT FROM $5
             ORDER BY c.seq LIMIT $4
         ) p ON true",
    )
    .bind(device.tenant_id)
    .bind(q.cursor)
    .bind(device.store_id)
    .bind(limit + 1)
    .bind(device.device_id)
    .fetch_all(&state.pool)
    .await?;
    let last = rows.first().map(|r| r.0).unwrap_or(0);
    let rows: Vec<_> = rows
        .into_iter()
        .filter_map(|(_, seq, id, t, store, by, hash, bytes)| {
            Some((seq?, id?, t?, store, by?, hash?, bytes?))
        })
        .collect();
    let more = rows.len() as i64 > limit;
    let mut changes = Vec::with_capacity(rows.len());
    for (seq, doc_id, doc_type, store_id, created_by_device, hash, bytes) in
        rows.into_iter().take(limit as usize)
    {
        changes.push(PulledChange {
            seq,
            envelope: Envelope {
                doc_id,
                tenant_id: device.tenant_id,
                store_id,
                doc_type: docs::parse_doc_type(&doc_type)?,
                created_by_device,
            },
            hash,
            bytes,
        });
    }
    let cursor = if more {
        changes.last().map(|c| c.seq).unwrap_or(q.cursor)
    } else {
        last.max(q.cursor)
    };
    if !more {
        // Freshness: a device pulls after pushing its outbox, so its data is on the server up
        // to now. Written at most every 10 s per device (pulls follow every live nudge).
        let now = now_ms();
        query(
            "UPDATE devices SET last_pull_at = $3 WHERE tenant_id = $1 AND device_id = $2
             AND (last_pull_at IS NULL OR last_pull_at < $3 - 10000)",
        )
        .bind(device.tenant_id)
        .bind(device.device_id)
        .bind(now)
        .execute(&state.pool)
        .await?;
    }
    metrics::histogram!(m::PULL_SECONDS).record(started.elapsed().as_secs_f64());
    Ok(PullResponse {
        changes,
        cursor,
        more,
    })
}

#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct BootstrapQuery {
    /// The `next` token of the previous page; omit for the first.
    #[param(
        pattern = r"^-?[0-9]{1,18}\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\.-?[0-9]{1,18})?$"
    )]
    pub page: Option<String>,
}

/// `GET /v1/sync/bootstrap`: the store's and the tenant-wide documents as snapshots, in pages.
/// The page token carries the cursor of the first page, so every page answers the same one.
pub async fn bootstrap(
    state: &AppState,
    device: &DeviceAuth,
    q: BootstrapQuery,
) -> Result<BootstrapPage, ApiError> {
    // The page token is `cursor.last_id.total`: the cursor and the document count of the first
    // page, so later pages neither count the store again nor see a different cursor.
    let bad = || ApiError::validation("bad page token");
    let (cursor, after, total) = match q.page.as_deref() {
        None => (
            db::last_seq(&state.pool, device.tenant_id).await?,
            None,
            None,
        ),
        Some(t) => {
            let mut parts = t.split('.');
            let c: i64 = parts.next().and_then(|c| c.parse().ok()).ok_or_else(bad)?;
            let id: Uuid = parts.next().and_then(|i| i.parse().ok()).ok_or_else(bad)?;
            let total: Option<i64> = match parts.next() {
                Some(n) => Some(n.parse().map_err(|_| bad())?),
                None => None,
            };
            if parts.next().is_some() {
                return Err(bad());
            }
            (c, Some(id), total)
        }
    };
    let total: i64 = match total {
        Some(n) => n,
        None => {
            sqlx_core::query_scalar::query_scalar(
                "SELECT count(*) FROM documents WHERE tenant_id = $1 AND (store_id = $2 OR store_id IS NULL)",
            )
            .bind(device.tenant_id)
            .bind(device.store_id)
            .fetch_one(&state.pool)
            .await?
        }
    };
    // `doc_id > $3` with the nil id on the first page, not `$3 IS NULL OR doc_id > $3`: a generic
    // plan of the latter read every document of the store for every page.
    let ids: Vec<(Uuid,)> = query_as(
        "SELECT doc_id FROM documents WHERE tenant_id = $1 AND doc_id > $3
         AND (store_id = $2 OR store_id IS NULL) ORDER BY doc_id LIMIT $4",
    )
    .bind(device.tenant_id)
    .bind(device.store_id)
    .bind(after.unwrap_or(Uuid::nil()))
    .bind(BOOTSTRAP_PAGE + 1)
    .fetch_all(&state.pool)
    .await?;
    let more = ids.len() as i64 > BOOTSTRAP_PAGE;
    let ids: Vec<Uuid> = ids
        .into_iter()
        .take(BOOTSTRAP_PAGE as usize)
        .map(|(id,)| id)
        .collect();
    let mut conn = state.pool.acquire().await?;
    let stored = load_docs(&mut conn, device.tenant_id, &ids, false).await?;
    drop(conn);
    let order = ids.clone();
    let docs = tokio::task::spawn_blocking(move || -> Result<Vec<DocSnapshot>, ApiError> {
        order
            .iter()
            .filter_map(|id| stored.get(id))
            .map(|d| {
                Ok(DocSnapshot {
                    envelope: d.envelope,
                    bytes: snapshot_of(d)?,
                })
            })
            .collect()
    })
    .await
    .map_err(ApiError::internal)??;
    let next = if more {
        ids.last().map(|id| format!("{cursor}.{id}.{total}"))
    } else {
        None
    };
    Ok(BootstrapPage {
        docs,
        cursor,
        next,
        total,
    })
}

/// `GET /v1/sync/doc/{id}`: the server's state of one document in the device's scope.
pub async fn doc(state: &AppState, device: &DeviceAuth, id: Uuid) -> Result<DocSnapshot, ApiError> {
    let mut conn = state.pool.acquire().await?;
    let mut stored = load_docs(&mut conn, device.tenant_id, &[id], false).await?;
    drop(conn);
    let d = stored
        .remove(&id)
        .filter(|d| docs::in_scope(&d.envelope, device.tenant_id, device.store_id))
        .ok_or_else(|| ApiError::NotFound(format!("no document {id} in this device's scope")))?;
    let envelope = d.envelope;
    let bytes = tokio::task::spawn_blocking(move || snapshot_of(&d))
        .await
        .map_err(ApiError::internal)??;
    Ok(DocSnapshot { envelope, bytes })
}

/// The live channel: sends `more` with the latest sequence whenever the device's store (or the
/// tenant's catalog) has new changes; once at connect too. Closes on server shutdown and when
/// the device is revoked (on any instance: the notice comes through NOTIFY).
pub async fn live(state: AppState, device: DeviceAuth, mut socket: WebSocket) {
    let mut rx = state.live.subscribe();
    let mut shutdown = state.shutdown.clone();
    metrics::gauge!(m::CONNECTED_DEVICES).increment(1.0);
    let send = |seq: i64| {
        Message::Text(
            serde_json::to_string(&LiveMessage::More { seq })
                .unwrap_or_default()
                .into(),
        )
    };
    if let Ok(seq) = db::last_seq(&state.pool, device.tenant_id).await {
        if socket.send(send(seq)).await.is_err() {
            metrics::gauge!(m::CONNECTED_DEVICES).decrement(1.0);
            return;
        }
    }
    loop {
        tokio::select! {
            n = rx.recv() => match n {
                Ok(Notice::More { tenant, store, seq }) if tenant == device.tenant_id
                    && (store.is_none() || store == Some(device.store_id)) => {
                    if socket.send(send(seq)).await.is_err() {
                        break;
                    }
                }
                Ok(Notice::Revoked { tenant, device: revoked })
                    if tenant == device.tenant_id && revoked == device.device_id => {
                    // Revocation takes effect on open sockets too, not only on the next request.
                    let _ = socket.send(Message::Close(None)).await;
                    break;
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    // Missed notices: say "more" with the latest sequence.
                    match db::last_seq(&state.pool, device.tenant_id).await {
                        Ok(seq) => if socket.send(send(seq)).await.is_err() { break },
                        Err(_) => break,
                    }
                }
                Err(_) => break,
            },
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = shutdown.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
        }
    }
    metrics::gauge!(m::CONNECTED_DEVICES).decrement(1.0);
}
