// Display and entry of money in integer minor units. No floats: amounts are strings of digits
// split at the decimal separator.
const SYMBOL: Record<string, string> = { EUR: "€", USD: "$", GBP: "£", CHF: "CHF " };

export function fmt(minor: number, currency = "EUR", exponent = 2): string {
  const neg = minor < 0;
  const digits = Math.abs(Math.trunc(minor)).toString().padStart(exponent + 1, "0");
  const whole = exponent ? digits.slice(0, -exponent) : digits;
  const frac = exponent ? "." + digits.slice(-exponent) : "";
  return `${neg ? "-" : ""}${SYMBOL[currency] ?? currency + " "}${whole}${frac}`;
}

/** "12.5" → 1250 (exponent 2). Returns null for anything that is not an amount. */
export function parseAmount(text: string, exponent = 2): number | null {
  const t = text.trim().replace(",", ".");
  const m = /^(\d{1,9})(?:\.(\d*))?$/.exec(t);
  if (!m) return null;
  const frac = (m[2] ?? "").slice(0, exponent + 1);
  if (frac.length > exponent) return null;
  return parseInt(m[1], 10) * 10 ** exponent + parseInt(frac.padEnd(exponent, "0") || "0", 10);
}

/** "12.5" % → 1250 basis points. */
export function parsePercent(text: string): number | null {
  const v = parseAmount(text, 2);
  return v === null || v > 10000 ? null : v;
}

export function pct(bp: number): string {
  return `${Math.trunc(bp / 100)}${bp % 100 ? "." + String(bp % 100).padStart(2, "0").replace(/0$/, "") : ""}%`;
}

/** The store's time zone (from `app_info`); times on screen are the store's, not the machine's. */
let storeZone: string | undefined;

export function setStoreZone(zone: string | null | undefined): void {
  try {
    // An unknown zone would make every format throw: keep the machine's then.
    if (zone) new Intl.DateTimeFormat([], { timeZone: zone });
    storeZone = zone ?? undefined;
  } catch {
    storeZone = undefined;
  }
}

export function clock(ms: number): string {
  return new Date(ms).toLocaleString([], { dateStyle: "short", timeStyle: "short", timeZone: storeZone });
}

/** `14:05:09`, in the store's zone. */
export function timeOfDay(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { timeZone: storeZone });
}

/** Date and time, in the store's zone. */
export function dateTime(ms: number): string {
  return new Date(ms).toLocaleString([], { timeZone: storeZone });
}

/** Minor units as an input value without symbol: 1250 → "12.50". */
export function toInput(minor: number, exponent = 2): string {
  return fmt(minor, "", exponent).replace(/^(-?) /, "$1").trim();
}
