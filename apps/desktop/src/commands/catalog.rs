//! The catalog as the sell screen and back office see it.

use pos_core::auth::{can, Permission};
use pos_core::catalog::{Category, Item};
use pos_core::store::ItemSummary;
use serde::Serialize;
use tauri::State;

use crate::error::CmdResult;
use crate::state::AppState;

use super::id;

#[derive(Debug, Serialize, specta::Type)]
pub struct CategoryView {
    pub id: String,
    pub name: String,
    pub color: String,
}

#[tauri::command]
#[specta::specta]
pub fn categories(state: State<'_, AppState>) -> CmdResult<Vec<CategoryView>> {
    let inner = state.lock();
    let out = inner
        .store()?
        .categories()?
        .into_iter()
        .map(|(id, name, color)| CategoryView {
            id: id.to_string(),
            name,
            color,
        })
        .collect();
    Ok(out)
}

#[tauri::command]
#[specta::specta]
pub fn items_in_category(
    state: State<'_, AppState>,
    category_id: Option<String>,
) -> CmdResult<Vec<ItemSummary>> {
    let cat = category_id.as_deref().map(id).transpose()?;
    let inner = state.lock();
    let store = inner.store()?;
    // No category: the items in none ("Other" on the Sell grid).
    let out = match cat {
        Some(cat) => store.items_in_category(&cat.to_string())?,
        None => store.items_without_category()?,
    };
    Ok(out)
}

#[tauri::command]
#[specta::specta]
pub fn search_items(state: State<'_, AppState>, query: String) -> CmdResult<Vec<ItemSummary>> {
    let inner = state.lock();
    let out = inner.store()?.search_items(&query, 40)?;
    Ok(out)
}

#[derive(Debug, Serialize, specta::Type)]
pub struct ItemDetail {
    pub id: String,
    pub item: Item,
    /// Whether the logged-in role may change prices (`price.edit`); the form disables the
    /// price fields otherwise. The store's policy refuses the change either way.
    pub can_edit_price: bool,
    pub can_edit_catalog: bool,
}

/// One item with its modifier groups (the modifier picker, the back-office form).
#[tauri::command]
#[specta::specta]
pub fn item_detail(state: State<'_, AppState>, item_id: String) -> CmdResult<ItemDetail> {
    let iid = id(&item_id)?;
    let inner = state.lock();
    let actor = inner.actor()?;
    let item: Item = inner.store()?.get(iid)?;
    Ok(ItemDetail {
        id: iid.to_string(),
        item,
        can_edit_price: can(actor.role, Permission::PriceEdit),
        can_edit_catalog: can(actor.role, Permission::CatalogEdit),
    })
}

/// Creates an item (no id) or replaces an item's fields; core's policy decides what the role
/// may change (a price change needs `price.edit`).
#[tauri::command]
#[specta::specta]
pub fn save_item(
    state: State<'_, AppState>,
    item_id: Option<String>,
    item: Item,
) -> CmdResult<String> {
    let iid = item_id.as_deref().map(id).transpose()?;
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    match iid {
        None => Ok(store.create_item(&actor, item)?.to_string()),
        Some(iid) => {
            store.update_item(&actor, iid, |i| {
                *i = item;
                Ok(())
            })?;
            Ok(iid.to_string())
        }
    }
}

/// Event with an import's progress: `{done, total}`.
pub const IMPORT_PROGRESS_EVENT: &str = "import-progress";

/// Imports the catalog from a CSV file's text (`pos_core::import`): all or nothing, with every
/// bad line in the error's details; progress as [`IMPORT_PROGRESS_EVENT`] events. Runs off the
/// UI thread.
#[tauri::command(async)]
#[specta::specta]
pub fn import_items<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    csv: String,
) -> CmdResult<pos_core::store::ImportReport> {
    use tauri::Emitter;
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    Ok(store.import_items(&actor, &csv, |done, total| {
        let _ = app.emit(
            IMPORT_PROGRESS_EVENT,
            crate::sync::Progress {
                done: done as i64,
                total: total as i64,
            },
        );
    })?)
}

/// Creates a category (no id) or edits one.
#[tauri::command]
#[specta::specta]
pub fn save_category(
    state: State<'_, AppState>,
    category_id: Option<String>,
    category: Category,
) -> CmdResult<String> {
    let cid = category_id.as_deref().map(id).transpose()?;
    let inner = state.lock();
    let (mut store, actor) = inner.acting()?;
    match cid {
        None => Ok(store.create_category(&actor, category)?.to_string()),
        // pos-core has no `update_category` operation yet; this is its one write path.
        Some(cid) => {
            store.write(&actor, |w| {
                w.update(cid, |c: &mut Category| {
                    *c = category;
                    Ok::<_, pos_core::store::StoreError>(())
                })
            })?;
            Ok(cid.to_string())
        }
    }
}
