//! The JSON shape of head office's reports (`GET /v1/admin/reports/*` without `format=csv`),
//! for the OpenAPI document and so for the console's generated types. `reports.rs` builds the
//! answer; a test (`tests/it/console.rs`) reads every report's answer into these types with
//! unknown fields refused, so the document cannot drift from what the server sends.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// One page of a report.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportPage {
    /// The report's name, e.g. `sales-summary`.
    pub report: String,
    /// The columns of every row of `data`, in order (the CSV's header). Figures are named after
    /// the metrics of `docs/metrics.md`.
    pub columns: Vec<String>,
    /// One object per row, keyed by column.
    pub data: Vec<BTreeMap<String, ReportCell>>,
    pub pagination: ReportPagination,
    pub range: ReportRange,
    /// The stores of the report, with their clocks.
    pub stores: Vec<ReportStore>,
    /// Per device of those stores: up to when its data is on the server.
    pub freshness: Vec<DeviceFreshness>,
    /// Where the figures were read: the master, or a streaming replica and how far behind it is.
    pub source: ReportSource,
    /// When the answer was computed (ms since the epoch); older than the request only when it
    /// asked for `max_age_secs`.
    pub as_of: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportSource {
    /// Read on a replica (`--replica-database-url`), not the master.
    pub replica: bool,
    /// WAL bytes the replica has not replayed yet (replica only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_bytes: Option<i64>,
    /// Milliseconds since its last replayed transaction when behind, 0 when caught up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_ms: Option<i64>,
    /// Why the lag is unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A cell: money in minor units of the store's currency, rates and shares in basis points,
/// counts and quantities as integers; days `YYYY-MM-DD`; ids and names as text; `null` where
/// a row has no value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ReportCell {
    Int(i64),
    Text(String),
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportPagination {
    pub limit: i64,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportRange {
    /// First business day (`null` for reports that take no range: stock, transfers, feed).
    pub from: Option<String>,
    /// Last business day, inclusive.
    pub to: Option<String>,
    /// `refund_day` or `sale_day`.
    pub refunds_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportStore {
    pub store_id: Uuid,
    pub code: String,
    pub name: String,
    /// ISO 4217, from the store's settings.
    pub currency: Option<String>,
    /// The IANA zone its days are counted in (the query's `zone` when given).
    pub time_zone: String,
    /// `HH:MM`, local time the business day starts.
    pub business_day_start: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceFreshness {
    pub store_id: Uuid,
    pub device_id: Uuid,
    pub device_code: String,
    pub device_name: String,
    /// The device's data is on the server up to this instant (ms): its last push or pull.
    pub complete_until: Option<i64>,
    /// The same in the store's local time (RFC 3339).
    pub complete_until_local: Option<String>,
    /// No sync for longer than `stale_after_min` (or never).
    pub stale: bool,
}
