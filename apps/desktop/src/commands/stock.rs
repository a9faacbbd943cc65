//! Stock: levels with filters, receive, adjust, the guided count, transfers.

use pos_core::inventory::{StockDoc, StockDocKind, StockDocStatus};
use pos_core::store::{StockFilter, StockInput, StockRow};
use pos_sync::http::HttpTransport;
use pos_sync::wire::IncomingTransfer;
use serde::{Deserialize, Serialize};
use tauri::State;

use crate::error::{CmdResult, CommandError};
use crate::state::AppState;

use super::id;

#[derive(Debug, Deserialize, specta::Type)]
pub struct StockLineInput {
    pub item_id: String,
    pub qty: i64,
    #[serde(default)]
    pub unit_cost: Option<i64>,
}

fn lines(input: Vec<StockLineInput>) -> CmdResult<Vec<StockInput>> {
    if input.is_empty() {
        return Err(CommandError::invalid("Add at least one item."));
    }
    input
        .into_iter()
        .map(|l| {
            Ok(StockInput {
                item_id: id(&l.item_id)?,
                qty: l.qty,
                unit_cost: l.unit_cost,
            })
        })
        .collect()
}

/// Stock levels of tracked items: `all`, `low_stock` or `oversold`.
#[tauri::command]
#[specta::specta]
pub fn stock_levels(
    state: State<'_, AppState>,
    filter: Option<String>,
) -> CmdResult<Vec<StockRow>> {
    let f = match filter.as_deref().unwrap_or("all") {
        "all" => StockFilter::All,
        "low_stock" => StockFilter::LowStock,
        "oversold" => StockFilter::Oversold,
        other => return Err(CommandError::invalid(format!("Unknown filter {other:?}."))),
    };
    let inner = state.lock();
    let out = inner.store()?.stock_levels(f)?;
    Ok(out)
}

#[tauri::command]
#[specta::specta]
pub fn receive_stock(
    state: State<'_, AppState>,
    supplier_ref: String,
    lines: Vec<StockLineInput>,
) -> CmdResult<String> {
    let l = self::lines(lines)?;
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    Ok(store.receive_stock(&actor, &supplier_ref, &l)?.to_string())
}

#[tauri::command]
#[specta::specta]
pub fn adjust_stock(
    state: State<'_, AppState>,
    reason: String,
    lines: Vec<StockLineInput>,
) -> CmdResult<String> {
    let l = self::lines(lines)?;
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    Ok(store.adjust_stock(&actor, &reason, &l)?.to_string())
}

/// Starts a count sheet (a draft until posted).
#[tauri::command]
#[specta::specta]
pub fn start_count(state: State<'_, AppState>) -> CmdResult<String> {
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    Ok(store.start_count(&actor)?.to_string())
}

#[tauri::command]
#[specta::specta]
pub fn count_item(
    state: State<'_, AppState>,
    count_id: String,
    item_id: String,
    counted: i64,
) -> CmdResult<()> {
    let (cid, iid) = (id(&count_id)?, id(&item_id)?);
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    Ok(store.count_item(&actor, cid, iid, counted)?)
}

/// One counted item of a count sheet: what was expected on hand when it was counted, what
/// was counted, and the difference posting will move.
#[derive(Debug, Serialize, specta::Type)]
pub struct CountLineView {
    pub item_id: String,
    pub name: String,
    pub expected: i64,
    pub counted: i64,
    pub difference: i64,
}

/// A count sheet before (or after) it is posted, its lines by name.
#[derive(Debug, Serialize, specta::Type)]
pub struct CountSheet {
    pub id: String,
    pub posted: bool,
    pub lines: Vec<CountLineView>,
}

/// The differences of a count sheet (counted − expected per item), to check before posting.
#[tauri::command]
#[specta::specta]
pub fn count_sheet(state: State<'_, AppState>, count_id: String) -> CmdResult<CountSheet> {
    let cid = id(&count_id)?;
    let inner = state.lock();
    let mut store = inner.store()?;
    let doc: StockDoc = store.get(cid)?;
    if doc.kind != StockDocKind::Count {
        return Err(CommandError::invalid("That is not a count sheet."));
    }
    let mut lines: Vec<CountLineView> = doc
        .lines
        .into_iter()
        .map(|(item_id, l)| {
            let (expected, counted) = (l.expected.unwrap_or(0), l.counted.unwrap_or(0));
            CountLineView {
                item_id,
                name: l.name,
                expected,
                counted,
                difference: counted - expected,
            }
        })
        .collect();
    lines.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(CountSheet {
        id: cid.to_string(),
        posted: doc.status == StockDocStatus::Posted,
        lines,
    })
}

/// Posts a count: stock moves by counted − expected per line.
#[tauri::command]
#[specta::specta]
pub fn post_count(state: State<'_, AppState>, count_id: String) -> CmdResult<()> {
    let cid = id(&count_id)?;
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    Ok(store.post_count(&actor, cid)?)
}

/// Sends stock to another store of the tenant (one of [`transfer_stores`]).
#[tauri::command]
#[specta::specta]
pub fn transfer_out(
    state: State<'_, AppState>,
    to_store: String,
    lines: Vec<StockLineInput>,
) -> CmdResult<String> {
    let to = id(&to_store)
        .map_err(|_| CommandError::invalid("Choose the store to send the stock to."))?;
    let l = self::lines(lines)?;
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    if to == store.identity().store_id {
        return Err(CommandError::invalid(
            "That is this store. Choose another store to send the stock to.",
        ));
    }
    Ok(store.transfer_out(&actor, to, &l)?.to_string())
}

/// A store stock can be sent to.
#[derive(Debug, Serialize, specta::Type)]
pub struct StoreChoice {
    pub store_id: String,
    pub label: String,
}

/// A transfer sent to this store, not received yet, with the item names of this store's catalog.
#[derive(Debug, Serialize, specta::Type)]
pub struct IncomingView {
    pub transfer_out_id: String,
    pub from_store: String,
    pub sent_at: Option<i64>,
    pub lines: Vec<IncomingLine>,
}

#[derive(Debug, Serialize, specta::Type)]
pub struct IncomingLine {
    pub item_id: String,
    pub name: String,
    pub qty: i64,
}

/// The server link of an enrolled device, taken without keeping the app's lock: the network
/// call that follows must not block the till.
fn online(state: &AppState) -> CmdResult<(HttpTransport, String, uuid::Uuid)> {
    let inner = state.lock();
    let own = inner.store()?.identity().store_id;
    let cred = crate::sync::load_credential(&inner.data_dir)?.ok_or_else(|| {
        CommandError::invalid(
            "Transfers between stores need the sync server: this device runs standalone (demo mode). Enrol it under Settings → Sync server.",
        )
    })?;
    let server = cred.server.clone();
    Ok((HttpTransport::new(cred), server, own))
}

/// The other stores of the tenant, from the server (online only).
#[tauri::command]
#[specta::specta]
pub fn transfer_stores(state: State<'_, AppState>) -> CmdResult<Vec<StoreChoice>> {
    let (mut http, server, own) = online(&state)?;
    let stores = http
        .stores()
        .map_err(|e| crate::sync::transport_error(&server, e, false))?;
    Ok(stores
        .into_iter()
        .filter(|s| s.store_id != own)
        .map(|s| StoreChoice {
            store_id: s.store_id.to_string(),
            label: format!("{} {}", s.code, s.name),
        })
        .collect())
}

fn fetch_incoming(state: &AppState) -> CmdResult<Vec<IncomingTransfer>> {
    let (mut http, server, _) = online(state)?;
    http.incoming_transfers()
        .map_err(|e| crate::sync::transport_error(&server, e, false))
}

/// Transfers other stores sent here and this store has not received yet (online only).
#[tauri::command]
#[specta::specta]
pub fn incoming_transfers(state: State<'_, AppState>) -> CmdResult<Vec<IncomingView>> {
    let incoming = fetch_incoming(&state)?;
    let inner = state.lock();
    let mut store = inner.store()?;
    Ok(incoming
        .into_iter()
        .map(|t| IncomingView {
            transfer_out_id: t.transfer_out_id.to_string(),
            from_store: t.from_store,
            sent_at: t.sent_at,
            lines: t
                .lines
                .into_iter()
                .map(|l| IncomingLine {
                    item_id: l.item_id.to_string(),
                    name: store
                        .get::<pos_core::catalog::Item>(l.item_id)
                        .map(|i| i.name)
                        .unwrap_or_else(|_| format!("item {}", l.item_id)),
                    qty: l.qty,
                })
                .collect(),
        })
        .collect())
}

/// Receives a transfer sent to this store: a transfer-in of the quantities the sending store
/// posted (as the server lists them).
#[tauri::command]
#[specta::specta]
pub fn receive_transfer(state: State<'_, AppState>, transfer_out_id: String) -> CmdResult<String> {
    let wanted = id(&transfer_out_id)?;
    let t = fetch_incoming(&state)?
        .into_iter()
        .find(|t| t.transfer_out_id == wanted)
        .ok_or_else(|| CommandError::NotFound {
            what: "this transfer (already received, or not sent to this store)".into(),
        })?;
    let lines: Vec<StockInput> = t
        .lines
        .iter()
        .map(|l| StockInput {
            item_id: l.item_id,
            qty: l.qty,
            unit_cost: None,
        })
        .collect();
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    Ok(store
        .transfer_in(&actor, t.from_store_id, t.transfer_out_id, &lines)?
        .to_string())
}
