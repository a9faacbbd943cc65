import { call, type AppInfo, type PosError, type UserView } from "./api";

export type Screen = "pos" | "kds" | "back_office" | "shift" | "settings";

export interface Toast { id: number; kind: "error" | "ok" | "info"; text: string }

export const app = $state({
  info: null as AppInfo | null,
  user: null as UserView | null,
  screen: "pos" as Screen,
  toasts: [] as Toast[],
  busy: null as null | { label: string; progress: number | null },
});

let next = 1;
export function toast(text: string, kind: Toast["kind"] = "error", ms = 6000): void {
  const t = { id: next++, kind, text };
  app.toasts = [...app.toasts, t].slice(-3);
  setTimeout(() => (app.toasts = app.toasts.filter((x) => x.id !== t.id)), ms);
}

export function fail(e: unknown): PosError {
  const err = e as PosError;
  toast(err?.message ?? String(e), "error");
  if (err?.code === "NOT_LOGGED_IN") app.user = null;
  return err;
}

export function can(permission: string): boolean {
  return !!app.user?.permissions.includes(permission);
}

export async function refreshInfo(): Promise<void> {
  app.info = await call<AppInfo>("app_info");
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
