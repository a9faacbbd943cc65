// Typed wrappers over the Tauri commands. Every failure becomes a PosError with a code the
// screens can act on and a message a person can read.
import { invoke } from "@tauri-apps/api/core";

export interface PosError {
  code: string;
  message: string;
  details: Record<string, unknown> | null;
}

export function asPosError(e: unknown): PosError {
  if (e && typeof e === "object" && "code" in e && "message" in e) return e as PosError;
  const text = typeof e === "string" ? e : e instanceof Error ? e.message : JSON.stringify(e);
  return { code: "INTERNAL", message: `Unexpected problem: ${text}`, details: null };
}

export async function call<T>(cmd: string, args: Record<string, unknown> = {}): Promise<T> {
  try {
    return await invoke<T>(cmd, args);
  } catch (e) {
    throw asPosError(e);
  }
}

// The app's own views (what app_info and login answer) are generated from the Rust structs too.
export type { AppInfo, KdsSetup, Mode, UserView } from "./bindings";
export interface Staff { id: string; name: string; role: string }
export interface Category { id: string; name: string; color: string }
export interface ItemSummary {
  id: string; sku: string; name: string; category_id: string | null; price: number;
  currency: string; station: string | null; track_stock: boolean; barcodes: string;
}
// The sale's view types are generated from the Rust structs (apps/desktop/src/views.rs, ts-rs):
// a test fails when ./bindings.ts is not what they generate.
export type { DiscountView, LineView, ModifierKey, PaymentView, SaleView, TaxView } from "./bindings";
/** A line (or part of its quantity) moved to a new bill by `split_sale`. */
export interface LineMove { line_id: string; qty: number }
export interface SaleSummary {
  id: string; status: string; ticket: string | null; receipt_no: string | null; opened_at: number;
  closed_at: number | null; total: number; paid: number; line_count: number;
  /** Who opened it: a held sale is theirs (core lists it only for them and managers). */
  opened_by: string | null; opened_by_name: string | null;
}
export interface StockRow {
  item_id: string; sku: string; name: string; on_hand: number; low_stock_threshold: number;
  low_stock: boolean; oversold: boolean;
}
export interface SyncProblem { doc_type: string; doc_id: string; code: string; message: string; at: number }
export interface SyncStatus {
  state: "standalone" | "connecting" | "online" | "offline" | "not_syncing"; server: string | null; online: boolean;
  pending_changes: number; last_sync: number | null; error: PosError | null; retry_in_ms: number;
  /** Receipts queued for email, not yet handed to the server. */
  emails_pending: number;
  /** Refused changes, then refused receipt emails (`doc_type` "receipt_email"). */
  problems: SyncProblem[];
}
/** Answer of `email_receipt`. */
export interface EmailQueued { id: string; email: string; message: string }
/** Payload of the `enrol-progress` event: documents downloaded of the bootstrap's total. */
export interface EnrolProgress { done: number; total: number }
export interface PrinterStatusView {
  configured: boolean; target: string | null; problem: string | null; pending: number;
  status: { status: string; reason?: string } | null;
  last_job: { id: number; label: string; state: string; last_error: string | null } | null;
}
export interface ShiftReport {
  currency: string; opened_at: number; until: number; sales_count: number; gross_sales: number;
  discounts: number; sales_total: number; refunds_count: number; refunds_total: number;
  net_total: number; tenders: Record<string, number>; voids_count: number; float: number;
  paid_in: number; paid_out: number; no_sales: number; cash_sales: number; cash_refunds: number;
  expected_cash: number;
}
export interface ReportView {
  report: ShiftReport; number: number | null; counted_cash: number | null;
  over_short: number | null; z_id: string | null; text: string;
}
export interface TicketView {
  id: string; sale_id: string; station: string; ticket: string | null; course: number; status: string;
  fired_at: number; age_ms: number; bumped_at: number | null;
  /** "counter" or "table" (a table or tab); null on tickets written before it was kept. */
  order_type: "counter" | "table" | null;
  /** Who took the order (the sale's opener), when known. */
  server: string | null;
  /** Guests at the table when it was fired (0: not given). */
  guests: number;
  items: { line_id: string; name: string; qty: number; modifiers: string[]; note: string; bumped: boolean }[];
}
export interface Board {
  now: number; stations: string[]; tickets: TicketView[];
  all_day: Record<string, Record<string, number>>; last_bumped: string | null;
  /** Per station, its most recently bumped ticket (that column's "Recall last"). */
  last_bumped_by_station: Record<string, string>;
  /** Per station, its last ten bumped tickets, newest first (any can be recalled). */
  recent_bumped: Record<string, TicketView[]>;
  thresholds: { warn_after_s: number; late_after_s: number; station: string | null };
}
/** Answer of `refund_quote`: what the refund would give back, in all and per sale line. */
export interface RefundQuote { total: number; lines: Record<string, number> }
/** One order on the expo screen: its tickets of every station ("bumped" ones are done). */
export interface ExpoOrder {
  sale_id: string; ticket: string | null; order_type: "counter" | "table" | null; server: string | null;
  fired_at: number; done: number; tickets: TicketView[];
}
/** Answer of `kitchen_expo`: every order with a ticket still open, oldest first. */
export interface Expo { now: number; orders: ExpoOrder[] }
/** Answer of `count_sheet`: counted against expected per item, before posting. */
export interface CountSheet {
  id: string; posted: boolean;
  lines: { item_id: string; name: string; expected: number; counted: number; difference: number }[];
}
/** A row of `refunds_list`. */
export interface RefundSummary {
  id: string; receipt_no: string | null; sale_id: string | null; sale_receipt_no: string | null;
  created_at: number; total: number; reason: string | null; refunded_by: string | null; refunded_by_name: string | null;
}
