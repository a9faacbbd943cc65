//! Stock: levels with filters, receive, adjust, the guided count, transfers.

use pos_core::store::{StockFilter, StockInput, StockRow};
use serde::Deserialize;
use tauri::State;

use crate::error::{CmdResult, CommandError};
use crate::state::AppState;

use super::id;

#[derive(Debug, Deserialize)]
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
#[tauri::command(rename_all = "snake_case")]
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

#[tauri::command(rename_all = "snake_case")]
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

#[tauri::command(rename_all = "snake_case")]
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
#[tauri::command(rename_all = "snake_case")]
pub fn start_count(state: State<'_, AppState>) -> CmdResult<String> {
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    Ok(store.start_count(&actor)?.to_string())
}

#[tauri::command(rename_all = "snake_case")]
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

/// Posts a count: stock moves by counted − expected per line.
#[tauri::command(rename_all = "snake_case")]
pub fn post_count(state: State<'_, AppState>, count_id: String) -> CmdResult<()> {
    let cid = id(&count_id)?;
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    Ok(store.post_count(&actor, cid)?)
}

/// Sends stock to another store (by its id).
#[tauri::command(rename_all = "snake_case")]
pub fn transfer_out(
    state: State<'_, AppState>,
    to_store: String,
    lines: Vec<StockLineInput>,
) -> CmdResult<String> {
    let to = id(&to_store).map_err(|_| {
        CommandError::invalid("Enter the other store's id (a UUID from head office).")
    })?;
    let l = self::lines(lines)?;
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    Ok(store.transfer_out(&actor, to, &l)?.to_string())
}
