//! Head office's reports (`/v1/admin/reports/...`): the metric dictionary of
//! `pos_core::metrics` computed in SQL over the projection rows, on the stores' business days.
//!
//! **How a day is counted.** Each store has its own clock (`pos_core::calendar::StoreClock`,
//! from its settings document: IANA zone and business-day start). A range of business days is
//! turned into one `[start, end)` of instants per store by that clock; SQL adds figures up in
//! 15-minute buckets of UTC (`at / 900000`), and each bucket is given to its business day and
//! local hour by the same clock. Every zone's offset and every business-day start is a whole
//! number of quarter hours, so no bucket straddles two days or two hours, and Postgres's own
//! time-zone rules are never asked: the till, the server and the console share one rule.
//!
//! **Where each metric's SQL lives.** In the `*_sql` functions below, one per source table,
//! each column named after the `pos_core::metrics::Metric` it feeds. A test computes the same
//! figures from the documents (`Figures`) and compares them to the minor unit.
//!
//! Scope: the stores come from the caller's tenant (a store of another tenant is "not found"),
//! and each one needs `report.view` for the caller there (`pos_core::auth::can`, tenant-wide or
//! store roles). Nothing a client types widens that.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use pos_core::auth::{can, Permission, Role};
use pos_core::calendar::{self, Day, StoreClock};
use pos_core::metrics::{cash_expected, share_bp, Metric};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sqlx_core::query_as::query_as;
use sqlx_core::sql_str::AssertSqlSafe;
use uuid::Uuid;

use crate::auth::UserAuth;
use crate::db::now_ms;
use crate::error::ApiError;
use crate::state::AppState;

/// The longest range one request may ask for, in business days.
pub const MAX_RANGE_DAYS: i64 = 400;
/// At most this many stores named in one request.
pub const MAX_STORES: usize = 200;
/// Rows per JSON page, by default and at most.
pub const DEFAULT_LIMIT: usize = 1000;
pub const MAX_LIMIT: usize = 10_000;
/// A device whose data is older than this is flagged stale (minutes), unless the query says.
pub const DEFAULT_STALE_AFTER_MIN: i64 = 15;
/// SQL adds up in buckets of this many milliseconds (see the module's doc).
const BUCKET_MS: i64 = 900_000;

/// The query string every report takes. Unknown keys are ignored.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    /// Comma-separated store ids; default: every store the caller may see.
    pub stores: Option<String>,
    /// First business day, `YYYY-MM-DD` (in each store's zone).
    #[param(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$")]
    pub from: Option<String>,
    /// Last business day, inclusive.
    #[param(pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])$")]
    pub to: Option<String>,
    /// An IANA zone that overrides the stores' own (one calendar for all stores).
    #[param(
        max_length = 64,
        pattern = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+){0,2}$"
    )]
    pub zone: Option<String>,
    /// `refund_day` (default: a refund counts on the day it was made) or `sale_day` (on the
    /// day its sale closed).
    #[param(value_type = Option<RefundsBy>)]
    pub refunds_by: Option<String>,
    /// Grouping: sales summary `day` (default), `hour` or `store`; items `item` (default) or
    /// `category`; cash `shift` (default) or `cashier`.
    #[param(value_type = Option<ReportGroup>)]
    pub group: Option<String>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<ReportFormat>)]
    pub format: Option<String>,
    /// Rows per page (JSON), 1 to 10,000; default 1,000.
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Flag devices whose data is older than this many minutes (1 to 525,600; default 15).
    #[param(minimum = 1, maximum = 525600)]
    pub stale_after_min: Option<i64>,
    /// Accept an answer computed up to this many seconds ago (0 to 60; default 0: computed
    /// now). A dashboard that refreshes often passes a few seconds, so many screens asking the
    /// same question cost one computation; `as_of` says when it was computed. The caller's
    /// permissions are checked on every request all the same.
    #[param(minimum = 0, maximum = 60)]
    pub max_age_secs: Option<i64>,
}

/// How refunds are dated in a report (the `refunds_by` parameter's schema).
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // A schema only.
pub enum RefundsBy {
    RefundDay,
    SaleDay,
}

/// A report's grouping (the `group` parameter's schema); each report takes some of them.
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // A schema only.
pub enum ReportGroup {
    Day,
    Hour,
    Store,
    Item,
    Category,
    Shift,
    Cashier,
}

/// A report's format (the `format` parameter's schema).
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // A schema only.
pub enum ReportFormat {
    Json,
    Csv,
}

/// Recent JSON answers, for requests that accept one (`max_age_secs`). **Bounded** like every
/// map keyed by client input: at most [`AnswerCache::MAX_ENTRIES`] answers of at most
/// [`AnswerCache::MAX_BYTES`] each, keyed by a 16-byte digest of tenant, caller and question
/// (never the text). When full of answers younger than the longest `max_age_secs`, nothing new
/// is kept.
pub struct AnswerCache {
    map: std::sync::Mutex<HashMap<[u8; 16], (i64, std::sync::Arc<Vec<u8>>)>>,
}

impl Default for AnswerCache {
    fn default() -> Self {
        AnswerCache {
            map: std::sync::Mutex::new(HashMap::new()),
        }
    }
}

impl AnswerCache {
    pub const MAX_ENTRIES: usize = 1024;
    pub const MAX_BYTES: usize = 1 << 20;
    /// The longest `max_age_secs` a request may ask for.
    pub const MAX_AGE_SECS: i64 = 60;

    fn key(tenant: Uuid, user: Uuid, report: Report, q: &ReportQuery) -> [u8; 16] {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(tenant.as_bytes());
        h.update(user.as_bytes());
        h.update(report.name().as_bytes());
        for part in [
            &q.stores,
            &q.from,
            &q.to,
            &q.zone,
            &q.refunds_by,
            &q.group,
            &q.cursor,
        ] {
            h.update(part.as_deref().unwrap_or("\u{1}").as_bytes());
            h.update([0]);
        }
        h.update(q.limit.unwrap_or(-1).to_le_bytes());
        h.update(q.stale_after_min.unwrap_or(-1).to_le_bytes());
        let mut k = [0u8; 16];
        k.copy_from_slice(&h.finalize()[..16]);
        k
    }

    fn get(&self, key: &[u8; 16], max_age_ms: i64, now: i64) -> Option<std::sync::Arc<Vec<u8>>> {
        let map = self.map.lock().ok()?;
        map.get(key)
            .filter(|(at, _)| now - *at <= max_age_ms)
            .map(|(_, body)| body.clone())
    }

    fn put(&self, key: [u8; 16], body: std::sync::Arc<Vec<u8>>, now: i64) {
        if body.len() > Self::MAX_BYTES {
            return;
        }
        let Ok(mut map) = self.map.lock() else { return };
        if map.len() >= Self::MAX_ENTRIES {
            map.retain(|_, (at, _)| now - *at <= Self::MAX_AGE_SECS * 1000);
        }
        if map.len() < Self::MAX_ENTRIES || map.contains_key(&key) {
            map.insert(key, (now, body));
        }
    }

    /// Answers held (for tests).
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    SalesSummary,
    Items,
    Tenders,
    Taxes,
    Staff,
    Shifts,
    Cash,
    Stock,
    Transfers,
    Feed,
}

impl Report {
    pub const ALL: [Report; 10] = [
        Report::SalesSummary,
        Report::Items,
        Report::Tenders,
        Report::Taxes,
        Report::Staff,
        Report::Shifts,
        Report::Cash,
        Report::Stock,
        Report::Transfers,
        Report::Feed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Report::SalesSummary => "sales-summary",
            Report::Items => "items",
            Report::Tenders => "tenders",
            Report::Taxes => "taxes",
            Report::Staff => "staff",
            Report::Shifts => "shifts",
            Report::Cash => "cash",
            Report::Stock => "stock",
            Report::Transfers => "transfers",
            Report::Feed => "feed",
        }
    }

    /// Whether the report reads a range of business days (then `from` and `to` are required;
    /// the others take none).
    pub fn ranged(self) -> bool {
        !matches!(self, Report::Stock | Report::Transfers | Report::Feed)
    }
}

/// A cell of a report table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Int(i64),
    Text(String),
    Bool(bool),
    Null,
}

impl From<i64> for Cell {
    fn from(v: i64) -> Self {
        Cell::Int(v)
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Self {
        Cell::Text(v)
    }
}
impl From<&str> for Cell {
    fn from(v: &str) -> Self {
        Cell::Text(v.to_string())
    }
}
impl From<bool> for Cell {
    fn from(v: bool) -> Self {
        Cell::Bool(v)
    }
}
impl<T: Into<Cell>> From<Option<T>> for Cell {
    fn from(v: Option<T>) -> Self {
        v.map(Into::into).unwrap_or(Cell::Null)
    }
}

impl Cell {
    fn json(&self) -> Value {
        match self {
            Cell::Int(i) => json!(i),
            Cell::Text(s) => json!(s),
            Cell::Bool(b) => json!(b),
            Cell::Null => Value::Null,
        }
    }

    /// CSV text. Text that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, tab, CR)
    /// is prefixed with `'`: item names and reasons come from tills.
    fn csv(&self) -> String {
        match self {
            Cell::Int(i) => i.to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::Null => String::new(),
            Cell::Text(s) => {
                if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
                    format!("'{s}")
                } else {
                    s.clone()
                }
            }
        }
    }
}

/// A report's rows, columns in order.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<&'static str>,
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    fn new(columns: &[&'static str]) -> Table {
        Table {
            columns: columns.to_vec(),
            rows: Vec::new(),
        }
    }

    fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len(), "{:?}", self.columns);
        self.rows.push(row);
    }
}

/// A store in a report's scope, with its clock.
#[derive(Debug, Clone)]
pub struct ScopeStore {
    pub store_id: Uuid,
    pub code: String,
    pub name: String,
    pub currency: Option<String>,
    pub clock: StoreClock,
}

#[derive(Debug, Clone, Serialize)]
struct StoreInfo {
    store_id: Uuid,
    code: String,
    name: String,
    currency: Option<String>,
    time_zone: String,
    business_day_start: String,
}

#[derive(Debug, Clone, Serialize)]
struct Freshness {
    store_id: Uuid,
    device_id: Uuid,
    device_code: String,
    device_name: String,
    /// The device's data is on the server up to this instant (ms): its last push or pull.
    complete_until: Option<i64>,
    /// `complete_until` in the store's local time.
    complete_until_local: Option<String>,
    /// No sync for longer than `stale_after_min` (or never).
    stale: bool,
}

/// The stores' ids and ranges, bound as `$2`, `$3`, `$4` after the tenant, and every store's
/// day starts (`days + 1` of them, the last being the range's end) in one flat array `$5`, `$6`
/// a store's count.
#[derive(Debug, Clone, Default)]
struct Ranges {
    ids: Vec<String>,
    starts: Vec<i64>,
    ends: Vec<i64>,
    thresholds: Vec<i64>,
    per_store: i32,
}

impl Ranges {
    fn bind<'q, O>(
        &'q self,
        q: sqlx_core::query_as::QueryAs<'q, sqlx_postgres::Postgres, O, sqlx_postgres::PgArguments>,
        tenant: Uuid,
    ) -> sqlx_core::query_as::QueryAs<'q, sqlx_postgres::Postgres, O, sqlx_postgres::PgArguments>
    {
        q.bind(tenant)
            .bind(&self.ids)
            .bind(&self.starts)
            .bind(&self.ends)
            .bind(&self.thresholds)
            .bind(self.per_store)
    }
}

/// The resolved request: stores, range, options.
pub struct Scope {
    pub stores: Vec<ScopeStore>,
    pub from: Option<Day>,
    pub to: Option<Day>,
    pub refunds_by_sale_day: bool,
    pub group: Option<String>,
    tenant: Uuid,
}

impl Scope {
    /// One store and one business day, for server-side jobs (the daily summary): the caller
    /// has already decided the scope.
    pub fn one_day(tenant: Uuid, store: ScopeStore, day: Day) -> Scope {
        Scope {
            stores: vec![store],
            from: Some(day),
            to: Some(day),
            refunds_by_sale_day: false,
            group: None,
            tenant,
        }
    }

    /// Every store's id and range, for the statements that answer all stores at once.
    fn ranges(&self) -> Result<Ranges, ApiError> {
        let mut r = Ranges::default();
        let days: Vec<Day> = match (self.from, self.to) {
            (Some(f), Some(t)) => calendar::days(f, t),
            _ => Vec::new(),
        };
        r.per_store = days.len() as i32 + 1;
        for s in &self.stores {
            let (start, end) = self.bounds(s)?;
            r.ids.push(s.store_id.to_string());
            r.starts.push(start);
            r.ends.push(end);
            for d in &days {
                r.thresholds.push(s.clock.day_start_ms(*d).map_err(bad)?);
            }
            r.thresholds.push(end);
        }
        Ok(r)
    }

    /// The business day of a day bucket (`width_bucket` over the range's day starts: 1 is
    /// `from`).
    fn day(&self, bucket: i64) -> Result<Day, ApiError> {
        let from = self
            .from
            .ok_or_else(|| ApiError::Internal("a day bucket without a range".into()))?;
        calendar::add_days(from, bucket - 1).map_err(ApiError::internal)
    }

    /// The store of a row, by the id the projections hold.
    fn store(&self, id: &str) -> Result<(usize, &ScopeStore), ApiError> {
        self.stores
            .iter()
            .enumerate()
            .find(|(_, s)| s.store_id.to_string() == id)
            .ok_or_else(|| ApiError::Internal(format!("a report row names store {id}")))
    }

    /// `[start, end)` of the range in `store`'s clock.
    fn bounds(&self, s: &ScopeStore) -> Result<(i64, i64), ApiError> {
        let (Some(from), Some(to)) = (self.from, self.to) else {
            return Ok((0, i64::MAX));
        };
        let (start, _) = s.clock.day_bounds(from).map_err(bad)?;
        let (_, end) = s.clock.day_bounds(to).map_err(bad)?;
        Ok((start, end))
    }
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::validation(e.to_string())
}

/// Resolves and checks the query: range, zone, stores and the caller's `report.view` in each.
pub async fn scope(
    state: &AppState,
    user: &UserAuth,
    report: Report,
    q: &ReportQuery,
) -> Result<Scope, ApiError> {
    crate::modules::require(state, user.tenant_id, pos_core::modules::Module::Reports).await?;
    // The range first: it needs no database.
    let (from, to) = if report.ranged() {
        let (Some(f), Some(t)) = (q.from.as_deref(), q.to.as_deref()) else {
            return Err(ApiError::validation(
                "from and to are required: business days as YYYY-MM-DD",
            ));
        };
        let (f, t) = (
            calendar::parse_day(f).map_err(bad)?,
            calendar::parse_day(t).map_err(bad)?,
        );
        if f > t {
            return Err(ApiError::validation(format!(
                "the range is reversed: from {f} is after to {t}"
            )));
        }
        let days = (t - f).get_days() as i64 + 1;
        if days > MAX_RANGE_DAYS {
            return Err(ApiError::validation(format!(
                "the range has {days} days; at most {MAX_RANGE_DAYS} are allowed"
            )));
        }
        (Some(f), Some(t))
    } else {
        (None, None)
    };
    let zone = match q.zone.as_deref() {
        Some(z) => Some(
            calendar::check_zone(z)
                .map(|_| z.to_string())
                .map_err(bad)?,
        ),
        None => None,
    };
    let refunds_by_sale_day = match q.refunds_by.as_deref() {
        None | Some("refund_day") => false,
        Some("sale_day") => true,
        Some(other) => {
            return Err(ApiError::validation(format!(
                "refunds_by must be refund_day or sale_day, got {:?}",
                pos_core::text::clip(other, 40)
            )))
        }
    };
    let wanted: Option<Vec<Uuid>> = match q.stores.as_deref() {
        None | Some("") => None,
        Some(list) => {
            let parts: Vec<&str> = list.split(',').map(str::trim).collect();
            if parts.len() > MAX_STORES {
                return Err(ApiError::validation(format!(
                    "at most {MAX_STORES} stores per request, got {}",
                    parts.len()
                )));
            }
            let mut ids = Vec::with_capacity(parts.len());
            for p in parts {
                ids.push(p.parse::<Uuid>().map_err(|_| {
                    ApiError::validation(format!(
                        "stores: {:?} is not a store id",
                        pos_core::text::clip(p, 40)
                    ))
                })?);
            }
            Some(ids)
        }
    };

    let tenant = user.tenant_id;
    let stores: Vec<(Uuid, String, String)> =
        query_as("SELECT store_id, code, name FROM stores WHERE tenant_id = $1 ORDER BY code")
            .bind(tenant)
            .fetch_all(&state.pool)
            .await?;
    let viewable = viewable_stores(state, user).await?;
    let may = |id: &Uuid| viewable.as_ref().is_none_or(|v| v.contains(id));
    let chosen: Vec<(Uuid, String, String)> = match &wanted {
        Some(ids) => {
            let mut out = Vec::new();
            for id in ids {
                let Some(s) = stores.iter().find(|s| s.0 == *id) else {
                    return Err(ApiError::NotFound(format!("no store {id}")));
                };
                if !may(id) {
                    return Err(ApiError::Authz(format!(
                        "permission report.view is required in store {id}"
                    )));
                }
                if !out.iter().any(|o: &(Uuid, String, String)| o.0 == *id) {
                    out.push(s.clone());
                }
            }
            out
        }
        None => stores.into_iter().filter(|s| may(&s.0)).collect(),
    };
    if chosen.is_empty() {
        return Err(ApiError::Authz(
            "permission report.view is required in at least one store".into(),
        ));
    }
    let settings: Vec<(Option<String>, Option<String>, Option<String>, Option<String>)> = query_as(
        "SELECT store_id, time_zone, business_day_start, currency FROM p_settings WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_all(&state.pool)
    .await?;
    let mut out = Vec::with_capacity(chosen.len());
    for (id, code, name) in chosen {
        let s = settings
            .iter()
            .find(|r| r.0.as_deref() == Some(id.to_string().as_str()));
        let (tz, start, currency) = match s {
            Some((_, tz, start, cur)) => (tz.clone(), start.clone(), cur.clone()),
            None => (None, None, None),
        };
        let tz = zone
            .clone()
            .or(tz)
            .unwrap_or_else(|| calendar::DEFAULT_ZONE.into());
        let start = start.unwrap_or_else(|| calendar::DEFAULT_DAY_START.into());
        // A settings document holds a checked zone; one the server's zone database does not
        // know (older tzdata) falls back to UTC rather than failing every report.
        let clock = StoreClock::new(&tz, &start).unwrap_or_else(|_| StoreClock::utc());
        out.push(ScopeStore {
            store_id: id,
            code,
            name,
            currency,
            clock,
        });
    }
    Ok(Scope {
        stores: out,
        from,
        to,
        refunds_by_sale_day,
        group: q.group.clone(),
        tenant,
    })
}

/// The stores where the caller holds `report.view`; `None` for all of the tenant's.
async fn viewable_stores(
    state: &AppState,
    user: &UserAuth,
) -> Result<Option<HashSet<Uuid>>, ApiError> {
    if user.superadmin {
        return Ok(None);
    }
    let rows: Vec<(Option<Uuid>, String)> =
        query_as("SELECT store_id, role FROM memberships WHERE tenant_id = $1 AND user_id = $2")
            .bind(user.tenant_id)
            .bind(user.user_id)
            .fetch_all(&state.pool)
            .await?;
    let mut set = HashSet::new();
    for (store, role) in rows {
        let Ok(role) = role.parse::<Role>() else {
            continue;
        };
        if !can(role, Permission::ReportView) {
            continue;
        }
        match store {
            None => return Ok(None),
            Some(s) => {
                set.insert(s);
            }
        }
    }
    Ok(Some(set))
}

/// Where report data is read: the replica when there is one, else the master.
fn data(state: &AppState) -> &sqlx_postgres::PgPool {
    state.replica.as_ref().unwrap_or(&state.pool)
}

/// Where the answer was read, and how far behind the master a replica is: `lag_bytes` of WAL
/// not yet replayed, and `lag_ms` since the last replayed transaction when behind (0 when
/// caught up).
async fn source(state: &AppState) -> Result<Value, ApiError> {
    let Some(replica) = &state.replica else {
        return Ok(json!({ "replica": false }));
    };
    let (replay, replayed_at): (Option<String>, Option<i64>) = query_as(
        "SELECT pg_last_wal_replay_lsn()::text,
                (extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000)::bigint",
    )
    .fetch_one(replica)
    .await?;
    let Some(replay) = replay else {
        return Ok(json!({ "replica": true, "lag_bytes": null, "lag_ms": null,
            "note": "the replica database is not a standby" }));
    };
    let (bytes,): (Option<i64>,) =
        query_as("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint")
            .bind(replay)
            .fetch_one(&state.pool)
            .await?;
    let bytes = bytes.unwrap_or(0).max(0);
    let lag_ms = if bytes > 0 {
        replayed_at.map(|t| (now_ms() - t).max(0))
    } else {
        Some(0)
    };
    Ok(json!({ "replica": true, "lag_bytes": bytes, "lag_ms": lag_ms }))
}

/// Runs a report and answers it as JSON (`{data, pagination, stores, freshness, ...}`) or CSV.
pub async fn respond(
    state: &AppState,
    user: &UserAuth,
    report: Report,
    q: ReportQuery,
) -> Result<Response, ApiError> {
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::validation(format!(
                "format must be json or csv, got {:?}",
                pos_core::text::clip(other, 40)
            )))
        }
    };
    let limit = match q.limit {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::validation(format!(
                "limit must be 1 to {MAX_LIMIT}, got {n}"
            )))
        }
    };
    let stale_after = match q.stale_after_min {
        None => DEFAULT_STALE_AFTER_MIN,
        Some(n) if (1..=525_600).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::validation(format!(
                "stale_after_min must be 1 to 525600, got {n}"
            )))
        }
    };
    let max_age = match q.max_age_secs {
        None => 0,
        Some(n) if (0..=AnswerCache::MAX_AGE_SECS).contains(&n) => n,
        Some(n) => {
            return Err(ApiError::validation(format!(
                "max_age_secs must be 0 to {}, got {n}",
                AnswerCache::MAX_AGE_SECS
            )))
        }
    };
    // The scope (and so the caller's permissions) is checked on every request, cached or not.
    let scope = scope(state, user, report, &q).await?;
    let cache_key =
        (max_age > 0 && !csv).then(|| AnswerCache::key(user.tenant_id, user.user_id, report, &q));
    if let Some(key) = &cache_key {
        if let Some(body) = state.report_cache.get(key, max_age * 1000, now_ms()) {
            return Ok((
                [(header::CONTENT_TYPE, "application/json")],
                Body::from(body.as_ref().clone()),
            )
                .into_response());
        }
    }
    let as_of = now_ms();
    // On the master, reports take turns for a quarter of the pool; a replica has its own.
    let _permit = if state.replica.is_none() {
        Some(state.reports.acquire().await.map_err(ApiError::internal)?)
    } else {
        None
    };
    let (table, next_cursor) = if report == Report::Feed {
        let cursor = decode_cursor("f", q.cursor.as_deref())?;
        feed(state, &scope, cursor, limit).await?
    } else {
        let offset = decode_cursor("o", q.cursor.as_deref())?;
        let t = run(state, &scope, report).await?;
        let next = (offset as usize + limit < t.rows.len() && !csv)
            .then(|| encode_cursor("o", offset + limit as i64));
        let mut t = t;
        if !csv {
            let start = (offset as usize).min(t.rows.len());
            let end = (start + limit).min(t.rows.len());
            t.rows = t.rows.drain(start..end).collect();
        }
        (t, next)
    };
    if csv {
        return Ok(csv_response(report, &scope, table));
    }
    let freshness = freshness(state, &scope, stale_after).await?;
    let source = source(state).await?;
    let data: Vec<Value> = table
        .rows
        .iter()
        .map(|r| {
            let mut m = Map::new();
            for (c, v) in table.columns.iter().zip(r) {
                m.insert((*c).to_string(), v.json());
            }
            Value::Object(m)
        })
        .collect();
    let stores: Vec<StoreInfo> = scope
        .stores
        .iter()
        .map(|s| StoreInfo {
            store_id: s.store_id,
            code: s.code.clone(),
            name: s.name.clone(),
            currency: s.currency.clone(),
            time_zone: s.clock.zone().to_string(),
            business_day_start: s.clock.day_start(),
        })
        .collect();
    let body = json!({
        "report": report.name(),
        "columns": table.columns,
        "data": data,
        "pagination": { "limit": limit, "next_cursor": next_cursor },
        "range": {
            "from": scope.from.map(|d| d.to_string()),
            "to": scope.to.map(|d| d.to_string()),
            "refunds_by": if scope.refunds_by_sale_day { "sale_day" } else { "refund_day" },
        },
        "stores": stores,
        "freshness": freshness,
        "source": source,
        "as_of": as_of,
    });
    let bytes = std::sync::Arc::new(serde_json::to_vec(&body).map_err(ApiError::internal)?);
    if let Some(key) = cache_key {
        state.report_cache.put(key, bytes.clone(), as_of);
    }
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(bytes.as_ref().clone()),
    )
        .into_response())
}

fn encode_cursor(kind: &str, n: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{kind}1:{n}"))
}

/// Decodes a cursor of `kind`; absent is 0. Anything else is a typed 400.
fn decode_cursor(kind: &str, c: Option<&str>) -> Result<i64, ApiError> {
    let Some(c) = c else { return Ok(0) };
    let bad =
        || ApiError::validation("malformed cursor: pass the next_cursor of the previous page");
    if c.len() > 64 {
        return Err(bad());
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let n = text
        .strip_prefix(kind)
        .and_then(|r| r.strip_prefix("1:"))
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n >= 0)
        .ok_or_else(bad)?;
    Ok(n)
}

fn csv_response(report: Report, scope: &Scope, table: Table) -> Response {
    let name = match (scope.from, scope.to) {
        (Some(f), Some(t)) => format!("{}-{f}-{t}.csv", report.name()),
        _ => format!("{}.csv", report.name()),
    };
    let columns = table.columns.clone();
    // Streamed: the header, then the rows in chunks, each chunk written by the csv crate.
    let mut chunks: Vec<Vec<Vec<Cell>>> = Vec::new();
    let mut rows = table.rows.into_iter().peekable();
    while rows.peek().is_some() {
        chunks.push(rows.by_ref().take(500).collect());
    }
    let header = std::iter::once(Ok::<_, std::io::Error>(csv_lines(std::iter::once(
        columns.iter().map(|c| c.to_string()).collect(),
    ))));
    let body = header.chain(chunks.into_iter().map(|chunk| {
        Ok(csv_lines(
            chunk
                .into_iter()
                .map(|r| r.iter().map(Cell::csv).collect::<Vec<_>>()),
        ))
    }));
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        Body::from_stream(futures_util::stream::iter(body)),
    )
        .into_response()
}

fn csv_lines(rows: impl Iterator<Item = Vec<String>>) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for r in rows {
        // Writing into a Vec cannot fail.
        let _ = w.write_record(&r);
    }
    w.into_inner().unwrap_or_default()
}

/// Per store and device: up to when its data is on the server.
async fn freshness(
    state: &AppState,
    scope: &Scope,
    stale_after_min: i64,
) -> Result<Vec<Freshness>, ApiError> {
    let ids: Vec<Uuid> = scope.stores.iter().map(|s| s.store_id).collect();
    let rows: Vec<(Uuid, Uuid, String, String, Option<i64>)> = query_as(
        "SELECT d.store_id, d.device_id, d.code, d.name,
                CASE WHEN d.last_push_at IS NULL AND d.last_pull_at IS NULL THEN NULL
                     ELSE greatest(coalesce(d.last_push_at, 0), coalesce(d.last_pull_at, 0)) END
         FROM UNNEST($2::uuid[]) AS x(id)
         JOIN devices d ON d.tenant_id = $1 AND d.store_id = x.id
         WHERE d.revoked_at IS NULL ORDER BY d.store_id, d.code",
    )
    .bind(scope.tenant)
    .bind(&ids)
    .fetch_all(data(state))
    .await?;
    let now = now_ms();
    Ok(rows
        .into_iter()
        .map(|(store, device, code, name, until)| {
            let clock = scope
                .stores
                .iter()
                .find(|s| s.store_id == store)
                .map(|s| &s.clock);
            Freshness {
                store_id: store,
                device_id: device,
                device_code: code,
                device_name: name,
                complete_until: until,
                complete_until_local: until.and_then(|u| clock.map(|c| c.rfc3339(u))),
                stale: until.is_none_or(|u| now - u > stale_after_min * 60_000),
            }
        })
        .collect())
}

// ---------------------------------------------------------------- the metrics in SQL
//
// Every statement takes $1 tenant, $2 store (text, as the projections hold it), $3 and $4 the
// range's [start, end) in ms, and returns its bucket (`at / 900000`) first.

/// The stores of a request and their ranges: `$2` store ids (text, as the projections hold
/// them), `$3` and `$4` each store's `[start, end)` in ms. One statement answers every store.
/// Each store's rows are read by a `LATERAL` subquery with `OFFSET 0`, so Postgres cannot
/// flatten it into a join it plans for an array of unknown length: the plan stays one index
/// range scan per store (the flattened join was a sequential scan of the whole table: 318 ms
/// for a month of 20 stores on a 1,000,000-sale tenant).
const STORES_RANGES: &str = "UNNEST($2::text[], $3::bigint[], $4::bigint[]) WITH ORDINALITY
    AS x(store_id, s, e, k)
    CROSS JOIN LATERAL (SELECT ($5::bigint[])[(x.k - 1) * $6 + 1 : x.k * $6] AS th OFFSET 0) t";

/// The bucket of an instant `at`: its business day's index in the range (`width_bucket` over the
/// store's day starts, `t.th`: 1 is the first day) when `by_day`, else its 15-minute bucket of
/// UTC, which Rust gives its day and local hour.
fn bucket(at: &str, by_day: bool) -> String {
    if by_day {
        format!("width_bucket({at}, t.th)::bigint")
    } else {
        format!("{at} / 900000")
    }
}

/// `sales_count`, `gross_sales`, `discounts`, `sales_total`, and the sales' part of `tax`:
/// closed sales, on the day they closed.
fn sales_sql(by_day: bool) -> String {
    format!(
        "SELECT x.store_id, {} AS b, count(*)::bigint, sum(p.subtotal)::bigint,
                sum(p.discount)::bigint, sum(p.total)::bigint, sum(p.tax)::bigint
         FROM {} GROUP BY x.store_id, b",
        bucket("p.closed_at", by_day),
        closed_sales_of_stores("p.closed_at, p.subtotal, p.discount, p.total, p.tax")
    )
}

/// Every store's closed sales of its range, `p`, with the columns `cols` (only what the
/// statement reads: the summary's are all in the covering index `p_sales_report`).
fn closed_sales_of_stores(cols: &str) -> String {
    format!(
        "{STORES_RANGES} CROSS JOIN LATERAL (
             SELECT {cols} FROM p_sales p
             WHERE p.tenant_id = $1 AND p.store_id = x.store_id AND p.status = 'closed'
             AND p.closed_at >= x.s AND p.closed_at < x.e OFFSET 0) p"
    )
}

/// `voids_count`, `voids_value`: sales voided, on the day they were voided.
fn voids_sql(by_day: bool) -> String {
    format!(
        "SELECT x.store_id, {} AS b, count(*)::bigint, sum(p.total)::bigint
         FROM {STORES_RANGES} CROSS JOIN LATERAL (
             SELECT * FROM p_sales p WHERE p.tenant_id = $1 AND p.store_id = x.store_id
             AND p.status = 'voided' AND p.voided_at >= x.s AND p.voided_at < x.e OFFSET 0) p
         GROUP BY x.store_id, b",
        bucket("p.voided_at", by_day)
    )
}

/// Every store's refunds of its range, `r`, and `w.at`, the instant each counts at (the
/// refund's own time, or its sale's close for `refunds_by=sale_day`; a refund is never made
/// before its sale, so only refunds after the range's start are looked at).
fn refunds_of_stores(by_sale_day: bool) -> String {
    if by_sale_day {
        format!(
            "{STORES_RANGES}
             CROSS JOIN LATERAL (SELECT * FROM p_refunds r WHERE r.tenant_id = $1
                 AND r.store_id = x.store_id AND r.created_at >= x.s OFFSET 0) r
             JOIN p_sales s ON s.tenant_id = r.tenant_id AND s.doc_id = r.sale_id
                 AND s.closed_at >= x.s AND s.closed_at < x.e
             CROSS JOIN LATERAL (SELECT s.closed_at AS at) w"
        )
    } else {
        format!(
            "{STORES_RANGES}
             CROSS JOIN LATERAL (SELECT * FROM p_refunds r WHERE r.tenant_id = $1
                 AND r.store_id = x.store_id AND r.created_at >= x.s AND r.created_at < x.e
                 OFFSET 0) r
             CROSS JOIN LATERAL (SELECT r.created_at AS at) w"
        )
    }
}

/// `refunds_count`, `refunds`, and the refunds' part of `tax`.
fn refunds_sql(by_sale_day: bool, by_day: bool) -> String {
    format!(
        "SELECT x.store_id, {} AS b, count(*)::bigint, sum(r.total)::bigint,
                sum(r.tax)::bigint
         FROM {} GROUP BY x.store_id, b",
        bucket("w.at", by_day),
        refunds_of_stores(by_sale_day)
    )
}

/// `tenders`, the sales' side, by business day: each payment to its own tender.
fn sale_tenders_sql() -> String {
    format!(
        "SELECT x.store_id, {} AS b, pay.tender, count(*)::bigint, sum(pay.amount)::bigint
         FROM {} JOIN p_sale_payments pay ON pay.tenant_id = p.tenant_id AND pay.doc_id = p.doc_id
         GROUP BY x.store_id, b, pay.tender",
        bucket("p.closed_at", true),
        closed_sales_of_stores("p.tenant_id, p.doc_id, p.closed_at")
    )
}

/// `tenders`, the refunds' side, by business day.
fn refund_tenders_sql(by_sale_day: bool) -> String {
    format!(
        "SELECT x.store_id, {} AS b, rt.tender, count(*)::bigint, sum(rt.amount)::bigint
         FROM {} JOIN p_refund_tenders rt ON rt.tenant_id = r.tenant_id AND rt.doc_id = r.doc_id
         GROUP BY x.store_id, b, rt.tender",
        bucket("w.at", true),
        refunds_of_stores(by_sale_day)
    )
}

/// `tax` per rate, the sales' side, by business day.
fn sale_taxes_sql() -> String {
    format!(
        "SELECT x.store_id, {} AS b, tx.rate_bp, sum(tx.net)::bigint, sum(tx.tax)::bigint,
                sum(tx.gross)::bigint
         FROM {} JOIN p_sale_taxes tx ON tx.tenant_id = p.tenant_id AND tx.doc_id = p.doc_id
         GROUP BY x.store_id, b, tx.rate_bp",
        bucket("p.closed_at", true),
        closed_sales_of_stores("p.tenant_id, p.doc_id, p.closed_at")
    )
}

/// `tax` per rate, the refunds' side, by business day.
fn refund_taxes_sql(by_sale_day: bool) -> String {
    format!(
        "SELECT x.store_id, {} AS b, tx.rate_bp, sum(tx.net)::bigint, sum(tx.tax)::bigint,
                sum(tx.gross)::bigint
         FROM {} JOIN p_refund_taxes tx ON tx.tenant_id = r.tenant_id AND tx.doc_id = r.doc_id
         GROUP BY x.store_id, b, tx.rate_bp",
        bucket("w.at", true),
        refunds_of_stores(by_sale_day)
    )
}

/// `quantity`, `item_sales` per item, the sales' side (line totals after discounts).
fn item_sales_sql() -> String {
    format!(
        "SELECT l.item_id, max(l.name), sum(l.qty)::bigint, sum(l.total)::bigint
         FROM {} JOIN p_sale_lines l ON l.tenant_id = p.tenant_id AND l.doc_id = p.doc_id
         GROUP BY l.item_id",
        closed_sales_of_stores("p.tenant_id, p.doc_id")
    )
}

/// `quantity`, `item_sales` per item, the refunds' side.
fn item_refunds_sql(by_sale_day: bool) -> String {
    format!(
        "SELECT l.item_id, max(l.name), sum(l.qty)::bigint, sum(l.amount)::bigint
         FROM {} JOIN p_refund_lines l ON l.tenant_id = r.tenant_id AND l.doc_id = r.doc_id
         GROUP BY l.item_id",
        refunds_of_stores(by_sale_day)
    )
}

// ---------------------------------------------------------------- running the reports

/// Where a bucket falls for `store`: its business day and local hour.
fn place(store: &ScopeStore, bucket: i64) -> Result<(Day, i8), ApiError> {
    let at = bucket * BUCKET_MS;
    Ok((
        store.clock.business_day(at).map_err(ApiError::internal)?,
        store.clock.local_hour(at).map_err(ApiError::internal)?,
    ))
}

/// The summary's figures of one group.
#[derive(Debug, Clone, Default)]
struct Sums {
    sales_count: i64,
    gross_sales: i64,
    discounts: i64,
    sales_total: i64,
    sales_tax: i64,
    refunds_count: i64,
    refunds: i64,
    refunds_tax: i64,
    voids_count: i64,
    voids_value: i64,
}

/// Runs one report over a resolved scope.
pub async fn run(state: &AppState, scope: &Scope, report: Report) -> Result<Table, ApiError> {
    match report {
        Report::SalesSummary => sales_summary(state, scope).await,
        Report::Items => items(state, scope).await,
        Report::Tenders => tenders(state, scope).await,
        Report::Taxes => taxes(state, scope).await,
        Report::Staff => staff(state, scope).await,
        Report::Shifts => shifts(state, scope).await,
        Report::Cash => cash(state, scope).await,
        Report::Stock => stock(state, scope).await,
        Report::Transfers => transfers(state, scope).await,
        Report::Feed => Err(ApiError::Internal("the feed has its own path".into())),
    }
}

fn check_group<'a>(scope: &'a Scope, allowed: &[&'a str]) -> Result<&'a str, ApiError> {
    match scope.group.as_deref() {
        None => Ok(allowed[0]),
        Some(g) if allowed.contains(&g) => Ok(g),
        Some(g) => Err(ApiError::validation(format!(
            "group must be one of {}, got {:?}",
            allowed.join(", "),
            pos_core::text::clip(g, 40)
        ))),
    }
}

/// The sales summary's figures, in its columns' order (the daily summary email prints the same).
pub const SUMMARY_METRICS: &[Metric] = &[
    Metric::SalesCount,
    Metric::GrossSales,
    Metric::Discounts,
    Metric::SalesTotal,
    Metric::RefundsCount,
    Metric::Refunds,
    Metric::NetTotal,
    Metric::Tax,
    Metric::NetExTax,
    Metric::VoidsCount,
    Metric::VoidsValue,
];

async fn sales_summary(state: &AppState, scope: &Scope) -> Result<Table, ApiError> {
    let group = check_group(scope, &["day", "hour", "store"])?;
    let mut columns = vec!["store_id", "store_code"];
    match group {
        "day" => columns.push("business_day"),
        "hour" => columns.extend(["business_day", "hour"]),
        _ => {}
    }
    for m in SUMMARY_METRICS {
        columns.push(m.key());
    }
    let mut t = Table::new(&columns);
    let ranges = scope.ranges()?;
    let key = |day: Day, hour: i8| match group {
        "day" => (Some(day), None),
        "hour" => (Some(day), Some(hour)),
        _ => (None, None),
    };
    // Per store (by its index in the scope): group → sums.
    let mut groups: Vec<BTreeMap<(Option<Day>, Option<i8>), Sums>> =
        vec![BTreeMap::new(); scope.stores.len()];
    // By day (and so by store), SQL buckets by business day directly (a month of 20 stores is
    // 620 groups); by hour, in 15-minute buckets that Rust places.
    let by_day = group != "hour";
    let place = |st: &ScopeStore, b: i64| -> Result<(Day, i8), ApiError> {
        if by_day {
            Ok((scope.day(b)?, 0))
        } else {
            place(st, b)
        }
    };
    let sales: Vec<(String, i64, i64, i64, i64, i64, i64)> = ranges
        .bind(query_as(AssertSqlSafe(sales_sql(by_day))), scope.tenant)
        .fetch_all(data(state))
        .await?;
    for (sid, b, n, gross, disc, total, tax) in sales {
        let (i, st) = scope.store(&sid)?;
        let (d, h) = place(st, b)?;
        let g = groups[i].entry(key(d, h)).or_default();
        g.sales_count += n;
        g.gross_sales += gross;
        g.discounts += disc;
        g.sales_total += total;
        g.sales_tax += tax;
    }
    let refunds: Vec<(String, i64, i64, i64, i64)> = ranges
        .bind(
            query_as(AssertSqlSafe(refunds_sql(
                scope.refunds_by_sale_day,
                by_day,
            ))),
            scope.tenant,
        )
        .fetch_all(data(state))
        .await?;
    for (sid, b, n, total, tax) in refunds {
        let (i, st) = scope.store(&sid)?;
        let (d, h) = place(st, b)?;
        let g = groups[i].entry(key(d, h)).or_default();
        g.refunds_count += n;
        g.refunds += total;
        g.refunds_tax += tax;
    }
    let voids: Vec<(String, i64, i64, i64)> = ranges
        .bind(query_as(AssertSqlSafe(voids_sql(by_day))), scope.tenant)
        .fetch_all(data(state))
        .await?;
    for (sid, b, n, value) in voids {
        let (i, st) = scope.store(&sid)?;
        let (d, h) = place(st, b)?;
        let g = groups[i].entry(key(d, h)).or_default();
        g.voids_count += n;
        g.voids_value += value;
    }
    for (s, mut groups) in scope.stores.iter().zip(groups) {
        let sid = s.store_id.to_string();
        if group == "store" && groups.is_empty() {
            groups.insert((None, None), Sums::default());
        }
        for ((day, hour), g) in groups {
            let mut row: Vec<Cell> = vec![sid.clone().into(), s.code.clone().into()];
            if let Some(d) = day {
                row.push(d.to_string().into());
            }
            if let Some(h) = hour {
                row.push(Cell::Int(h as i64));
            }
            let net_total = g.sales_total - g.refunds;
            let tax = g.sales_tax - g.refunds_tax;
            row.extend([
                g.sales_count.into(),
                g.gross_sales.into(),
                g.discounts.into(),
                g.sales_total.into(),
                g.refunds_count.into(),
                g.refunds.into(),
                net_total.into(),
                tax.into(),
                (net_total - tax).into(),
                g.voids_count.into(),
                g.voids_value.into(),
            ]);
            t.push(row);
        }
    }
    Ok(t)
}

async fn items(state: &AppState, scope: &Scope) -> Result<Table, ApiError> {
    let group = check_group(scope, &["item", "category"])?;
    // item id → (name, quantity, item_sales), over every store in scope.
    let mut by_item: BTreeMap<String, (String, i64, i64)> = BTreeMap::new();
    let ranges = scope.ranges()?;
    let sold: Vec<(Option<String>, Option<String>, i64, i64)> = ranges
        .bind(query_as(AssertSqlSafe(item_sales_sql())), scope.tenant)
        .fetch_all(data(state))
        .await?;
    for (item, name, qty, amount) in sold {
        let e = by_item
            .entry(item.unwrap_or_default())
            .or_insert((name.unwrap_or_default(), 0, 0));
        e.1 += qty;
        e.2 += amount;
    }
    let back: Vec<(Option<String>, Option<String>, i64, i64)> = ranges
        .bind(
            query_as(AssertSqlSafe(item_refunds_sql(scope.refunds_by_sale_day))),
            scope.tenant,
        )
        .fetch_all(data(state))
        .await?;
    for (item, name, qty, amount) in back {
        let e = by_item
            .entry(item.unwrap_or_default())
            .or_insert((name.unwrap_or_default(), 0, 0));
        e.1 -= qty;
        e.2 -= amount;
    }
    // The catalog's names and categories (tenant-wide documents).
    let catalog: Vec<(String, Option<String>, Option<String>, Option<String>)> = query_as(
        "SELECT i.doc_id, i.sku, i.name, i.category_id FROM p_items i WHERE i.tenant_id = $1",
    )
    .bind(scope.tenant)
    .fetch_all(data(state))
    .await?;
    let catalog: HashMap<String, (Option<String>, Option<String>, Option<String>)> = catalog
        .into_iter()
        .map(|(id, sku, name, cat)| (id, (sku, name, cat)))
        .collect();
    let categories: Vec<(String, Option<String>)> =
        query_as("SELECT doc_id, name FROM p_categories WHERE tenant_id = $1")
            .bind(scope.tenant)
            .fetch_all(data(state))
            .await?;
    let categories: HashMap<String, Option<String>> = categories.into_iter().collect();
    let whole: i64 = by_item.values().map(|v| v.2).sum();
    if group == "category" {
        let mut by_cat: BTreeMap<String, (String, i64, i64)> = BTreeMap::new();
        for (item, (_, qty, amount)) in &by_item {
            let cat = catalog
                .get(item)
                .and_then(|c| c.2.clone())
                .unwrap_or_default();
            let name = categories
                .get(&cat)
                .cloned()
                .flatten()
                .unwrap_or_else(|| "(no category)".into());
            let e = by_cat.entry(cat).or_insert((name, 0, 0));
            e.1 += qty;
            e.2 += amount;
        }
        let mut t = Table::new(&[
            "category_id",
            "category",
            Metric::ItemQuantity.key(),
            Metric::ItemSales.key(),
            Metric::Share.key(),
        ]);
        let mut rows: Vec<_> = by_cat.into_iter().collect();
        rows.sort_by(|a, b| b.1 .2.cmp(&a.1 .2).then(a.0.cmp(&b.0)));
        for (cat, (name, qty, amount)) in rows {
            t.push(vec![
                Cell::from((!cat.is_empty()).then_some(cat)),
                name.into(),
                qty.into(),
                amount.into(),
                share_bp(amount, whole).into(),
            ]);
        }
        return Ok(t);
    }
    let mut t = Table::new(&[
        "item_id",
        "sku",
        "name",
        "category",
        Metric::ItemQuantity.key(),
        Metric::ItemSales.key(),
        Metric::Share.key(),
    ]);
    let mut rows: Vec<_> = by_item.into_iter().collect();
    rows.sort_by(|a, b| b.1 .2.cmp(&a.1 .2).then(a.0.cmp(&b.0)));
    for (item, (line_name, qty, amount)) in rows {
        let (sku, name, cat) = catalog.get(&item).cloned().unwrap_or_default();
        let cat_name = cat.and_then(|c| categories.get(&c).cloned().flatten());
        t.push(vec![
            item.into(),
            sku.into(),
            name.unwrap_or(line_name).into(),
            cat_name.into(),
            qty.into(),
            amount.into(),
            share_bp(amount, whole).into(),
        ]);
    }
    Ok(t)
}

async fn tenders(state: &AppState, scope: &Scope) -> Result<Table, ApiError> {
    let mut t = Table::new(&[
        "store_id",
        "store_code",
        "business_day",
        "tender",
        "payments",
        "sales_amount",
        "refunds",
        "refunds_amount",
        "net_amount",
    ]);
    let ranges = scope.ranges()?;
    // (store, day, tender) → (payments, sales amount, refunds, refunds amount)
    let mut g: BTreeMap<(usize, Day, String), (i64, i64, i64, i64)> = BTreeMap::new();
    let sold: Vec<(String, i64, Option<String>, i64, i64)> = ranges
        .bind(query_as(AssertSqlSafe(sale_tenders_sql())), scope.tenant)
        .fetch_all(data(state))
        .await?;
    for (sid, b, tender, n, amount) in sold {
        let e = g
            .entry((
                scope.store(&sid)?.0,
                scope.day(b)?,
                tender.unwrap_or_default(),
            ))
            .or_default();
        e.0 += n;
        e.1 += amount;
    }
    let back: Vec<(String, i64, Option<String>, i64, i64)> = ranges
        .bind(
            query_as(AssertSqlSafe(refund_tenders_sql(scope.refunds_by_sale_day))),
            scope.tenant,
        )
        .fetch_all(data(state))
        .await?;
    for (sid, b, tender, n, amount) in back {
        let e = g
            .entry((
                scope.store(&sid)?.0,
                scope.day(b)?,
                tender.unwrap_or_default(),
            ))
            .or_default();
        e.2 += n;
        e.3 += amount;
    }
    for ((i, day, tender), (n, amount, rn, ramount)) in g {
        let s = &scope.stores[i];
        t.push(vec![
            s.store_id.to_string().into(),
            s.code.clone().into(),
            day.to_string().into(),
            tender.into(),
            n.into(),
            amount.into(),
            rn.into(),
            ramount.into(),
            (amount - ramount).into(),
        ]);
    }
    Ok(t)
}

async fn taxes(state: &AppState, scope: &Scope) -> Result<Table, ApiError> {
    let mut t = Table::new(&[
        "store_id",
        "store_code",
        "business_day",
        "rate_bp",
        "net",
        "tax",
        "gross",
    ]);
    let ranges = scope.ranges()?;
    let mut g: BTreeMap<(usize, Day, i64), (i64, i64, i64)> = BTreeMap::new();
    for (sql, sign) in [
        (sale_taxes_sql(), 1),
        (refund_taxes_sql(scope.refunds_by_sale_day), -1),
    ] {
        let rows: Vec<(String, i64, Option<i64>, i64, i64, i64)> = ranges
            .bind(query_as(AssertSqlSafe(sql)), scope.tenant)
            .fetch_all(data(state))
            .await?;
        for (sid, b, rate, net, tax, gross) in rows {
            let e = g
                .entry((scope.store(&sid)?.0, scope.day(b)?, rate.unwrap_or(0)))
                .or_default();
            e.0 += sign * net;
            e.1 += sign * tax;
            e.2 += sign * gross;
        }
    }
    for ((i, day, rate), (net, tax, gross)) in g {
        let s = &scope.stores[i];
        t.push(vec![
            s.store_id.to_string().into(),
            s.code.clone().into(),
            day.to_string().into(),
            rate.into(),
            net.into(),
            tax.into(),
            gross.into(),
        ]);
    }
    Ok(t)
}

/// The tenant's people by id (as the documents name them), for the cashier columns.
async fn user_names(state: &AppState, tenant: Uuid) -> Result<HashMap<String, String>, ApiError> {
    Ok(crate::admin::user_names(state, tenant)
        .await?
        .into_iter()
        .map(|(id, n)| (id.to_string(), n))
        .collect())
}

/// Per cashier figures of loss prevention.
#[derive(Debug, Clone, Default)]
struct Staff {
    sales_count: i64,
    gross: i64,
    discounts: i64,
    sales_total: i64,
    voids_count: i64,
    voids_value: i64,
    refunds_count: i64,
    refunds: i64,
    no_sales: i64,
}

impl Staff {
    fn add(&mut self, o: &Staff) {
        self.sales_count += o.sales_count;
        self.gross += o.gross;
        self.discounts += o.discounts;
        self.sales_total += o.sales_total;
        self.voids_count += o.voids_count;
        self.voids_value += o.voids_value;
        self.refunds_count += o.refunds_count;
        self.refunds += o.refunds;
        self.no_sales += o.no_sales;
    }
    fn discount_rate(&self) -> i64 {
        share_bp(self.discounts, self.gross)
    }
    fn void_rate(&self) -> i64 {
        share_bp(self.voids_count, self.voids_count + self.sales_count)
    }
    fn refund_rate(&self) -> i64 {
        share_bp(self.refunds, self.sales_total)
    }
}

async fn staff(state: &AppState, scope: &Scope) -> Result<Table, ApiError> {
    let mut t = Table::new(&[
        "store_id",
        "store_code",
        "cashier_id",
        "cashier",
        "sales_count",
        "sales_total",
        "discounts",
        "discount_rate_bp",
        "store_discount_rate_bp",
        "voids_count",
        "voids_value",
        "void_rate_bp",
        "store_void_rate_bp",
        "refunds_count",
        "refunds",
        "refund_rate_bp",
        "store_refund_rate_bp",
        "no_sales",
    ]);
    let names = user_names(state, scope.tenant).await?;
    // Refunds per store and cashier, every store in one statement.
    let refunds: Vec<(String, Option<String>, i64, i64)> = scope
        .ranges()?
        .bind(
            query_as(AssertSqlSafe(format!(
                "SELECT x.store_id, r.refunded_by, count(*)::bigint, sum(r.total)::bigint
                 FROM {} GROUP BY x.store_id, r.refunded_by",
                refunds_of_stores(scope.refunds_by_sale_day)
            ))),
            scope.tenant,
        )
        .fetch_all(data(state))
        .await?;
    for s in &scope.stores {
        let (start, end) = scope.bounds(s)?;
        let sid = s.store_id.to_string();
        let mut by: BTreeMap<String, Staff> = BTreeMap::new();
        let sold: Vec<(Option<String>, i64, i64, i64, i64)> = query_as(
            "SELECT opened_by, count(*)::bigint, sum(subtotal)::bigint, sum(discount)::bigint,
                    sum(total)::bigint
             FROM p_sales WHERE tenant_id = $1 AND store_id = $2 AND status = 'closed'
                AND closed_at >= $3 AND closed_at < $4 GROUP BY opened_by",
        )
        .bind(scope.tenant)
        .bind(&sid)
        .bind(start)
        .bind(end)
        .fetch_all(data(state))
        .await?;
        for (who, n, gross, disc, total) in sold {
            let e = by.entry(who.unwrap_or_default()).or_default();
            e.sales_count += n;
            e.gross += gross;
            e.discounts += disc;
            e.sales_total += total;
        }
        let voids: Vec<(Option<String>, i64, i64)> = query_as(
            "SELECT opened_by, count(*)::bigint, sum(total)::bigint
             FROM p_sales WHERE tenant_id = $1 AND store_id = $2 AND status = 'voided'
                AND voided_at >= $3 AND voided_at < $4 GROUP BY opened_by",
        )
        .bind(scope.tenant)
        .bind(&sid)
        .bind(start)
        .bind(end)
        .fetch_all(data(state))
        .await?;
        for (who, n, value) in voids {
            let e = by.entry(who.unwrap_or_default()).or_default();
            e.voids_count += n;
            e.voids_value += value;
        }
        for (_, who, n, total) in refunds.iter().filter(|r| r.0 == sid) {
            let e = by.entry(who.clone().unwrap_or_default()).or_default();
            e.refunds_count += *n;
            e.refunds += *total;
        }
        let no_sales: Vec<(Option<String>, i64)> = query_as(
            "SELECT e.by, count(*)::bigint
             FROM p_shifts sh JOIN p_shift_events e ON e.tenant_id = sh.tenant_id AND e.doc_id = sh.doc_id
             WHERE sh.tenant_id = $1 AND sh.store_id = $2 AND e.kind = 'NoSale'
                AND e.at >= $3 AND e.at < $4 GROUP BY e.by",
        )
        .bind(scope.tenant)
        .bind(&sid)
        .bind(start)
        .bind(end)
        .fetch_all(data(state))
        .await?;
        for (who, n) in no_sales {
            by.entry(who.unwrap_or_default()).or_default().no_sales += n;
        }
        let mut store = Staff::default();
        for v in by.values() {
            store.add(v);
        }
        for (who, v) in by {
            t.push(vec![
                sid.clone().into(),
                s.code.clone().into(),
                who.clone().into(),
                names.get(&who).cloned().into(),
                v.sales_count.into(),
                v.sales_total.into(),
                v.discounts.into(),
                v.discount_rate().into(),
                store.discount_rate().into(),
                v.voids_count.into(),
                v.voids_value.into(),
                v.void_rate().into(),
                store.void_rate().into(),
                v.refunds_count.into(),
                v.refunds.into(),
                v.refund_rate().into(),
                store.refund_rate().into(),
                v.no_sales.into(),
            ]);
        }
    }
    Ok(t)
}

/// What the Z report printed, read from its document's JSON (`pos_core::shift::ShiftReport`).
#[derive(Debug, Clone, Default, Deserialize)]
struct PrintedZ {
    #[serde(default)]
    sales_count: i64,
    #[serde(default)]
    sales_total: i64,
    #[serde(default)]
    refunds_total: i64,
    #[serde(default)]
    net_total: i64,
    #[serde(default)]
    taxes: Vec<pos_core::sale::TaxLine>,
    #[serde(default)]
    tenders: BTreeMap<String, i64>,
    #[serde(default)]
    voids_count: i64,
}

/// The Z reports of the range, each against the master's own figures for its shift.
async fn shifts(state: &AppState, scope: &Scope) -> Result<Table, ApiError> {
    let mut t = Table::new(&[
        "store_id",
        "store_code",
        "device_id",
        "z_number",
        "shift_id",
        "business_day",
        "taken_at",
        "metric",
        "z_value",
        "master_value",
        "difference",
        "cause",
    ]);
    for s in &scope.stores {
        let (start, end) = scope.bounds(s)?;
        let sid = s.store_id.to_string();
        let zs: Vec<(
            String,
            Option<String>,
            Option<i64>,
            Option<String>,
            i64,
            Option<String>,
            Option<i64>,
        )> = query_as(
            "SELECT z.doc_id, z.device_id, z.number, z.shift_id, z.created_at, z.report_json,
                        z.expected_cash
                 FROM p_z_reports z WHERE z.tenant_id = $1 AND z.store_id = $2
                    AND z.created_at >= $3 AND z.created_at < $4 ORDER BY z.created_at, z.number",
        )
        .bind(scope.tenant)
        .bind(&sid)
        .bind(start)
        .bind(end)
        .fetch_all(data(state))
        .await?;
        for (z_id, device, number, shift, created_at, report, z_expected) in zs {
            let shift = shift.unwrap_or_default();
            let printed: PrintedZ = report
                .as_deref()
                .and_then(|r| serde_json::from_str(r).ok())
                .unwrap_or_default();
            let (master, master_tax) = shift_figures(state, scope.tenant, &shift).await?;
            let mut pairs: Vec<(String, i64, i64)> = vec![
                (
                    "sales_count".into(),
                    printed.sales_count,
                    master.sales_count,
                ),
                (
                    "sales_total".into(),
                    printed.sales_total,
                    master.sales_total,
                ),
                ("refunds".into(), printed.refunds_total, master.refunds),
                ("net_total".into(), printed.net_total, master.net_total()),
                (
                    "tax".into(),
                    printed.taxes.iter().map(|t| t.tax).sum(),
                    master_tax,
                ),
                (
                    "voids_count".into(),
                    printed.voids_count,
                    master.voids_count,
                ),
                (
                    "cash_expected".into(),
                    z_expected.unwrap_or(0),
                    master_expected_cash(state, scope.tenant, &shift).await?,
                ),
            ];
            let tenders: HashSet<&String> = printed
                .tenders
                .keys()
                .chain(master.tenders.keys())
                .collect();
            let mut tenders: Vec<&String> = tenders.into_iter().collect();
            tenders.sort();
            for tender in tenders {
                pairs.push((
                    format!("tenders.{tender}"),
                    printed.tenders.get(tender).copied().unwrap_or(0),
                    master.tenders.get(tender).copied().unwrap_or(0),
                ));
            }
            let differs = pairs.iter().any(|p| p.1 != p.2);
            let cause = if differs {
                Some(late_cause(state, scope.tenant, &z_id, &shift).await?)
            } else {
                None
            };
            let day = s
                .clock
                .business_day(created_at)
                .map_err(ApiError::internal)?;
            for (metric, z, m) in pairs {
                t.push(vec![
                    sid.clone().into(),
                    s.code.clone().into(),
                    device.clone().into(),
                    number.into(),
                    shift.clone().into(),
                    day.to_string().into(),
                    s.clock.rfc3339(created_at).into(),
                    metric.into(),
                    z.into(),
                    m.into(),
                    (m - z).into(),
                    if z != m {
                        cause.clone().into()
                    } else {
                        Cell::Null
                    },
                ]);
            }
        }
    }
    Ok(t)
}

/// The master's figures of one shift (every sale and refund that names it), by the metric
/// dictionary's rules, and its tax (sales' receipts less refunds').
async fn shift_figures(
    state: &AppState,
    tenant: Uuid,
    shift: &str,
) -> Result<(pos_core::metrics::Figures, i64), ApiError> {
    let mut f = pos_core::metrics::Figures::default();
    let sales: Vec<(Option<String>, i64, i64, i64)> = query_as(
        "SELECT status, count(*)::bigint, coalesce(sum(total), 0)::bigint, coalesce(sum(tax), 0)::bigint
         FROM p_sales WHERE tenant_id = $1 AND shift_id = $2 GROUP BY status",
    )
    .bind(tenant)
    .bind(shift)
    .fetch_all(data(state))
    .await?;
    let mut sales_tax = 0;
    for (status, n, total, tax) in sales {
        match status.as_deref() {
            Some("closed") => {
                f.sales_count += n;
                f.sales_total += total;
                sales_tax += tax;
            }
            Some("voided") => f.voids_count += n,
            _ => {}
        }
    }
    let refunds: (i64, i64, i64) = query_as(
        "SELECT count(*)::bigint, coalesce(sum(total), 0)::bigint, coalesce(sum(tax), 0)::bigint
         FROM p_refunds WHERE tenant_id = $1 AND shift_id = $2",
    )
    .bind(tenant)
    .bind(shift)
    .fetch_one(data(state))
    .await?;
    f.refunds_count = refunds.0;
    f.refunds = refunds.1;
    let tax = sales_tax - refunds.2;
    let tenders: Vec<(Option<String>, i64)> = query_as(
        "SELECT x.tender, sum(x.amount)::bigint FROM (
            SELECT p.tender, p.amount FROM p_sales s JOIN p_sale_payments p
                ON p.tenant_id = s.tenant_id AND p.doc_id = s.doc_id
            WHERE s.tenant_id = $1 AND s.shift_id = $2 AND s.status = 'closed'
            UNION ALL
            SELECT t.tender, -t.amount FROM p_refunds r JOIN p_refund_tenders t
                ON t.tenant_id = r.tenant_id AND t.doc_id = r.doc_id
            WHERE r.tenant_id = $1 AND r.shift_id = $2
         ) x GROUP BY x.tender",
    )
    .bind(tenant)
    .bind(shift)
    .fetch_all(data(state))
    .await?;
    for (tender, amount) in tenders {
        f.tenders.insert(tender.unwrap_or_default(), amount);
    }
    Ok((f, tax))
}

/// [`Metric::CashExpected`] of a shift from the master: its float and cash events, and the
/// cash of its sales and refunds.
async fn master_expected_cash(
    state: &AppState,
    tenant: Uuid,
    shift: &str,
) -> Result<i64, ApiError> {
    let row: Option<(Option<i64>, i64, i64)> = query_as(
        "SELECT sh.float,
            coalesce((SELECT sum(amount) FROM p_shift_events e WHERE e.tenant_id = sh.tenant_id
                AND e.doc_id = sh.doc_id AND e.kind = 'PaidIn'), 0)::bigint,
            coalesce((SELECT sum(amount) FROM p_shift_events e WHERE e.tenant_id = sh.tenant_id
                AND e.doc_id = sh.doc_id AND e.kind = 'PaidOut'), 0)::bigint
         FROM p_shifts sh WHERE sh.tenant_id = $1 AND sh.doc_id = $2",
    )
    .bind(tenant)
    .bind(shift)
    .fetch_optional(data(state))
    .await?;
    let (float, paid_in, paid_out) = row
        .map(|r| (r.0.unwrap_or(0), r.1, r.2))
        .unwrap_or((0, 0, 0));
    let cash_sales: (i64, i64) = query_as(
        "SELECT
            coalesce((SELECT sum(p.amount) FROM p_sales s JOIN p_sale_payments p
                ON p.tenant_id = s.tenant_id AND p.doc_id = s.doc_id
                WHERE s.tenant_id = $1 AND s.shift_id = $2 AND s.status = 'closed'
                  AND p.tender = 'cash'), 0)::bigint,
            coalesce((SELECT sum(t.amount) FROM p_refunds r JOIN p_refund_tenders t
                ON t.tenant_id = r.tenant_id AND t.doc_id = r.doc_id
                WHERE r.tenant_id = $1 AND r.shift_id = $2 AND t.tender = 'cash'), 0)::bigint",
    )
    .bind(tenant)
    .bind(shift)
    .fetch_one(data(state))
    .await?;
    Ok(cash_expected(
        float,
        cash_sales.0,
        cash_sales.1,
        paid_in,
        paid_out,
    ))
}

/// Why a Z report and the master disagree: the shift's sales and refunds that changed on the
/// server after the Z report arrived (a sale that synced late, a merge after the close).
async fn late_cause(
    state: &AppState,
    tenant: Uuid,
    z_doc: &str,
    shift: &str,
) -> Result<String, ApiError> {
    let late: Vec<(Option<String>,)> = query_as(
        "WITH z AS (SELECT min(received_at) AS at FROM change_log
                    WHERE tenant_id = $1 AND doc_id = $2::uuid),
              docs AS (SELECT doc_id, receipt_no FROM p_sales WHERE tenant_id = $1 AND shift_id = $3
                       UNION ALL
                       SELECT doc_id, receipt_no FROM p_refunds WHERE tenant_id = $1 AND shift_id = $3)
         SELECT d.receipt_no FROM docs d, z
         WHERE EXISTS (SELECT 1 FROM change_log c WHERE c.tenant_id = $1
                       AND c.doc_id = d.doc_id::uuid AND c.received_at > z.at)
         ORDER BY d.receipt_no LIMIT 20",
    )
    .bind(tenant)
    .bind(z_doc)
    .bind(shift)
    .fetch_all(data(state))
    .await?;
    if late.is_empty() {
        Ok(
            "the master differs with no change after the Z report arrived: \
            a sale of this shift may have been merged on another till"
                .into(),
        )
    } else {
        let list: Vec<String> = late
            .into_iter()
            .map(|r| r.0.unwrap_or_else(|| "an open sale".into()))
            .collect();
        Ok(format!(
            "changed on the server after the Z report: {}",
            list.join(", ")
        ))
    }
}

async fn cash(state: &AppState, scope: &Scope) -> Result<Table, ApiError> {
    let group = check_group(scope, &["shift", "cashier"])?;
    let names = user_names(state, scope.tenant).await?;
    let mut t = if group == "shift" {
        Table::new(&[
            "store_id",
            "store_code",
            "device_id",
            "shift_id",
            "cashier_id",
            "cashier",
            "business_day",
            "opened_at",
            "closed_at",
            "float",
            "cash_expected",
            "cash_counted",
            "over_short",
        ])
    } else {
        Table::new(&[
            "store_id",
            "store_code",
            "cashier_id",
            "cashier",
            "shifts",
            "cash_expected",
            "cash_counted",
            "over_short",
        ])
    };
    for s in &scope.stores {
        let (start, end) = scope.bounds(s)?;
        let sid = s.store_id.to_string();
        let rows: Vec<(
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        )> = query_as(
            "SELECT doc_id, device_id, opened_by, opened_at, closed_at, float, expected_cash,
                    counted_cash, over_short
             FROM p_shifts WHERE tenant_id = $1 AND store_id = $2 AND status = 'Closed'
                AND closed_at >= $3 AND closed_at < $4 ORDER BY closed_at",
        )
        .bind(scope.tenant)
        .bind(&sid)
        .bind(start)
        .bind(end)
        .fetch_all(data(state))
        .await?;
        let mut by: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
        for (shift, device, by_user, opened, closed, float, expected, counted, over) in rows {
            let who = by_user.unwrap_or_default();
            if group == "shift" {
                let day = closed
                    .map(|c| s.clock.business_day(c).map(|d| d.to_string()))
                    .transpose()
                    .map_err(ApiError::internal)?;
                t.push(vec![
                    sid.clone().into(),
                    s.code.clone().into(),
                    device.into(),
                    shift.into(),
                    who.clone().into(),
                    names.get(&who).cloned().into(),
                    day.into(),
                    opened.map(|o| s.clock.rfc3339(o)).into(),
                    closed.map(|c| s.clock.rfc3339(c)).into(),
                    float.into(),
                    expected.into(),
                    counted.into(),
                    over.into(),
                ]);
            } else {
                let e = by.entry(who).or_default();
                e.0 += 1;
                e.1 += expected.unwrap_or(0);
                e.2 += counted.unwrap_or(0);
                e.3 += over.unwrap_or(0);
            }
        }
        for (who, (n, expected, counted, over)) in by {
            t.push(vec![
                sid.clone().into(),
                s.code.clone().into(),
                who.clone().into(),
                names.get(&who).cloned().into(),
                n.into(),
                expected.into(),
                counted.into(),
                over.into(),
            ]);
        }
    }
    Ok(t)
}

/// Stock on hand now, per store and item: low, oversold, and the value at cost (the unit cost
/// of the item's last receipt in that store).
async fn stock(state: &AppState, scope: &Scope) -> Result<Table, ApiError> {
    let mut t = Table::new(&[
        "store_id",
        "store_code",
        "item_id",
        "sku",
        "name",
        "on_hand",
        "low_stock_threshold",
        "low",
        "oversold",
        "unit_cost",
        "value_at_cost",
    ]);
    for s in &scope.stores {
        let sid = s.store_id.to_string();
        let rows: Vec<(
            String,
            Option<String>,
            Option<String>,
            i64,
            Option<i64>,
            Option<i64>,
        )> = query_as(
            "SELECT l.item_id, i.sku, i.name, l.on_hand, i.low_stock_threshold,
                    (SELECT m.unit_cost FROM p_stock_movements m
                     WHERE m.tenant_id = l.tenant_id AND m.store_id = l.store_id
                       AND m.item_id = l.item_id AND m.kind = 'receive' AND m.unit_cost IS NOT NULL
                     ORDER BY m.at DESC, m.seq DESC LIMIT 1)
                 FROM p_stock_levels l
                 LEFT JOIN p_items i ON i.tenant_id = l.tenant_id AND i.doc_id = l.item_id
                 WHERE l.tenant_id = $1 AND l.store_id = $2 ORDER BY i.name, l.item_id",
        )
        .bind(scope.tenant)
        .bind(&sid)
        .fetch_all(data(state))
        .await?;
        for (item, sku, name, on_hand, threshold, cost) in rows {
            t.push(vec![
                sid.clone().into(),
                s.code.clone().into(),
                item.into(),
                sku.into(),
                name.into(),
                on_hand.into(),
                threshold.into(),
                threshold.is_some_and(|th| on_hand <= th).into(),
                (on_hand < 0).into(),
                cost.into(),
                cost.map(|c| c * on_hand.max(0)).into(),
            ]);
        }
    }
    Ok(t)
}

/// Transfers sent from a store in scope and not yet received by their destination.
async fn transfers(state: &AppState, scope: &Scope) -> Result<Table, ApiError> {
    let mut t = Table::new(&[
        "store_id",
        "store_code",
        "transfer_id",
        "to_store_id",
        "sent_at",
        "lines",
    ]);
    for s in &scope.stores {
        let sid = s.store_id.to_string();
        let rows: Vec<(String, Option<String>, Option<i64>, Option<i64>)> = query_as(
            "SELECT o.doc_id, o.other_store_id, o.posted_at, o.line_count
             FROM p_stock_docs o
             WHERE o.tenant_id = $1 AND o.store_id = $2 AND o.kind = 'TransferOut'
               AND o.status = 'Posted'
               AND NOT EXISTS (SELECT 1 FROM p_stock_docs i WHERE i.tenant_id = o.tenant_id
                   AND i.kind = 'TransferIn' AND i.status = 'Posted' AND i.transfer_out_id = o.doc_id)
             ORDER BY o.posted_at",
        )
        .bind(scope.tenant)
        .bind(&sid)
        .fetch_all(data(state))
        .await?;
        for (id, to, at, lines) in rows {
            t.push(vec![
                sid.clone().into(),
                s.code.clone().into(),
                id.into(),
                to.into(),
                at.map(|a| s.clock.rfc3339(a)).into(),
                lines.into(),
            ]);
        }
    }
    Ok(t)
}

/// The incremental feed of closed sales and refunds, in the order the server accepted their
/// changes. The cursor is the server's change sequence: a document appears again when it
/// changes again (a merge after its close), so a consumer keeps the latest row per `doc_id`.
async fn feed(
    state: &AppState,
    scope: &Scope,
    after: i64,
    limit: usize,
) -> Result<(Table, Option<String>), ApiError> {
    let mut t = Table::new(&[
        "seq",
        "kind",
        "doc_id",
        "store_id",
        "store_code",
        "receipt_no",
        "sale_id",
        "business_day",
        "at",
        "total",
        "tax",
    ]);
    let ids: Vec<String> = scope
        .stores
        .iter()
        .map(|s| s.store_id.to_string())
        .collect();
    let store_uuids: Vec<Uuid> = scope.stores.iter().map(|s| s.store_id).collect();
    // The changes after the cursor (bounded), their documents' latest sequence among them.
    let rows: Vec<(Option<i64>, Option<i64>, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, Option<i64>, Option<i64>, Option<i64>)> =
        query_as(
            "WITH c AS (
                SELECT seq, doc_id FROM change_log
                WHERE tenant_id = $1 AND seq > $2 AND store_id = ANY($4::uuid[])
                ORDER BY seq LIMIT $3),
             top AS (SELECT max(seq) AS last FROM c),
             d AS (SELECT doc_id, max(seq) AS seq FROM c GROUP BY doc_id)
             SELECT top.last, x.seq, x.kind, x.doc_id, x.store_id, x.receipt_no, x.sale_id, x.at,
                    x.total, x.tax
             FROM top LEFT JOIN LATERAL (
                SELECT d.seq, 'sale' AS kind, s.doc_id, s.store_id, s.receipt_no, NULL::text AS sale_id,
                       s.closed_at AS at, s.total, s.tax
                FROM d JOIN p_sales s ON s.tenant_id = $1 AND s.doc_id = d.doc_id::text
                WHERE s.status = 'closed' AND s.store_id = ANY($5::text[])
                UNION ALL
                SELECT d.seq, 'refund', r.doc_id, r.store_id, r.receipt_no, r.sale_id, r.created_at,
                       r.total, r.tax
                FROM d JOIN p_refunds r ON r.tenant_id = $1 AND r.doc_id = d.doc_id::text
                WHERE r.store_id = ANY($5::text[])
             ) x ON true ORDER BY x.seq",
        )
        .bind(scope.tenant)
        .bind(after)
        .bind(limit as i64)
        .bind(&store_uuids)
        .bind(&ids)
        .fetch_all(data(state))
        .await?;
    let last = rows.first().and_then(|r| r.0);
    for (_, seq, kind, doc, store, receipt, sale, at, total, tax) in rows {
        let Some(seq) = seq else { continue };
        let st = scope
            .stores
            .iter()
            .find(|s| Some(s.store_id.to_string()) == store);
        let (code, day, at_local) = match (st, at) {
            (Some(st), Some(at)) => (
                Some(st.code.clone()),
                st.clock.business_day(at).ok().map(|d| d.to_string()),
                Some(st.clock.rfc3339(at)),
            ),
            _ => (None, None, None),
        };
        t.push(vec![
            seq.into(),
            kind.into(),
            doc.into(),
            store.into(),
            code.into(),
            receipt.into(),
            sale.into(),
            day.into(),
            at_local.into(),
            total.into(),
            tax.into(),
        ]);
    }
    let next = last.map(|l| encode_cursor("f", l));
    Ok((
        t,
        next.or_else(|| (after > 0).then(|| encode_cursor("f", after))),
    ))
}
