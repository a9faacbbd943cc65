// Generated from apps/desktop/src/views.rs by ts-rs: do not edit. Rewrite it with
// POS_UPDATE_BINDINGS=1 cargo test -p pos-desktop --lib bindings

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
