//! Events and webhooks (issue 14): a transactional outbox in Postgres (migration 0017).
//!
//! - **Events are written by the push that causes them, in its transaction**
//!   ([`Before::load`] before the push writes its projection rows, [`record`] after its change
//!   log): a sale whose projection row turns `closed` (`pos.sale.closed`), a new refund
//!   (`pos.refund.created`), a new Z report (`pos.shift.closed`), and a tracked item whose level
//!   (the sum of its movements, as `p_stock_levels`) crosses into `pos_core::inventory::flags`'
//!   low-stock band (`inventory.stock.low`). Each event's `data` is the document's projection
//!   row (the same rows reports read), and its `version` is the tenant's change sequence of the
//!   push, so versions of one entity increase in commit order. One delivery row per endpoint of
//!   the tenant is written with it.
//! - **A worker delivers** ([`Worker`]): it claims due deliveries with `FOR UPDATE SKIP LOCKED`
//!   under a lease, never one whose entity has an earlier version still pending for the same
//!   endpoint (in order per entity: version n+1 waits until n is delivered or dead), POSTs the
//!   event as JSON signed with HMAC-SHA256 over `timestamp.body`, and records the answer: a 2xx
//!   is `delivered`; anything else (3xx included: redirects are never followed; a timeout; a
//!   refused connection) is retried with exponential backoff and jitter, and `dead` after
//!   `--webhook-max-attempts`. At least once: a worker that dies mid-POST leaves the delivery
//!   to be sent again when its lease ends; receivers dedupe by `event_id`.
//! - Head office manages endpoints (`POST/GET/DELETE /v1/admin/webhooks`, owner or admin, the
//!   secret shown once and sealed at rest), lists deliveries, and replays an event.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use pos_core::auth::Permission;
use pos_core::doc::DocType;
use pos_core::projection::{self, Row, TableDef, Value as PValue};
use pos_sync::merge::MergeOutcome;
use rand::{Rng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use sqlx_core::query::query;
use sqlx_core::query_as::query_as;
use sqlx_postgres::PgPool;
use thiserror::Error;
use tokio::sync::{broadcast, watch};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::auth::{require, UserAuth};
use crate::db::{self, now_ms};
use crate::error::ApiError;
use crate::state::{AppState, Notice};

pub const SALE_CLOSED: &str = "pos.sale.closed";
pub const REFUND_CREATED: &str = "pos.refund.created";
pub const SHIFT_CLOSED: &str = "pos.shift.closed";
pub const STOCK_LOW: &str = "inventory.stock.low";

/// Header with the Unix time (seconds) the signature covers.
pub const TIMESTAMP_HEADER: &str = "x-pos-timestamp";
/// Header `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub const SIGNATURE_HEADER: &str = "x-pos-signature";

#[derive(Debug, Error)]
pub enum WebhookError {
    #[error("database: {0}")]
    Db(#[from] sqlx_core::Error),
    #[error("HTTP client: {0}")]
    Client(String),
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Db(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

// ------------------------------------------------------------------ events in the push

/// An event about to be written.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event_type: &'static str,
    pub entity_id: Uuid,
    pub version: i64,
    pub data: serde_json::Value,
}

/// A projection row as a JSON object, by its table's columns.
fn row_json(t: &TableDef, row: &Row) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (c, v) in t.columns.iter().zip(&row.values) {
        m.insert(
            (*c).to_string(),
            match v {
                PValue::Null => serde_json::Value::Null,
                PValue::Int(i) => (*i).into(),
                PValue::Text(s) => s.clone().into(),
            },
        );
    }
    serde_json::Value::Object(m)
}

fn column(t: &TableDef, row: &Row, name: &str) -> Option<PValue> {
    let i = t.columns.iter().position(|c| *c == name)?;
    row.values.get(i).cloned()
}

fn text(v: Option<PValue>) -> Option<String> {
    match v {
        Some(PValue::Text(s)) => Some(s),
        Some(PValue::Int(i)) => Some(i.to_string()),
        _ => None,
    }
}

/// What the push must read before it replaces projection rows: the previous status of sales
/// that close in it, and the levels of tracked items that it moves.
#[derive(Debug, Default)]
pub struct Before {
    sales: HashMap<Uuid, Option<String>>,
    /// (store, item) → level before the push, for tracked items.
    levels: HashMap<(String, String), i64>,
    /// (store, item) → the level after the push: before, minus the movements the push's
    /// documents had (their rows are replaced), plus the ones they have now. Computed in memory,
    /// so the push sums an item's whole history once, not twice.
    after: HashMap<(String, String), i64>,
    /// item → (sku, name, threshold), tracked items only.
    items: HashMap<String, (Option<String>, Option<String>, i64)>,
}

impl Before {
    /// Reads what [`record`] compares against. Runs before `docs::write_projections`.
    pub async fn load(
        tx: &mut db::Tx<'_>,
        tenant: Uuid,
        out: &MergeOutcome,
    ) -> Result<Before, sqlx_core::Error> {
        let mut b = Before::default();
        let created: HashSet<Uuid> = out
            .docs
            .iter()
            .filter(|d| d.created)
            .map(|d| d.envelope.doc_id)
            .collect();
        let mut closing = Vec::new();
        let mut pairs: HashSet<(String, String)> = HashSet::new();
        // The push's movements per (store, item), and the documents that had rows before.
        let mut new_qty: HashMap<(String, String), i64> = HashMap::new();
        let mut moved_docs: Vec<String> = Vec::new();
        for (env, rows) in &out.projections {
            for r in rows {
                if r.table == projection::SALES.name
                    && text(column(&projection::SALES, r, "status")).as_deref() == Some("closed")
                {
                    if created.contains(&env.doc_id) {
                        b.sales.insert(env.doc_id, None);
                    } else {
                        closing.push(env.doc_id.to_string());
                    }
                } else if r.table == projection::STOCK_MOVEMENTS.name {
                    let t = &projection::STOCK_MOVEMENTS;
                    if let (Some(s), Some(i)) = (
                        text(column(t, r, "store_id")),
                        text(column(t, r, "item_id")),
                    ) {
                        let qty = match column(t, r, "qty") {
                            Some(PValue::Int(q)) => q,
                            _ => 0,
                        };
                        *new_qty.entry((s.clone(), i.clone())).or_insert(0) += qty;
                        pairs.insert((s, i));
                        if !created.contains(&env.doc_id) {
                            moved_docs.push(env.doc_id.to_string());
                        }
                    }
                }
            }
        }
        if !closing.is_empty() {
            let rows: Vec<(String, Option<String>)> = query_as(
                "SELECT s.doc_id, s.status FROM UNNEST($2::text[]) AS x(d)
                 JOIN p_sales s ON s.tenant_id = $1 AND s.doc_id = x.d",
            )
            .bind(tenant)
            .bind(&closing)
            .fetch_all(&mut **tx)
            .await?;
            let old: HashMap<String, Option<String>> = rows.into_iter().collect();
            for id in closing {
                let prev = old.get(&id).cloned().flatten();
                if let Ok(u) = id.parse() {
                    b.sales.insert(u, prev);
                }
            }
        }
        if !pairs.is_empty() {
            let items: Vec<String> = pairs
                .iter()
                .map(|(_, i)| i.clone())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let tracked: Vec<(String, Option<String>, Option<String>, Option<i64>)> = query_as(
                "SELECT i.doc_id, i.sku, i.name, i.low_stock_threshold FROM UNNEST($2::text[]) AS x(d)
                 JOIN p_items i ON i.tenant_id = $1 AND i.doc_id = x.d AND i.track_stock <> 0",
            )
            .bind(tenant)
            .bind(&items)
            .fetch_all(&mut **tx)
            .await?;
            for (id, sku, name, threshold) in tracked {
                b.items.insert(id, (sku, name, threshold.unwrap_or(0)));
            }
            let pairs: Vec<(String, String)> = pairs
                .into_iter()
                .filter(|(_, i)| b.items.contains_key(i))
                .collect();
            b.levels = levels(tx, tenant, &pairs).await?;
            moved_docs.sort();
            moved_docs.dedup();
            let old_qty = doc_movements(tx, tenant, &moved_docs).await?;
            for p in pairs {
                let before = *b.levels.entry(p.clone()).or_insert(0);
                let after = before - old_qty.get(&p).copied().unwrap_or(0)
                    + new_qty.get(&p).copied().unwrap_or(0);
                b.after.insert(p, after);
            }
        }
        Ok(b)
    }
}

/// The movements the given documents have now (before the push replaces their rows), per
/// (store, item): by the primary key, so it costs what the documents hold, not the history.
async fn doc_movements(
    tx: &mut db::Tx<'_>,
    tenant: Uuid,
    docs: &[String],
) -> Result<HashMap<(String, String), i64>, sqlx_core::Error> {
    if docs.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Option<String>, Option<String>, i64)> = query_as(
        "SELECT m.store_id, m.item_id, COALESCE(sum(m.qty), 0)::bigint
         FROM p_stock_movements m
         WHERE m.tenant_id = $1 AND m.doc_id = ANY($2::text[])
         GROUP BY m.store_id, m.item_id",
    )
    .bind(tenant)
    .bind(docs)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(s, i, q)| Some(((s?, i?), q)))
        .collect())
}

/// The levels of (store, item) pairs: the sum of their movements (`p_stock_levels`).
async fn levels(
    tx: &mut db::Tx<'_>,
    tenant: Uuid,
    pairs: &[(String, String)],
) -> Result<HashMap<(String, String), i64>, sqlx_core::Error> {
    if pairs.is_empty() {
        return Ok(HashMap::new());
    }
    let (stores, items): (Vec<&str>, Vec<&str>) =
        pairs.iter().map(|(s, i)| (s.as_str(), i.as_str())).unzip();
    let rows: Vec<(String, String, i64)> = query_as(
        "SELECT x.s, x.i, COALESCE((SELECT sum(m.qty) FROM p_stock_movements m
             WHERE m.tenant_id = $1 AND m.store_id = x.s AND m.item_id = x.i), 0)::bigint
         FROM UNNEST($2::text[], $3::text[]) AS x(s, i)",
    )
    .bind(tenant)
    .bind(&stores)
    .bind(&items)
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows.into_iter().map(|(s, i, l)| ((s, i), l)).collect())
}

/// Writes the push's events and their deliveries, in the push's transaction (after its change
/// log: `last_of_doc` holds each document's last sequence, `last` the push's). Returns how many.
pub async fn record(
    tx: &mut db::Tx<'_>,
    tenant: Uuid,
    out: &MergeOutcome,
    before: &Before,
    last_of_doc: &HashMap<Uuid, i64>,
    last: i64,
) -> Result<usize, sqlx_core::Error> {
    let mut events = Vec::new();
    let created: HashSet<Uuid> = out
        .docs
        .iter()
        .filter(|d| d.created)
        .map(|d| d.envelope.doc_id)
        .collect();
    for (env, rows) in &out.projections {
        let version = last_of_doc.get(&env.doc_id).copied().unwrap_or(last);
        // Which event the document makes, if any, and the projection table its data comes from.
        let (event_type, table) = match env.doc_type {
            DocType::Sale
                if before
                    .sales
                    .get(&env.doc_id)
                    .is_some_and(|prev| prev.as_deref() != Some("closed")) =>
            {
                (SALE_CLOSED, &projection::SALES)
            }
            DocType::Refund if created.contains(&env.doc_id) => {
                (REFUND_CREATED, &projection::REFUNDS)
            }
            DocType::ZReport if created.contains(&env.doc_id) => {
                (SHIFT_CLOSED, &projection::Z_REPORTS)
            }
            _ => continue,
        };
        if let Some(row) = rows.iter().find(|r| r.table == table.name) {
            events.push(NewEvent {
                event_type,
                entity_id: env.doc_id,
                version,
                data: row_json(table, row),
            });
        }
    }
    if !before.after.is_empty() {
        let mut sorted: Vec<_> = before.after.iter().map(|(k, v)| (k.clone(), *v)).collect();
        sorted.sort();
        for ((store, item), now) in sorted {
            let was = before.levels.get(&(store.clone(), item.clone())).copied();
            let Some((sku, name, threshold)) = before.items.get(&item) else {
                continue;
            };
            let low_now = pos_core::inventory::flags(now, *threshold).low_stock;
            let low_before =
                was.is_some_and(|w| pos_core::inventory::flags(w, *threshold).low_stock);
            if low_now && !low_before {
                if let Ok(entity_id) = item.parse() {
                    events.push(NewEvent {
                        event_type: STOCK_LOW,
                        entity_id,
                        version: last,
                        data: serde_json::json!({
                            "store_id": store, "item_id": item, "sku": sku, "name": name,
                            "on_hand": now, "low_stock_threshold": threshold,
                        }),
                    });
                }
            }
        }
    }
    insert_events(tx, tenant, &events, now_ms()).await?;
    Ok(events.len())
}

/// Inserts events and one pending delivery per endpoint of the tenant, in one statement.
pub async fn insert_events(
    tx: &mut db::Tx<'_>,
    tenant: Uuid,
    events: &[NewEvent],
    at: i64,
) -> Result<(), sqlx_core::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type).collect();
    let entities: Vec<Uuid> = events.iter().map(|e| e.entity_id).collect();
    let versions: Vec<i64> = events.iter().map(|e| e.version).collect();
    let data: Vec<String> = events.iter().map(|e| e.data.to_string()).collect();
    query(
        "WITH ev AS (
             INSERT INTO events (tenant_id, event_id, type, entity_id, version, occurred_at, data)
             SELECT $1, i, t, e, v, $2, d::jsonb
             FROM UNNEST($3::uuid[], $4::text[], $5::uuid[], $6::bigint[], $7::text[]) AS x(i, t, e, v, d)
             RETURNING event_id, entity_id, version)
         INSERT INTO webhook_deliveries
             (tenant_id, endpoint_id, event_id, entity_id, version, next_attempt_at, created_at)
         SELECT $1, w.endpoint_id, ev.event_id, ev.entity_id, ev.version, $2, $2
         FROM ev JOIN webhook_endpoints w ON w.tenant_id = $1",
    )
    .bind(tenant)
    .bind(at)
    .bind(&ids)
    .bind(&types)
    .bind(&entities)
    .bind(&versions)
    .bind(&data)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

// ------------------------------------------------------------------ admin API

#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct CreateEndpoint {
    /// Where events are POSTed: an `http` or `https` URL, at most 2,000 characters, without a
    /// user or password; not a loopback, private or link-local address (unless the server
    /// allows them). The pattern gives a public host name's form.
    #[schema(
        max_length = 2000,
        pattern = r"^https?://([a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?\.)+[a-z]{2,6}(/[A-Za-z0-9._~-]*)*$"
    )]
    pub url: String,
}

/// A webhook endpoint as head office sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EndpointOut {
    pub endpoint_id: Uuid,
    pub url: String,
    pub created_at: i64,
    /// The signing secret: only in the answer that created the endpoint, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// What an endpoint's sealed secret is bound to (its table, column, tenant and row).
pub fn secret_aad(tenant: Uuid, endpoint: Uuid) -> Vec<u8> {
    format!("webhook_endpoints.secret_sealed:{tenant}:{endpoint}").into_bytes()
}

/// Checks an endpoint's URL: http(s), a host, no user or password, at most 2,000 characters;
/// and, unless `allow_private`, not a loopback, private, link-local or unspecified address
/// literal or `localhost` (a name is not resolved here).
pub fn check_url(raw: &str, allow_private: bool) -> Result<reqwest::Url, ApiError> {
    let raw = raw.trim();
    if raw.len() > 2000 {
        return Err(ApiError::validation("url: at most 2000 characters"));
    }
    let url = reqwest::Url::parse(raw)
        .map_err(|e| ApiError::validation(format!("url: not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::validation("url: must be http or https"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ApiError::validation(
            "url: must not carry a user or password",
        ));
    }
    let host = url
        .host()
        .ok_or_else(|| ApiError::validation("url: needs a host"))?;
    if !allow_private {
        let private = match host {
            url::Host::Domain(d) => {
                let d = d.to_ascii_lowercase();
                d == "localhost" || d.ends_with(".localhost")
            }
            url::Host::Ipv4(ip) => is_internal(std::net::IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => is_internal(std::net::IpAddr::V6(ip)),
        };
        if private {
            return Err(ApiError::validation(
                "url: a loopback, private or link-local address is not allowed",
            ));
        }
    }
    Ok(url)
}

/// A loopback, private, link-local, unspecified or broadcast address (an IPv4 address mapped
/// into IPv6 is judged as itself): what a webhook must not reach unless the operator allows it.
pub fn is_internal(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(ip) => {
            ip.is_loopback()
                || ip.is_private()
                || ip.is_link_local()
                || ip.is_unspecified()
                || ip.is_broadcast()
                // 100.64.0.0/10, carrier-grade NAT (often an operator's internal network).
                || (ip.octets()[0] == 100 && (ip.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_internal(IpAddr::V4(v4)),
            None => {
                ip.is_loopback()
                    || ip.is_unspecified()
                    || (ip.segments()[0] & 0xfe00) == 0xfc00
                    || (ip.segments()[0] & 0xffc0) == 0xfe80
            }
        },
    }
}

/// The webhook client's resolver when internal targets are not allowed: the system's answer
/// without its internal addresses ([`is_internal`]). [`check_url`] refuses internal address
/// literals when an endpoint is registered; this refuses, at every delivery, a name that
/// resolves to one (a name pointed at the server's own network later included), so a webhook
/// cannot be made to reach inside (SSRF through DNS).
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let all = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let public: Vec<std::net::SocketAddr> = all.filter(|a| !is_internal(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Creates an endpoint (owner or admin); the answer holds its secret, once.
pub async fn create(
    state: &AppState,
    user: &UserAuth,
    req: CreateEndpoint,
) -> Result<EndpointOut, ApiError> {
    require(&state.pool, user, None, Permission::TenantAdmin).await?;
    let url = check_url(&req.url, state.settings.webhook_allow_private)?;
    let endpoint_id = Uuid::now_v7();
    let mut raw = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut raw);
    let secret = format!("whsec_{}", hex::encode(raw));
    let sealed = state
        .settings
        .sealer
        .seal(secret.as_bytes(), &secret_aad(user.tenant_id, endpoint_id));
    let now = now_ms();
    let mut tx = state.pool.begin().await?;
    query(
        "INSERT INTO webhook_endpoints (tenant_id, endpoint_id, url, secret_sealed, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(user.tenant_id)
    .bind(endpoint_id)
    .bind(url.as_str())
    .bind(&sealed)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    db::audit(
        &mut tx,
        user.tenant_id,
        Some(user.user_id),
        None,
        "webhook.create",
        &format!("webhook:{endpoint_id}"),
        serde_json::json!({ "host": url.host_str(), "scheme": url.scheme() }),
    )
    .await?;
    tx.commit().await?;
    Ok(EndpointOut {
        endpoint_id,
        url: url.to_string(),
        created_at: now,
        secret: Some(secret),
    })
}

/// The tenant's endpoints (owner or admin), without their secrets.
pub async fn list(state: &AppState, user: &UserAuth) -> Result<Vec<EndpointOut>, ApiError> {
    require(&state.pool, user, None, Permission::TenantAdmin).await?;
    let rows: Vec<(Uuid, String, i64)> = query_as(
        "SELECT endpoint_id, url, created_at FROM webhook_endpoints WHERE tenant_id = $1
         ORDER BY created_at, endpoint_id",
    )
    .bind(user.tenant_id)
    .fetch_all(&state.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(endpoint_id, url, created_at)| EndpointOut {
            endpoint_id,
            url,
            created_at,
            secret: None,
        })
        .collect())
}

/// Deletes an endpoint and its deliveries (owner or admin).
pub async fn delete(state: &AppState, user: &UserAuth, endpoint: Uuid) -> Result<(), ApiError> {
    require(&state.pool, user, None, Permission::TenantAdmin).await?;
    let mut tx = state.pool.begin().await?;
    let done = query("DELETE FROM webhook_endpoints WHERE tenant_id = $1 AND endpoint_id = $2")
        .bind(user.tenant_id)
        .bind(endpoint)
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::NotFound("no such webhook endpoint".into()));
    }
    db::audit(
        &mut tx,
        user.tenant_id,
        Some(user.user_id),
        None,
        "webhook.delete",
        &format!("webhook:{endpoint}"),
        serde_json::json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
pub struct DeliveryQuery {
    /// Only this endpoint's deliveries.
    pub endpoint_id: Option<Uuid>,
    /// Only `pending`, `delivered` or `dead` ones.
    #[param(value_type = Option<DeliveryStatus>)]
    pub status: Option<String>,
    /// 1 to 500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A delivery's state (the `status` parameter's schema).
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // A schema only.
pub enum DeliveryStatus {
    Pending,
    Delivered,
    Dead,
}

/// One event's delivery to one endpoint (newest first).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeliveryOut {
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub entity_id: Uuid,
    pub version: i64,
    /// `pending` (waiting, retrying or being sent), `delivered` (a 2xx answer), `dead` (out
    /// of tries: replay it to send it again).
    #[schema(value_type = DeliveryStatus)]
    pub status: String,
    pub attempts: i32,
    /// The HTTP status of the last try, if it got one.
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub next_attempt_at: i64,
    pub delivered_at: Option<i64>,
    pub created_at: i64,
}

/// The tenant's deliveries (owner or admin).
pub async fn deliveries(
    state: &AppState,
    user: &UserAuth,
    q: DeliveryQuery,
) -> Result<Vec<DeliveryOut>, ApiError> {
    require(&state.pool, user, None, Permission::TenantAdmin).await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::validation("limit must be between 1 and 500"));
    }
    if let Some(s) = &q.status {
        if !matches!(s.as_str(), "pending" | "delivered" | "dead") {
            return Err(ApiError::validation(
                "status must be pending, delivered or dead",
            ));
        }
    }
    type Row = (
        Uuid,
        Uuid,
        String,
        Uuid,
        i64,
        String,
        i32,
        Option<i32>,
        Option<String>,
        i64,
        Option<i64>,
        i64,
    );
    let rows: Vec<Row> = query_as(
        "SELECT d.endpoint_id, d.event_id, e.type, d.entity_id, d.version, d.status, d.attempts,
                d.last_status, d.last_error, d.next_attempt_at, d.delivered_at, d.created_at
         FROM webhook_deliveries d
         JOIN events e ON e.tenant_id = d.tenant_id AND e.event_id = d.event_id
         WHERE d.tenant_id = $1 AND ($2::uuid IS NULL OR d.endpoint_id = $2)
           AND ($3::text IS NULL OR d.status = $3)
         ORDER BY d.created_at DESC, d.event_id DESC LIMIT $4",
    )
    .bind(user.tenant_id)
    .bind(q.endpoint_id)
    .bind(q.status)
    .bind(limit)
    .fetch_all(&state.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| DeliveryOut {
            endpoint_id: r.0,
            event_id: r.1,
            event_type: r.2,
            entity_id: r.3,
            version: r.4,
            status: r.5,
            attempts: r.6,
            last_status: r.7,
            last_error: r.8,
            next_attempt_at: r.9,
            delivered_at: r.10,
            created_at: r.11,
        })
        .collect())
}

/// What a replay did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayOut {
    pub event_id: Uuid,
    /// Endpoints it will be sent to again.
    pub deliveries: i64,
}

/// Sends an event again to every endpoint of the tenant (owner or admin): its deliveries
/// become `pending` with fresh tries, in order with the entity's other versions.
pub async fn replay(state: &AppState, user: &UserAuth, event: Uuid) -> Result<ReplayOut, ApiError> {
    require(&state.pool, user, None, Permission::TenantAdmin).await?;
    let now = now_ms();
    let mut tx = state.pool.begin().await?;
    let exists: Option<(Uuid,)> =
        query_as("SELECT event_id FROM events WHERE tenant_id = $1 AND event_id = $2")
            .bind(user.tenant_id)
            .bind(event)
            .fetch_optional(&mut *tx)
            .await?;
    if exists.is_none() {
        return Err(ApiError::NotFound("no such event".into()));
    }
    let done = query(
        "INSERT INTO webhook_deliveries
             (tenant_id, endpoint_id, event_id, entity_id, version, next_attempt_at, created_at)
         SELECT e.tenant_id, w.endpoint_id, e.event_id, e.entity_id, e.version, $3, $3
         FROM events e JOIN webhook_endpoints w ON w.tenant_id = e.tenant_id
         WHERE e.tenant_id = $1 AND e.event_id = $2
         ON CONFLICT (tenant_id, endpoint_id, event_id) DO UPDATE SET status = 'pending',
             attempts = 0, next_attempt_at = $3, last_status = NULL, last_error = NULL,
             delivered_at = NULL",
    )
    .bind(user.tenant_id)
    .bind(event)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    db::audit(
        &mut tx,
        user.tenant_id,
        Some(user.user_id),
        None,
        "webhook.replay",
        &format!("event:{event}"),
        serde_json::json!({ "deliveries": done.rows_affected() }),
    )
    .await?;
    tx.commit().await?;
    Ok(ReplayOut {
        event_id: event,
        deliveries: done.rows_affected() as i64,
    })
}

// ------------------------------------------------------------------ the worker

/// The worker's settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Whole request, connect to answer head.
    pub timeout: Duration,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long a claimed delivery belongs to its worker.
    pub lease: Duration,
    pub poll: Duration,
    /// Deliveries claimed at once.
    pub batch: i64,
    /// POSTs in flight at once.
    pub concurrency: usize,
    /// How long a settled event (no pending delivery) is kept; `None`: forever.
    pub retention: Option<Duration>,
    /// Loopback and private targets may be reached (`--webhook-allow-private-targets`: tests,
    /// or an accounting tool on the operator's own network). Otherwise names are resolved by
    /// [`PublicOnly`].
    pub allow_private: bool,
}

impl WebhookConfig {
    pub fn from_config(c: &crate::Config) -> WebhookConfig {
        WebhookConfig {
            timeout: Duration::from_millis(c.webhook_timeout_ms.max(1)),
            max_attempts: c.webhook_max_attempts.max(1),
            retry_base: Duration::from_millis(c.webhook_retry_base_ms.max(1)),
            retry_max: Duration::from_millis(c.webhook_retry_max_ms.max(1)),
            lease: Duration::from_millis(c.webhook_lease_ms.max(1)),
            poll: Duration::from_millis(c.webhook_poll_ms.max(5)),
            batch: 200,
            concurrency: c.webhook_concurrency.max(1),
            allow_private: c.webhook_allow_private_targets,
            retention: (c.events_retention_days > 0)
                .then(|| Duration::from_secs(u64::from(c.events_retention_days) * 86_400)),
        }
    }
}

/// A claimed delivery, with what its POST needs.
#[derive(Debug, Clone)]
struct Claimed {
    tenant_id: Uuid,
    endpoint_id: Uuid,
    event_id: Uuid,
    attempts: i32,
    url: String,
    secret_sealed: Vec<u8>,
    event_type: String,
    entity_id: Uuid,
    version: i64,
    occurred_at: i64,
    data: String,
}

/// What one look at the queue did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Round {
    pub delivered: usize,
    pub retrying: usize,
    pub dead: usize,
}

impl Round {
    pub fn tried(&self) -> usize {
        self.delivered + self.retrying + self.dead
    }
}

/// Signs a body: `v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The webhook worker (one per server instance).
pub struct Worker {
    pool: PgPool,
    sealer: crate::crypto::Sealer,
    client: reqwest::Client,
    cfg: WebhookConfig,
}

impl Worker {
    pub fn new(
        pool: PgPool,
        sealer: crate::crypto::Sealer,
        cfg: WebhookConfig,
    ) -> Result<Worker, WebhookError> {
        // reqwest is built without a default crypto provider (no aws-lc): ring's, once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = reqwest::Client::builder();
        if !cfg.allow_private {
            builder = builder.dns_resolver(PublicOnly);
        }
        let client = builder
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .no_proxy()
            .user_agent("pos-sync-server-webhooks/1")
            .pool_max_idle_per_host(cfg.concurrency)
            .build()
            .map_err(|e| WebhookError::Client(e.to_string()))?;
        Ok(Worker {
            pool,
            sealer,
            client,
            cfg,
        })
    }

    async fn claim(&self) -> Result<Vec<Claimed>, WebhookError> {
        let now = now_ms();
        type Row = (
            Uuid,
            Uuid,
            Uuid,
            i32,
            String,
            Vec<u8>,
            String,
            Uuid,
            i64,
            i64,
            String,
        );
        let rows: Vec<Row> = query_as(
            "UPDATE webhook_deliveries d SET attempts = d.attempts + 1, next_attempt_at = $2
             FROM (SELECT c.tenant_id, c.endpoint_id, c.event_id FROM webhook_deliveries c
                   WHERE c.status = 'pending' AND c.next_attempt_at <= $1
                     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p
                         WHERE p.tenant_id = c.tenant_id AND p.endpoint_id = c.endpoint_id
                           AND p.entity_id = c.entity_id AND p.status = 'pending'
                           AND (p.version, p.event_id) < (c.version, c.event_id))
                   ORDER BY c.next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED) c,
                  events e, webhook_endpoints w
             WHERE d.tenant_id = c.tenant_id AND d.endpoint_id = c.endpoint_id
               AND d.event_id = c.event_id
               AND e.tenant_id = d.tenant_id AND e.event_id = d.event_id
               AND w.tenant_id = d.tenant_id AND w.endpoint_id = d.endpoint_id
             RETURNING d.tenant_id, d.endpoint_id, d.event_id, d.attempts, w.url, w.secret_sealed,
                       e.type, e.entity_id, e.version, e.occurred_at, e.data::text",
        )
        .bind(now)
        .bind(now + self.cfg.lease.as_millis() as i64)
        .bind(self.cfg.batch)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| Claimed {
                tenant_id: r.0,
                endpoint_id: r.1,
                event_id: r.2,
                attempts: r.3,
                url: r.4,
                secret_sealed: r.5,
                event_type: r.6,
                entity_id: r.7,
                version: r.8,
                occurred_at: r.9,
                data: r.10,
            })
            .collect())
    }

    /// One POST: `Ok(status)` for a 2xx, `Err((status, error))` otherwise.
    async fn post(&self, c: &Claimed) -> Result<u16, (Option<u16>, String)> {
        let secret = self
            .sealer
            .open(&c.secret_sealed, &secret_aad(c.tenant_id, c.endpoint_id))
            .map_err(|e| (None, format!("the endpoint's secret cannot be opened: {e}")))?;
        let data: serde_json::Value =
            serde_json::from_str(&c.data).unwrap_or(serde_json::Value::Null);
        let body = serde_json::to_vec(&serde_json::json!({
            "event_id": c.event_id,
            "tenant_id": c.tenant_id,
            "entity_id": c.entity_id,
            "version": c.version,
            "occurred_at": c.occurred_at,
            "type": c.event_type,
            "data": data,
        }))
        .map_err(|e| (None, e.to_string()))?;
        let ts = now_ms() / 1000;
        let sig = sign(&secret, ts, &body);
        let res = self
            .client
            .post(&c.url)
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, ts.to_string())
            .header(SIGNATURE_HEADER, sig)
            .header("x-pos-event-id", c.event_id.to_string())
            .header("x-pos-event-type", &c.event_type)
            .body(body)
            .send()
            .await;
        match res {
            Ok(r) => {
                let status = r.status().as_u16();
                // The answer's body is never read: a receiver cannot make us hold its bytes.
                drop(r);
                if (200..300).contains(&status) {
                    Ok(status)
                } else if (300..400).contains(&status) {
                    Err((Some(status), format!("redirect ({status}) not followed")))
                } else {
                    Err((Some(status), format!("HTTP {status}")))
                }
            }
            Err(e) if e.is_timeout() => Err((None, "timed out".into())),
            Err(e) if e.is_connect() => Err((None, "connection failed".into())),
            Err(e) => Err((None, format!("request failed: {e}"))),
        }
    }

    /// One look at the queue: claims a batch, POSTs it (`concurrency` at once), records it.
    pub async fn run_once(&self) -> Result<Round, WebhookError> {
        let claimed = self.claim().await?;
        if claimed.is_empty() {
            return Ok(Round::default());
        }
        let results: Vec<(Claimed, Result<u16, (Option<u16>, String)>)> =
            futures_util::stream::iter(claimed)
                .map(|c| async move {
                    let r = self.post(&c).await;
                    (c, r)
                })
                .buffer_unordered(self.cfg.concurrency)
                .collect()
                .await;
        let now = now_ms();
        let mut round = Round::default();
        let (mut t, mut ep, mut ev, mut att, mut st, mut code, mut err, mut next) = (
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        );
        for (c, r) in results {
            let (status, http, error, due) = match r {
                Ok(s) => {
                    round.delivered += 1;
                    ("delivered", Some(s as i32), None, now)
                }
                Err((s, e)) if c.attempts as u32 >= self.cfg.max_attempts => {
                    round.dead += 1;
                    tracing::warn!(event_id = %c.event_id, endpoint_id = %c.endpoint_id, attempts = c.attempts, error = %e, "webhook delivery dead-lettered");
                    ("dead", s.map(i32::from), Some(e), now)
                }
                Err((s, e)) => {
                    round.retrying += 1;
                    let wait = crate::smtp::backoff(
                        self.cfg.retry_base,
                        self.cfg.retry_max,
                        c.attempts as u32,
                    );
                    (
                        "pending",
                        s.map(i32::from),
                        Some(e),
                        now + wait.as_millis() as i64,
                    )
                }
            };
            t.push(c.tenant_id);
            ep.push(c.endpoint_id);
            ev.push(c.event_id);
            att.push(c.attempts);
            st.push(status);
            code.push(http);
            err.push(error);
            next.push(due);
        }
        // Recorded only where the claim still holds (its attempt count): a worker whose lease
        // passed and whose delivery was claimed again records nothing.
        query(
            "UPDATE webhook_deliveries d SET status = x.st, last_status = x.code, last_error = x.err,
                 next_attempt_at = x.nx,
                 delivered_at = CASE WHEN x.st = 'delivered' THEN $1 ELSE d.delivered_at END
             FROM UNNEST($2::uuid[], $3::uuid[], $4::uuid[], $5::int[], $6::text[], $7::int[],
                         $8::text[], $9::bigint[]) AS x(t, ep, ev, a, st, code, err, nx)
             WHERE d.tenant_id = x.t AND d.endpoint_id = x.ep AND d.event_id = x.ev
               AND d.attempts = x.a AND d.status = 'pending'",
        )
        .bind(now)
        .bind(&t)
        .bind(&ep)
        .bind(&ev)
        .bind(&att)
        .bind(&st)
        .bind(&code)
        .bind(&err)
        .bind(&next)
        .execute(&self.pool)
        .await?;
        metrics::counter!("pos_webhooks_delivered_total").increment(round.delivered as u64);
        metrics::counter!("pos_webhooks_retries_total").increment(round.retrying as u64);
        metrics::counter!("pos_webhooks_dead_total").increment(round.dead as u64);
        Ok(round)
    }

    /// Deletes events older than the retention whose deliveries are all settled (delivered or
    /// dead; an event no endpoint wanted has none), with their deliveries, in batches. An event
    /// with a pending delivery stays, however old. Returns how many went.
    pub async fn prune(&self, now_ms: i64) -> Result<u64, WebhookError> {
        let Some(keep) = self.cfg.retention else {
            return Ok(0);
        };
        let cutoff = now_ms - keep.as_millis() as i64;
        let mut gone = 0;
        loop {
            let n = query(
                "DELETE FROM events WHERE (tenant_id, event_id) IN (
                   SELECT e.tenant_id, e.event_id FROM events e
                    WHERE e.occurred_at < $1
                      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d
                                       WHERE d.tenant_id = e.tenant_id AND d.event_id = e.event_id
                                         AND d.status = 'pending')
                    LIMIT 5000)",
            )
            .bind(cutoff)
            .execute(&self.pool)
            .await?
            .rows_affected();
            gone += n;
            if n < 5000 {
                return Ok(gone);
            }
        }
    }

    /// Runs until shutdown: again at once after a busy look; otherwise after `poll`, or at once
    /// when a push commits (the live channel's "more"). Prunes settled old events hourly.
    pub fn spawn(
        self: std::sync::Arc<Self>,
        mut live: broadcast::Receiver<Notice>,
        mut stop: watch::Receiver<bool>,
    ) {
        tokio::spawn(async move {
            let mut next_prune = tokio::time::Instant::now();
            loop {
                if *stop.borrow() {
                    return;
                }
                if tokio::time::Instant::now() >= next_prune {
                    next_prune += Duration::from_secs(3600);
                    match self.prune(now_ms()).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(events = n, "webhooks: old settled events pruned"),
                        Err(e) => tracing::warn!(error = %e, "webhooks: pruning events failed"),
                    }
                }
                let busy = match self.run_once().await {
                    Ok(r) => r.tried() > 0,
                    Err(e) => {
                        tracing::warn!(error = %e, "webhooks: looking at the queue failed");
                        false
                    }
                };
                if !busy {
                    let jitter = Duration::from_millis(rand::thread_rng().gen_range(0..=10));
                    tokio::select! {
                        _ = tokio::time::sleep(self.cfg.poll + jitter) => {}
                        r = live.recv() => {
                            if let Err(broadcast::error::RecvError::Closed) = r {
                                tokio::time::sleep(self.cfg.poll).await;
                            }
                        }
                        _ = stop.changed() => return,
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_judged_as_themselves_also_when_mapped_into_ipv6() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.50",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    /// Regression (webhooks, SSRF through DNS): a registered name that resolves to an internal
    /// address is not reached; only literals were refused, when the endpoint was registered.
    #[tokio::test]
    async fn regression_a_name_resolving_to_loopback_is_not_reached() {
        use reqwest::dns::Resolve;
        use std::str::FromStr;
        let name = reqwest::dns::Name::from_str("localhost").unwrap();
        let err = match PublicOnly.resolve(name).await {
            Ok(addrs) => panic!("resolved to {:?}", addrs.collect::<Vec<_>>()),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("no public address"), "{err}");
        // And through the client the worker builds: the connection is never made.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = reqwest::Client::builder()
            .dns_resolver(PublicOnly)
            .build()
            .unwrap();
        let r = client
            .post(format!("http://localhost:{port}/hook"))
            .send()
            .await;
        assert!(r.is_err(), "{r:?}");
        listener.set_nonblocking(true).unwrap();
        assert!(listener.accept().is_err(), "nothing connected");
    }

    #[test]
    fn urls_must_be_http_with_a_host_and_no_private_address_unless_allowed() {
        assert!(check_url("https://hooks.example.com/pos", false).is_ok());
        assert!(check_url("http://hooks.example.com:8080/x?y=1", false).is_ok());
        for bad in [
            "ftp://hooks.example.com/",
            "not a url",
            "https://user:pw@hooks.example.com/",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://10.1.2.3/",
            "http://[::1]/",
            "http://169.254.169.254/latest/meta-data",
        ] {
            assert!(check_url(bad, false).is_err(), "{bad}");
        }
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url(&format!("https://a.example/{}", "x".repeat(2001)), true).is_err());
    }

    #[test]
    fn the_signature_is_hmac_sha256_over_timestamp_dot_body() {
        // RFC 4231-style check against an independent computation.
        let s = sign(b"key", 1_700_000_000, b"{}");
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(b"key").unwrap();
        mac.update(b"1700000000.{}");
        assert_eq!(
            s,
            format!("v1={}", hex::encode(mac.finalize().into_bytes()))
        );
    }
}
