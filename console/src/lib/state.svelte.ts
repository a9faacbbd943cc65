// What the whole console shares: who is logged in and the stores they may see.
import { report, type ReportStore, type Session } from "./client";

export const app = $state({
  session: null as Session | null,
  /** The stores the user may read reports of, with currency, zone and day start. */
  stores: [] as ReportStore[],
  /** A message for everyone (the session ended). */
  notice: "",
});

/** Loads the stores the user may see. The transfers report takes no range and answers its
 *  stores with their clocks, for any user with report.view somewhere (the store list needs it
 *  tenant-wide). */
export async function loadStores() {
  try {
    app.stores = (await report("transfers", { limit: 1 })).stores;
  } catch {
    app.stores = [];
  }
}

export function currencyOf(storeId: unknown): string | null {
  return app.stores.find((s) => s.store_id === storeId)?.currency ?? null;
}
