// Presentation of report cells and store days. Money is formatted by the desktop UI's own
// module (ui/src/lib/money.ts, through the @ui alias), never copied.
import { fmt, pct } from "@ui/money";
import type { ReportRow, ReportStore } from "./client";

export { fmt, pct };

/** ISO 4217 exponents the console may meet (money.rs holds the full table). */
const EXPONENT: Record<string, number> = { JPY: 0, KRW: 0, ISK: 0, BHD: 3, KWD: 3, JOD: 3, OMR: 3, TND: 3 };
export const exponent = (currency: string | null | undefined) => EXPONENT[currency ?? ""] ?? 2;

export function money(minor: number, currency: string | null | undefined): string {
  return fmt(minor, currency ?? "", exponent(currency));
}

/** Columns in minor units of the row's store currency (docs/metrics.md). */
const MONEY = new Set([
  "gross_sales", "discounts", "sales_total", "refunds", "net_total", "tax", "net_ex_tax", "voids_value",
  "item_sales", "sales_amount", "refunds_amount", "net_amount", "net", "gross", "total", "float",
  "cash_expected", "cash_counted", "over_short", "unit_cost", "value_at_cost", "cash_sales", "cash_refunds",
  "paid_in", "paid_out",
]);
/** Columns in basis points. */
const BP = new Set(["share", "rate_bp", "discount_rate_bp", "void_rate_bp", "store_discount_rate_bp", "store_void_rate_bp"]);
/** Columns whose values are instants in ms. */
const TIME = new Set(["at", "closed_at", "opened_at", "taken_at", "sent_at", "created_at"]);
/** The Z reconciliation's rows carry their metric's unit in `metric`. */
const COUNT_METRICS = new Set(["sales_count", "refunds_count", "voids_count", "no_sales"]);

export function isMoney(column: string, row?: ReportRow): boolean {
  if (["master_value", "z_value", "difference"].includes(column) && row) {
    const m = String(row.metric ?? "");
    return !COUNT_METRICS.has(m);
  }
  return MONEY.has(column);
}
export const isNumeric = (column: string, v: unknown) => typeof v === "number" && !TIME.has(column);

/** Human column titles: `net_total` → "Net total". */
export function title(column: string): string {
  const t = column.replace(/_bp$/, "").replace(/_/g, " ");
  return t.charAt(0).toUpperCase() + t.slice(1);
}

/** Id columns hidden on screen (the CSV keeps them) when the row also names the thing. */
export function visibleColumns(columns: string[]): string[] {
  const hide = new Set<string>();
  if (columns.includes("store_code")) hide.add("store_id");
  if (columns.includes("name") || columns.includes("sku")) hide.add("item_id");
  if (columns.includes("category")) hide.add("category_id");
  if (columns.includes("cashier")) hide.add("cashier_id");
  for (const c of ["device_id", "doc_id", "sale_id", "shift_id", "transfer_id", "to_store_id"]) if (columns.includes(c)) hide.add(c);
  return columns.filter((c) => !hide.has(c));
}

export function cell(column: string, row: ReportRow, currencyOf: (row: ReportRow) => string | null | undefined): string {
  const v = row[column];
  if (v === null || v === undefined) return "";
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (typeof v === "number") {
    if (isMoney(column, row)) return money(v, currencyOf(row));
    if (BP.has(column)) return pct(v);
    if (TIME.has(column)) return new Date(v).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
    return v.toLocaleString("en");
  }
  return v;
}

export function when(ms: number | null | undefined): string {
  return ms ? new Date(ms).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "never";
}

/** `YYYY-MM-DD` of a date in the local calendar of the browser. */
export function isoDay(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
}

export function addDays(day: string, n: number): string {
  const [y, m, d] = day.split("-").map(Number);
  const t = new Date(Date.UTC(y, m - 1, d + n));
  return t.toISOString().slice(0, 10);
}

/** The business day a store is in now: its zone's wall clock, less its day start (a bar whose
 *  day starts at 04:00 is still in yesterday at 02:30). The server counts days by the same rule
 *  (pos_core::calendar); this only picks the default range. */
export function businessDay(store: Pick<ReportStore, "time_zone" | "business_day_start">, now = new Date()): string {
  let parts: Record<string, string> = {};
  try {
    const f = new Intl.DateTimeFormat("en-CA", {
      timeZone: store.time_zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    });
    parts = Object.fromEntries(f.formatToParts(now).map((p) => [p.type, p.value]));
  } catch {
    return now.toISOString().slice(0, 10);
  }
  const day = `${parts.year}-${parts.month}-${parts.day}`;
  const [sh, sm] = store.business_day_start.split(":").map(Number);
  const minutes = Number(parts.hour) * 60 + Number(parts.minute);
  return minutes < sh * 60 + sm ? addDays(day, -1) : day;
}
