//! Stock transfers between a tenant's stores. A transfer-out is a stock document of the sending
//! store, synced like any other; the receiving store's devices never pull another store's
//! documents, so they ask here what was sent to them and not received yet, and receive it with
//! a transfer-in document of their own (which names the transfer-out it answers).

use pos_sync::wire::{IncomingTransfer, StoreInfo, TransferLine};
use sqlx_core::query_as::query_as;
use uuid::Uuid;

use crate::auth::DeviceAuth;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /v1/sync/stores`: the stores of the device's tenant (for the transfer's destination).
pub async fn stores(state: &AppState, device: &DeviceAuth) -> Result<Vec<StoreInfo>, ApiError> {
    let rows: Vec<(Uuid, String, String)> =
        query_as("SELECT store_id, code, name FROM stores WHERE tenant_id = $1 ORDER BY code")
            .bind(device.tenant_id)
            .fetch_all(&state.pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(store_id, code, name)| StoreInfo {
            store_id,
            code,
            name,
        })
        .collect())
}

/// `GET /v1/sync/transfers/incoming`: posted transfers to the device's store that no transfer-in
/// of this store answers yet, oldest first, with the units sent per item.
pub async fn incoming(
    state: &AppState,
    device: &DeviceAuth,
) -> Result<Vec<IncomingTransfer>, ApiError> {
    crate::modules::require(
        state,
        device.tenant_id,
        pos_core::modules::Module::Transfers,
    )
    .await?;
    let rows: Vec<(
        String,
        Option<String>,
        Option<i64>,
        Option<String>,
        Option<i64>,
    )> = query_as(
        "SELECT d.doc_id, d.store_id, d.posted_at, m.item_id, sum(-m.qty)::bigint
         FROM p_stock_docs d
         JOIN p_stock_movements m ON m.tenant_id = d.tenant_id AND m.doc_id = d.doc_id
         WHERE d.tenant_id = $1 AND d.kind = 'TransferOut' AND d.status = 'Posted'
           AND d.other_store_id = $2
           AND NOT EXISTS (
               SELECT 1 FROM p_stock_docs r
               WHERE r.tenant_id = d.tenant_id AND r.kind = 'TransferIn'
                 AND r.store_id = $2 AND r.transfer_out_id = d.doc_id)
         GROUP BY d.doc_id, d.store_id, d.posted_at, m.item_id
         ORDER BY d.posted_at, d.doc_id, m.item_id",
    )
    .bind(device.tenant_id)
    .bind(device.store_id.to_string())
    .fetch_all(&state.pool)
    .await?;
    let names: std::collections::HashMap<Uuid, String> = stores(state, device)
        .await?
        .into_iter()
        .map(|s| (s.store_id, format!("{} {}", s.code, s.name)))
        .collect();
    let mut out: Vec<IncomingTransfer> = Vec::new();
    for (doc_id, from, posted_at, item, qty) in rows {
        let (Ok(doc_id), Some(Ok(from))) = (doc_id.parse::<Uuid>(), from.map(|f| f.parse())) else {
            continue;
        };
        let line = item
            .and_then(|i| i.parse().ok())
            .map(|item_id| TransferLine {
                item_id,
                qty: qty.unwrap_or(0),
            });
        match out.last_mut() {
            Some(t) if t.transfer_out_id == doc_id => t.lines.extend(line),
            _ => out.push(IncomingTransfer {
                transfer_out_id: doc_id,
                from_store_id: from,
                from_store: names.get(&from).cloned().unwrap_or_default(),
                sent_at: posted_at,
                lines: line.into_iter().collect(),
            }),
        }
    }
    Ok(out)
}
