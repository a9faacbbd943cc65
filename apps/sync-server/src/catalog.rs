//! Head office's catalog beyond publishing one item (`admin::publish_item`): the list of the
//! tenant's items for the console, and the CSV import (`POST /v1/admin/items/import`).
//!
//! The import reads the file with the core's importer (`pos_core::import::parse_items_csv`, the
//! same rules as a till's back office): the whole file is checked first, and a file with any
//! wrong line is refused whole, every wrong line named (400, `details.lines`). Then each item is
//! published through `admin::publish_item` (its checks, its audit event, its change that every
//! store pulls), matched by SKU to the tenant's item of that SKU. Each item is its own
//! transaction, so a failure half-way (the database gone) leaves the items before it published;
//! sending the same file again finishes the job, since an item that already says what its line
//! says writes nothing (`unchanged`).

use std::collections::{BTreeMap, HashMap};

use pos_core::auth::Permission;
use pos_core::import::{parse_items_csv, ImportError};
use pos_core::money::Currency;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx_core::query_as::query_as;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::admin::{self, PublishItem};
use crate::auth::{require, UserAuth};
use crate::db;
use crate::error::ApiError;
use crate::state::AppState;

/// An item of the tenant's catalog as the projection holds it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ItemOut {
    pub item_id: Uuid,
    pub sku: String,
    pub name: String,
    pub category_id: Option<String>,
    pub currency: String,
    /// Default price, minor units.
    pub price: i64,
    /// Store id → the store's own price, minor units.
    pub store_prices: BTreeMap<Uuid, i64>,
    pub tax_class: String,
    pub station: Option<String>,
    pub track_stock: bool,
    pub low_stock_threshold: i64,
    pub barcodes: Vec<String>,
    pub active: bool,
}

type ItemRow = (
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

/// `GET /v1/admin/items`: the tenant's items, by SKU (`catalog.edit`).
pub async fn list_items(state: &AppState, user: &UserAuth) -> Result<Vec<ItemOut>, ApiError> {
    require(&state.pool, user, None, Permission::CatalogEdit).await?;
    let rows: Vec<ItemRow> = query_as(
        "SELECT doc_id, sku, name, category_id, currency, price, tax_class, station, track_stock,
                low_stock_threshold, active, barcodes
         FROM p_items WHERE tenant_id = $1 ORDER BY sku, doc_id",
    )
    .bind(user.tenant_id)
    .fetch_all(&state.pool)
    .await?;
    let prices = store_prices(state, user.tenant_id).await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let item_id: Uuid = r.0.parse().ok()?;
            Some(ItemOut {
                store_prices: prices.get(&item_id).cloned().unwrap_or_default(),
                item_id,
                sku: r.1.unwrap_or_default(),
                name: r.2.unwrap_or_default(),
                category_id: r.3,
                currency: r.4.unwrap_or_default(),
                price: r.5.unwrap_or(0),
                tax_class: r.6.unwrap_or_default(),
                station: r.7,
                track_stock: r.8.unwrap_or(0) != 0,
                low_stock_threshold: r.9.unwrap_or(0),
                active: r.10.unwrap_or(1) != 0,
                barcodes: r
                    .11
                    .map(|b| b.split_whitespace().map(str::to_string).collect())
                    .unwrap_or_default(),
            })
        })
        .collect())
}

/// Item → store → price, from the projection.
async fn store_prices(
    state: &AppState,
    tenant: Uuid,
) -> Result<HashMap<Uuid, BTreeMap<Uuid, i64>>, ApiError> {
    let rows: Vec<(String, String, Option<i64>)> =
        query_as("SELECT doc_id, store_id, price FROM p_item_store_prices WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_all(&state.pool)
            .await?;
    let mut out: HashMap<Uuid, BTreeMap<Uuid, i64>> = HashMap::new();
    for (item, store, price) in rows {
        if let (Ok(i), Ok(s), Some(p)) = (item.parse(), store.parse(), price) {
            out.entry(i).or_default().insert(s, p);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Deserialize, IntoParams)]
pub struct ImportQuery {
    /// ISO 4217 currency of the file's prices; default: the currency of the tenant's stores,
    /// when they all have one.
    #[param(value_type = Option<crate::wire_schema::CurrencySchema>)]
    pub currency: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportOut {
    /// Items the file added.
    pub created: usize,
    /// Items of the same SKU the file changed.
    pub updated: usize,
    /// Items that already said what their line says.
    pub unchanged: usize,
}

/// `POST /v1/admin/items/import` (`text/csv` body): see the module's doc. Needs `catalog.edit`
/// and `price.edit` tenant-wide, like publishing one item; tax classes must be known to every
/// store of the tenant (an item is sold in all of them), categories by name.
pub async fn import_items(
    state: &AppState,
    user: &UserAuth,
    q: ImportQuery,
    csv: &str,
) -> Result<ImportOut, ApiError> {
    // Checked before anything, so a refusal never comes after some items were written.
    require(&state.pool, user, None, Permission::CatalogEdit).await?;
    require(&state.pool, user, None, Permission::PriceEdit).await?;
    let tenant = user.tenant_id;
    let stores: Vec<(uuid::Uuid,)> =
        query_as("SELECT store_id FROM stores WHERE tenant_id = $1 ORDER BY code")
            .bind(tenant)
            .fetch_all(&state.pool)
            .await?;
    let mut currencies: Vec<String> = Vec::new();
    let mut classes: Option<Vec<String>> = None;
    {
        let mut tx = state.pool.begin().await?;
        for (store,) in &stores {
            let Some(s) = crate::docs::store_settings(&mut tx, tenant, *store).await? else {
                continue;
            };
            if !currencies.contains(&s.currency) {
                currencies.push(s.currency.clone());
            }
            let mine: Vec<String> = s.tax_rates.keys().cloned().collect();
            classes = Some(match classes {
                None => mine,
                Some(c) => c.into_iter().filter(|k| mine.contains(k)).collect(),
            });
        }
        tx.rollback().await?;
    }
    let Some(classes) = classes else {
        return Err(ApiError::validation(
            "the tenant has no store yet: create one first (its tax classes say what an item may use)",
        ));
    };
    let code = match (q.currency.as_deref(), currencies.as_slice()) {
        (Some(c), _) => c.trim().to_uppercase(),
        (None, [one]) => one.clone(),
        (None, _) => {
            return Err(ApiError::validation(format!(
                "the stores use several currencies ({}): say which with ?currency=",
                currencies.join(", ")
            )))
        }
    };
    let currency = Currency::from_code(&code).map_err(|e| ApiError::validation(e.to_string()))?;
    let categories: Vec<(String, Option<String>)> =
        query_as("SELECT doc_id, name FROM p_categories WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_all(&state.pool)
            .await?;
    let names: Vec<String> = categories.iter().filter_map(|c| c.1.clone()).collect();
    let rows = parse_items_csv(csv, currency, &classes, &names).map_err(|e| match e {
        ImportError::BadLines(lines) => ApiError::Validation {
            message: format!("{} line(s) are wrong; nothing was imported", lines.len()),
            details: json!({ "lines": lines }),
        },
        other => ApiError::validation(other.to_string()),
    })?;
    let existing: Vec<(String, Option<String>)> =
        query_as("SELECT doc_id, sku FROM p_items WHERE tenant_id = $1")
            .bind(tenant)
            .fetch_all(&state.pool)
            .await?;
    let by_sku: HashMap<String, Uuid> = existing
        .into_iter()
        .filter_map(|(id, sku)| Some((sku?, id.parse().ok()?)))
        .collect();
    let prices = store_prices(state, tenant).await?;
    let mut out = ImportOut {
        created: 0,
        updated: 0,
        unchanged: 0,
    };
    for row in rows {
        let item = row.item;
        let item_id = by_sku.get(&item.sku).copied();
        let category_id = row.category.as_ref().and_then(|c| {
            categories
                .iter()
                .find(|k| k.1.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(c)))
                .map(|k| k.0.clone())
        });
        let req = PublishItem {
            item_id,
            sku: item.sku,
            name: item.name,
            category_id,
            currency: item.currency,
            price: item.price,
            // What the file does not describe stays as it was.
            store_prices: item_id
                .and_then(|id| prices.get(&id).cloned())
                .unwrap_or_default(),
            tax_class: item.tax_class,
            station: item.station,
            track_stock: item.track_stock,
            low_stock_threshold: item.low_stock_threshold,
            barcodes: item.barcodes,
            active: item.active,
        };
        let done = admin::publish_item(state, user, req).await?;
        match (item_id, done.seq) {
            (_, None) => out.unchanged += 1,
            (None, Some(_)) => out.created += 1,
            (Some(_), Some(_)) => out.updated += 1,
        }
    }
    let mut tx = state.pool.begin().await?;
    db::audit(
        &mut tx,
        tenant,
        Some(user.user_id),
        None,
        "catalog.import",
        &format!("tenant:{tenant}"),
        json!({ "after": { "created": out.created, "updated": out.updated, "unchanged": out.unchanged } }),
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

// ---------------------------------------------------------------- handlers

use axum::extract::State;
use axum::http::{header, HeaderMap};

use crate::error::{Json, Query};

#[utoipa::path(get, path = "/v1/admin/items", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<ItemOut>), (status = 403)))]
pub async fn list_items_h(
    State(s): State<AppState>,
    u: UserAuth,
) -> Result<Json<Vec<ItemOut>>, ApiError> {
    list_items(&s, &u).await.map(Json)
}

#[utoipa::path(post, path = "/v1/admin/items/import", tag = "admin", security(("bearer" = [])),
    params(ImportQuery),
    request_body(content = String, content_type = "text/csv",
        description = "A header naming the columns (`sku`, `name`, `price` required; `tax_class`, \
            `category`, `barcodes`, `station`, `track_stock`, `low_stock_threshold`, `active`), \
            one item per line, prices as decimals (`3.50`)."),
    description = "Imports items by SKU. The whole file is checked first: any wrong line and \
        nothing is imported (400, `details.lines`: `[{line, message}]`).",
    responses((status = 200, body = ImportOut), (status = 400), (status = 403)))]
pub async fn import_items_h(
    State(s): State<AppState>,
    u: UserAuth,
    Query(q): Query<ImportQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<ImportOut>, ApiError> {
    let csv_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let essence = v
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            essence == "text/csv" || essence == "text/plain"
        });
    if !csv_type {
        return Err(ApiError::validation(
            "expected a body with content-type text/csv",
        ));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::validation(format!("the file is not UTF-8 text: {e}")))?;
    if text.contains('\0') {
        return Err(ApiError::validation(
            "text must not contain a NUL character",
        ));
    }
    import_items(&s, &u, q, text).await.map(Json)
}
