//! The Tauri commands. Each one parses its input, calls one function of `pos-core` or
//! `pos-printing`, and maps the result into a view or a [`CommandError`]. No business rule lives
//! here: permissions, totals, limits and lockouts are decided by core.
//!
//! The UI calls them through `ui/src/lib/bindings.ts`, generated from these functions by
//! tauri-specta ([`crate::bindings`], tests only): arguments travel in Tauri's camelCase
//! (`sale_id` is `saleId` in the IPC), the structs inside them keep their serde names.

pub mod auth;
pub mod catalog;
pub mod kitchen;
pub mod sale;
pub mod settings;
pub mod setup;
pub mod shift;
pub mod stock;

use uuid::Uuid;

use crate::error::{CmdResult, CommandError};

/// Parses an id the UI sent.
pub(crate) fn id(s: &str) -> CmdResult<Uuid> {
    Uuid::parse_str(s.trim())
        .map_err(|_| CommandError::invalid(format!("{s:?} is not a valid id.")))
}

/// The invoke handler with every command; the names must match `src/command_names.in`, which the
/// build script turns into permissions (a test checks both lists agree).
pub fn handler<R: tauri::Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static
{
    tauri::generate_handler![
        setup::app_info,
        setup::setup_demo,
        setup::enrol_device,
        setup::reenrol_device,
        setup::set_mode,
        auth::staff_list,
        auth::login,
        auth::logout,
        auth::approve_manager,
        catalog::categories,
        catalog::items_in_category,
        catalog::search_items,
        catalog::item_detail,
        catalog::save_item,
        catalog::save_category,
        catalog::import_items,
        sale::open_sale,
        sale::open_sales,
        sale::get_sale,
        sale::scan_barcode,
        sale::add_item,
        sale::set_line_qty,
        sale::remove_line,
        sale::set_line_note,
        sale::edit_line,
        sale::override_price,
        sale::set_guests,
        sale::split_sale,
        sale::even_share,
        sale::move_ticket,
        sale::merge_lines,
        sale::merge_sales,
        sale::set_line_discount,
        sale::set_order_discount,
        sale::fire_sale,
        sale::pay,
        sale::return_overpayment,
        sale::void_sale,
        sale::print_receipt,
        sale::reprint_receipt,
        sale::email_receipt,
        sale::receipt_preview,
        sale::receipt_image,
        sale::open_drawer,
        sale::find_receipt,
        sale::refund_sale,
        sale::refund_quote,
        sale::closed_sales,
        sale::refunds_list,
        kitchen::kitchen_board,
        kitchen::kitchen_action,
        kitchen::kitchen_expo,
        shift::shift_status,
        shift::open_shift,
        shift::cash_event,
        shift::x_report,
        shift::close_shift,
        shift::print_report,
        shift::z_reports,
        shift::z_report,
        shift::shift_history,
        stock::stock_levels,
        stock::receive_stock,
        stock::adjust_stock,
        stock::start_count,
        stock::count_item,
        stock::count_sheet,
        stock::post_count,
        stock::transfer_out,
        stock::transfer_stores,
        stock::incoming_transfers,
        stock::receive_transfer,
        settings::device_settings,
        settings::save_printer,
        settings::test_print,
        settings::printer_status,
        settings::save_receipt_texts,
        settings::save_device_prefs,
        settings::mesh_view,
        settings::save_mesh_peers,
        settings::sync_status,
    ]
}
