import { listen } from "@tauri-apps/api/event";
import { commands, type AppInfo, type Progress, type Mode, type PosError, type UserView } from "./api";

export type Screen = "pos" | "kds" | "back_office" | "shift" | "settings";

export interface Toast { id: number; kind: "error" | "ok" | "info"; text: string }

export const app = $state({
  info: null as AppInfo | null,
  user: null as UserView | null,
  screen: "pos" as Screen,
  toasts: [] as Toast[],
  busy: null as null | { label: string; progress: number | null },
  /** The pay dialog is open (a payment is under way): the idle lock waits (issue 17, defect 15). */
  paying: false,
});

/** Sales put on hold in this run of the app: they come back only from Tickets, never into the
 *  cart at a login (issue 17, defect 13). */
export const held = new Set<string>();

let next = 1;
/** At most two toasts at once (the newest), at the top left where they cover neither Pay, the
 *  total nor Bump (App.svelte). */
export const MAX_TOASTS = 2;
export function toast(text: string, kind: Toast["kind"] = "error", ms = 6000): void {
  const t = { id: next++, kind, text };
  app.toasts = [...app.toasts, t].slice(-MAX_TOASTS);
  setTimeout(() => (app.toasts = app.toasts.filter((x) => x.id !== t.id)), ms);
}

export function fail(e: unknown): PosError {
  const err = e as PosError;
  toast(err?.message ?? String(e), "error");
  if (err?.code === "NOT_LOGGED_IN") app.user = null;
  // Selling needs an open shift: take the cashier to the float count.
  if (err?.code === "NO_SHIFT") app.screen = "shift";
  return err;
}

export function can(permission: string): boolean {
  return !!app.user?.permissions.includes(permission);
}

/** Whether the tenant has a module (issue 13): what is off is hidden, not just disabled. */
export function has(module: string): boolean {
  return !app.info?.modules_off?.includes(module);
}

export async function refreshInfo(): Promise<void> {
  app.info = await commands.appInfo();
  app.user = app.info.user;
}

/** Runs long work behind a progress bar. */
export async function withProgress<T>(label: string, work: () => Promise<T>): Promise<T> {
  app.busy = { label, progress: null };
  try {
    return await work();
  } finally {
    app.busy = null;
  }
}

/** Imports the catalog from a CSV file's text, with a progress bar fed by the shell's
 *  `import-progress` events (items written / total). */
export async function importItems(csv: string): Promise<{ done: number; created: number; updated: number }> {
  app.busy = { label: "Checking the file…", progress: null };
  const seen: { done: number; total: number }[] = ((window as any).__posImportProgress = []); // for the e2e test
  const stop = await listen<{ done: number; total: number }>("import-progress", (e) => {
    const { done, total } = e.payload;
    seen.push({ done, total });
    app.busy = { label: `Importing items: ${done} of ${total}`, progress: total > 0 ? Math.min(1, done / total) : null };
  });
  try {
    return await commands.importItems(csv);
  } finally {
    stop();
    app.busy = null;
  }
}

/** Enrols (or with `reenrol`, re-enrols) this device, with a progress bar fed by the
 *  shell's `enrol-progress` events (documents downloaded / total). */
export async function enrolDevice(server: string, code: string, mode: Mode | null, reenrol = false): Promise<AppInfo> {
  app.busy = { label: "Enrolling with the server…", progress: null };
  const seen: Progress[] = ((window as any).__posEnrolProgress = []); // for the e2e test
  const stop = await listen<Progress>("enrol-progress", (e) => {
    const { done, total } = e.payload;
    seen.push({ done, total });
    app.busy = {
      label: total > 0 ? `Downloading the store: ${done} of ${total} documents` : "Downloading the store…",
      progress: total > 0 ? Math.min(1, done / total) : null,
    };
  });
  try {
    // A first enrolment names the mode; a re-enrolment keeps the device's.
    return reenrol || mode === null
      ? await commands.reenrolDevice(server.trim(), code.trim())
      : await commands.enrolDevice(server.trim(), code.trim(), mode);
  } finally {
    stop();
    app.busy = null;
  }
}
