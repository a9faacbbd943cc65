// Generated from apps/desktop/src/views.rs by ts-rs: do not edit. Rewrite it with
// POS_UPDATE_BINDINGS=1 cargo test -p pos-desktop --lib bindings

export type Mode = "pos" | "kds" | "back_office";

export type KdsSetup = { warn_after_s: number, late_after_s: number, 
/**
 * The station this screen shows (`None`: all, one column each).
 */
station: string | null, };

export type UserView = { id: string, name: string, role: string, 
/**
 * The permissions of the role (`pos_core::auth::can`), for the UI to guard its buttons.
 */
permissions: Array<string>, };

export type AppInfo = { set_up: boolean, mode: Mode | null, store_name: string | null, store_code: string | null, device_code: string | null, data_dir: string, startup_problem: string | null, user: UserView | null, idle_lock_s: number, kds: KdsSetup, printer_configured: boolean, 
/**
 * The sync server of an enrolled device (`None`: standalone).
 */
server: string | null, 
/**
 * What the enrolment code made this device: `till` or `kitchen` (a kitchen screen shows
 * only the kitchen display, and whoever logs in acts with the kitchen role's rights).
 */
device_kind: "till" | "kitchen" | null, 
/**
 * The store's IANA time zone: the screens show times in it, like the receipts (`None`
 * before the device has a store).
 */
time_zone: string | null, 
/**
 * Modules of the tenant that are off (`pos_core::modules`, as the server last said with
 * the staff list): their screens and buttons are hidden, offline too.
 */
modules_off: Array<string>, version: string, };

export type DiscountView = { kind: "percent" | "amount", value: number, approved_by: string | null, reason: string, };

export type ModifierKey = { group: string, option: string, };

export type PaymentView = { tender: string, amount: number, tendered: number, change: number, reference: string | null, };

export type TaxView = { rate_bp: number, net: number, tax: number, };

export type LineView = { id: string, item_id: string, sku: string, name: string, qty: number, unit_price: number, gross: number, line_discount: number, order_discount: number, total: number, discount: DiscountView | null, modifiers: Array<string>, note: string, 
/**
 * Sent to a kitchen station (fired, and the item has one).
 */
fired: boolean, price_overridden: boolean, 
/**
 * The override's price (the catalog price stands when `None`).
 */
price_override: number | null, 
/**
 * The modifiers chosen, as `(group, option)` keys of the item (for editing the line).
 */
modifier_keys: Array<ModifierKey>, 
/**
 * The course the line is fired in (1 first).
 */
course: number, 
/**
 * Still refundable (quantity) when the view is for a refund.
 */
refundable_qty: number | null, 
/**
 * The item tracks stock: only then can a refunded unit go back on the shelf.
 */
track_stock: boolean, };

export type SaleView = { id: string, status: string, ticket: string | null, receipt_no: string | null, currency: string, exponent: number, opened_at: number, closed_at: number | null, lines: Array<LineView>, 
/**
 * Guests at the table (0: not given).
 */
guests: number, 
/**
 * The course Fire sends next: the lowest with unfired kitchen lines.
 */
next_course: number | null, 
/**
 * Every course with unfired kitchen lines, lowest first (more than one: some are held).
 */
unfired_courses: Array<number>, order_discount: DiscountView | null, subtotal: number, line_discounts: number, order_discount_amount: number, taxes: Array<TaxView>, tax: number, total: number, paid: number, change: number, due: number, payments: Array<PaymentView>, has_unfired_kitchen_lines: boolean, };
