//! The UI's TypeScript bindings, `ui/src/lib/bindings.ts`: every command as a typed function
//! (`commands.addItem(sale_id, item_id, …)`) and every type a command takes or returns, written
//! by tauri-specta from the command functions and their types themselves, so the UI cannot call
//! a command with arguments it does not take or read a field it does not return (svelte-check
//! fails). A test keeps the checked-in file current; `POS_UPDATE_BINDINGS=1 cargo test -p
//! pos-desktop --lib bindings` rewrites it.
//!
//! **Architecture Invariant:** the command list here and the invoke handler's
//! ([`crate::commands::handler`]) name the same commands: a test compares both with
//! `src/command_names.in`. (The handler stays generic over the runtime for the mock-runtime
//! tests; the bindings only need one concrete runtime.)
//!
//! Decisions: errors are thrown (`ErrorHandlingMode::Throw`; `ui/src/lib/api.ts` turns every
//! rejection into a `PosError`); 64-bit integers are TypeScript `number`s: money in minor units
//! and timestamps in milliseconds stay far below 2^53.

use specta_typescript::Typescript;
use tauri_specta::{collect_commands, Builder, ErrorHandlingMode};

use crate::commands::{auth, catalog, kitchen, sale, settings, setup, shift, stock};

/// The builder that knows every command, plus the event payloads the UI listens to.
pub fn builder() -> Builder<tauri::Wry> {
    Builder::<tauri::Wry>::new()
        .commands(collect_commands![
            setup::app_info,
            setup::setup_demo,
            setup::enrol_device::<tauri::Wry>,
            setup::reenrol_device::<tauri::Wry>,
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
            catalog::import_items::<tauri::Wry>,
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
        ])
        .typ::<crate::sync::Progress>()
        .error_handling(ErrorHandlingMode::Throw)
        .dangerously_cast_bigints_to_number()
        .disable_serde_phases()
}

/// The bindings' TypeScript text.
pub fn typescript() -> String {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("bindings.ts");
    let header = "// Generated from the desktop app's commands by tauri-specta: do not edit.\n\
                  // Rewrite it with POS_UPDATE_BINDINGS=1 cargo test -p pos-desktop --lib bindings";
    builder()
        .export(Typescript::default().header(header), &path)
        .expect("the command types export to TypeScript");
    std::fs::read_to_string(&path).expect("read the exported bindings")
}
