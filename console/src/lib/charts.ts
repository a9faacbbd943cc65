// What the charts show, from report pages. Money is never added across currencies: a chart
// takes the stores of the first store's currency (the table shows them all).
import type { ReportPage, ReportRow } from "./client";
import { addDays } from "./format";

export type ChartData = { labels: string[]; series: { label: string; values: (number | null)[] }[]; currency: string | null; note: string };

function sameCurrency(page: ReportPage): { rows: ReportRow[]; currency: string | null; note: string } {
  const currency = page.stores[0]?.currency ?? null;
  const ok = new Set(page.stores.filter((s) => s.currency === currency).map((s) => s.store_id));
  const rows = page.data.filter((r) => r.store_id === undefined || ok.has(String(r.store_id)));
  const note = ok.size < page.stores.length ? `Chart: stores in ${currency} only.` : "";
  return { rows, currency, note };
}

const num = (v: unknown) => (typeof v === "number" ? v : 0);

/** Every day of the page's range (at most 400), or the days that have rows. */
function daysOf(page: ReportPage, rows: ReportRow[]): string[] {
  const { from, to } = page.range;
  if (from && to) {
    const out: string[] = [];
    for (let d = from; d <= to && out.length < 400; d = addDays(d, 1)) out.push(d);
    return out;
  }
  return [...new Set(rows.map((r) => String(r.business_day)))].sort();
}

/** Net sales per business day of the range, one line per store. */
export function salesByDay(page: ReportPage): ChartData {
  const { rows, currency, note } = sameCurrency(page);
  const days = daysOf(page, rows);
  const stores = page.stores.filter((s) => s.currency === currency).map((s) => s.code);
  const series = stores.map((code) => ({
    label: code,
    values: days.map((d) => {
      const r = rows.find((r) => r.store_code === code && r.business_day === d);
      return r ? num(r.net_total) : 0;
    }),
  }));
  return { labels: days.map((d) => d.slice(5)), series, currency, note };
}

/** Sales total per local hour, all stores added up. */
export function salesByHour(page: ReportPage, metric = "sales_total"): ChartData {
  const { rows, currency, note } = sameCurrency(page);
  const by = new Map<number, number>();
  for (const r of rows) by.set(num(r.hour), (by.get(num(r.hour)) ?? 0) + num(r[metric]));
  if (by.size === 0) return { labels: [], series: [], currency, note };
  const hours = [...by.keys()];
  const lo = Math.min(...hours), hi = Math.max(...hours);
  const labels: string[] = [], values: number[] = [];
  for (let h = lo; h <= hi; h++) { labels.push(`${String(h).padStart(2, "0")}:00`); values.push(by.get(h) ?? 0); }
  return { labels, series: [{ label: "Sales", values }], currency, note };
}

/** One bar per store. */
export function byStore(page: ReportPage, metric = "net_total"): ChartData {
  const { rows, currency, note } = sameCurrency(page);
  return { labels: rows.map((r) => String(r.store_code)), series: [{ label: "Net sales", values: rows.map((r) => num(r[metric])) }], currency, note };
}

/** Net amount per tender over the range. */
export function tenderMix(page: ReportPage): ChartData {
  const { rows, currency, note } = sameCurrency(page);
  const by = new Map<string, number>();
  for (const r of rows) by.set(String(r.tender), (by.get(String(r.tender)) ?? 0) + num(r.net_amount));
  const labels = [...by.keys()].sort((a, b) => (by.get(b) ?? 0) - (by.get(a) ?? 0));
  return { labels, series: [{ label: "Net", values: labels.map((t) => by.get(t) ?? 0) }], currency, note };
}

/** The ten best sellers (item or category) by item sales. */
export function itemMix(page: ReportPage): ChartData {
  const key = page.columns.includes("category_id") ? "category" : "name";
  const top = [...page.data].sort((a, b) => num(b.item_sales) - num(a.item_sales)).slice(0, 10);
  return {
    labels: top.map((r) => String(r[key] ?? "")),
    series: [{ label: "Item sales", values: top.map((r) => num(r.item_sales)) }],
    currency: page.stores[0]?.currency ?? null,
    note: page.stores.some((s) => s.currency !== page.stores[0]?.currency) ? "Stores in several currencies: item sales are added up as they are." : "",
  };
}
