#!/usr/bin/env node
// End-to-end test of the head-office console in real Chromium (Debian's chromium and
// chromedriver, headless) against the real pos-sync-server binary with its own PostgreSQL
// cluster in a temporary folder. Run by ./test.sh after `cargo test --workspace` built the
// server (with console/dist embedded) and the `sell` example:
//
//   node console/e2e/run.mjs [<pos-sync-server binary>]
//
// Head office sets up a tenant with two stores over the admin API; then, in the browser, at
// 1280×800 and mostly by keyboard: log in (Enter submits), issue a till's enrolment code (text
// and QR code; Escape closes the dialog), a till enrols with that code and sells one known sale
// through the sync engine (tests/examples/sell.rs), the dashboard shows the sale with the
// device's freshness, the sales summary's CSV is downloaded and its row checked, users, the
// catalog (publish, a refused CSV import naming its lines, a good one) and the audit log. On
// every screen: no horizontal scrolling, no Content-Security-Policy violation, no token in
// localStorage or sessionStorage; a reload keeps the session (the refresh cookie). Screenshots
// go to artifacts/screenshots/console-*.png; the first load's Navigation Timing is printed.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { freePort, HeadOffice, nextCode, rememberSecondFactor, Session, sleep, startSyncServer, totp } from "../../apps/desktop/e2e/webdriver.mjs";

const started = Date.now();
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const targetDir = path.resolve(root, process.env.CARGO_TARGET_DIR ?? "target");
const serverBin = path.resolve(process.argv[2] ?? process.env.POS_SYNC_SERVER_BIN ?? path.join(targetDir, "debug", "pos-sync-server"));
const sellBin = path.resolve(process.env.POS_SELL_BIN ?? path.join(path.dirname(serverBin), "examples", "sell"));
const shots = path.join(root, "artifacts", "screenshots");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pos-console-e2e-"));
const downloads = path.join(tmp, "downloads");
fs.mkdirSync(downloads, { recursive: true });
for (const [what, f] of [["pos-sync-server", serverBin], ["sell example", sellBin]]) {
  if (!fs.existsSync(f)) {
    console.error(`${what} not found at ${f}: run cargo test --workspace (or set POS_SYNC_SERVER_BIN / POS_SELL_BIN)`);
    process.exit(2);
  }
}

const cleanups = [];
function cleanup() { for (const f of cleanups.splice(0).reverse()) { try { f(); } catch { /* best effort */ } } }
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => { cleanup(); process.exit(130); });

function assert(cond, msg) { if (!cond) throw new Error(`assertion failed: ${msg}`); }
const step = (msg) => console.log(`  ${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s  ${msg}`);

/** chromedriver on a free port of 127.0.0.1. */
async function startChromedriver() {
  const port = await freePort();
  const bin = process.env.CHROMEDRIVER ?? (fs.existsSync("/usr/bin/chromedriver") ? "/usr/bin/chromedriver" : "chromedriver");
  const proc = spawn(bin, [`--port=${port}`, "--allowed-ips=127.0.0.1"], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stdout.on("data", (d) => (log += d));
  proc.stderr.on("data", (d) => (log += d));
  cleanups.push(() => proc.kill("SIGKILL"));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`chromedriver exited: ${log}`);
    try { const r = await fetch(`${url}/status`); if (r.ok) return url; } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`chromedriver did not start: ${log}`);
}

/** A headless Chromium session through the shared WebDriver client (apps/desktop/e2e). */
async function chromium(driverUrl) {
  const r = await fetch(`${driverUrl}/session`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      capabilities: {
        alwaysMatch: {
          browserName: "chrome",
          "goog:chromeOptions": {
            binary: process.env.CHROMIUM ?? "/usr/bin/chromium",
            args: ["--headless=new", "--window-size=1280,800", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--no-first-run", "--disable-extensions", "--force-device-scale-factor=1", "--lang=en-GB"],
            prefs: { "download.default_directory": downloads, "download.prompt_for_download": false },
          },
          "goog:loggingPrefs": { browser: "ALL" },
        },
      },
    }),
  });
  const j = await r.json();
  if (!r.ok || !j.value?.sessionId) throw new Error(`no Chromium session: ${JSON.stringify(j).slice(0, 500)}`);
  const s = new Session(driverUrl, j.value.sessionId, tmp);
  // A 1280×800 viewport: the window's frame (if any) comes on top.
  const inner = await s.exec("return [innerWidth, innerHeight];");
  if (inner[0] !== 1280 || inner[1] !== 800) {
    const rect = await s.cmd("GET", "/window/rect");
    await s.cmd("POST", "/window/rect", { width: rect.width + 1280 - inner[0], height: rect.height + 800 - inner[1] });
  }
  cleanups.push(() => { spawnSync(process.execPath, ["-e", `fetch(${JSON.stringify(`${driverUrl}/session/${s.id}`)}, {method: "DELETE"}).catch(() => {})`], { timeout: 5000 }); });
  return s;
}

/** Sends keys to the focused element (Enter, Escape, Tab...). */
async function press(s, keys) {
  const actions = [...keys].flatMap((k) => [{ type: "keyDown", value: k }, { type: "keyUp", value: k }]);
  await s.cmd("POST", "/actions", { actions: [{ type: "key", id: "kb", actions }] });
  await s.cmd("DELETE", "/actions");
}
const ENTER = "\uE007", ESCAPE = "\uE00C", TAB = "\uE004";

/** What every screen must hold to: no horizontal scroll at 1280×800, no token in storage, no
 *  CSP violation in the browser's log. */
async function checkScreen(s, name) {
  const m = await s.exec(`return { sw: document.documentElement.scrollWidth, w: innerWidth, h: innerHeight,
    ls: localStorage.length, ss: sessionStorage.length };`);
  assert(m.w === 1280 && m.h === 800, `${name}: the viewport is 1280×800 (${m.w}x${m.h})`);
  assert(m.sw <= m.w, `${name}: no horizontal scrolling at 1280×800 (page ${m.sw} px wide)`);
  assert(m.ls === 0 && m.ss === 0, `${name}: nothing in localStorage (${m.ls}) or sessionStorage (${m.ss})`);
  const log = await s.cmd("POST", "/se/log", { type: "browser" }).catch(() => []);
  const csp = log.filter((e) => /Content Security Policy|Refused to/i.test(e.message));
  assert(csp.length === 0, `${name}: CSP violations: ${csp.map((e) => e.message).join(" | ")}`);
  const errors = log.filter((e) => e.level === "SEVERE" && !/favicon/.test(e.message) && !/the server responded with a status of 4\d\d/.test(e.message));
  assert(errors.length === 0, `${name}: browser errors: ${errors.map((e) => e.message).join(" | ")}`);
}

async function shot(s, name) {
  await sleep(150); // charts draw on the next frame
  await checkScreen(s, name);
  return s.screenshot(shots, `console-${name}`);
}

async function navTo(s, testid, heading) {
  await s.click(`[data-testid="${testid}"]`);
  await s.waitText("main h1", heading);
}

async function waitFile(dir, re, timeout = 10000) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    const f = fs.readdirSync(dir).find((f) => re.test(f) && !f.endsWith(".crdownload"));
    if (f) return path.join(dir, f);
    await sleep(100);
  }
  throw new Error(`no download matching ${re} in ${dir}: ${fs.readdirSync(dir)}`);
}

const admin = { email: "root@platform.test", password: "correct horse battery staple" };
const owner = { email: "owner@cafe-nord.test", password: "a long owner password" };

async function main() {
  step(`server ${serverBin}`);
  // Reports read through --replica-database-url, here pointed at the master itself (a real
  // standby is the server suite's replica.rs): the console must say where its figures come from.
  const pgPort = await freePort();
  const server = await startSyncServer(serverBin, path.join(tmp, "server"), admin, [
    "--pg-port", String(pgPort), "--replica-database-url", `postgres://postgres@127.0.0.1:${pgPort}/postgres`,
    // The server's default: owners, admins and the superadmin log in with a TOTP code (issue 13).
    "--admin-2fa", "required",
  ]);
  cleanups.push(() => server.killNow());
  step(`server ready at ${server.url}`);

  // Head office's setup over the admin API.
  const platform = await HeadOffice.login(server.url, admin.email, admin.password);
  await platform.req("POST", "/v1/admin/tenants", { name: "Café Nord", owner_email: owner.email, owner_name: "Olivia Owner", owner_password: owner.password });
  const ho = await HeadOffice.login(server.url, owner.email, owner.password);
  const store = (code, name, zone) => ho.req("POST", "/v1/admin/stores", {
    code, name, currency: "EUR", tax_mode: "Inclusive", tax_rates: { standard: 1900, reduced: 700 },
    discount_threshold_bp: 2000, time_zone: zone, business_day_start: "04:00",
  });
  const s1 = (await store("S01", "Café Nord Hafen", "Europe/Berlin")).store_id;
  await store("S02", "Café Nord Altstadt", "Europe/Berlin");
  for (const [sku, name, price, tax] of [["LAT", "Latte", 350, "standard"], ["MUF", "Blueberry muffin", 280, "reduced"], ["ESP", "Espresso", 220, "standard"]]) {
    await ho.req("POST", "/v1/admin/items", { sku, name, currency: "EUR", price, tax_class: tax });
  }
  const maria = await ho.staff(s1, "Maria", "manager", "2222");
  step("tenant, two stores, three items and a manager set up over the admin API (superadmin and owner enrolled TOTP)");

  const driver = await startChromedriver();
  const s = await chromium(driver);
  step("Chromium started (headless, 1280×800)");

  // First load: the login page. Navigation Timing of a cold load (empty cache).
  await s.cmd("POST", "/url", { url: `${server.url}/` });
  await s.find('[data-testid="login-form"]', 15000);
  const timing = await s.exec(`const n = performance.getEntriesByType("navigation")[0];
    const res = performance.getEntriesByType("resource").filter((r) => r.name.includes("/assets/"));
    return { ttfb: n.responseStart, dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd,
      mounted: window.__consoleMounted ?? null, assets: res.map((r) => [r.name.split("/").pop(), r.encodedBodySize, Math.round(r.duration)]) };`);
  step(`first load: TTFB ${timing.ttfb.toFixed(1)} ms, DOMContentLoaded ${timing.dcl.toFixed(1)} ms, load ${timing.load.toFixed(1)} ms, app mounted at ${timing.mounted?.toFixed(1)} ms; assets ${JSON.stringify(timing.assets)}`);
  assert(timing.load > 0 && timing.load < 10000, `the first load finished (${timing.load} ms)`);
  const gz = fs.readdirSync(path.join(root, "console", "dist", "assets")).filter((f) => f.endsWith(".js"))
    .reduce((n, f) => n + zlib.gzipSync(fs.readFileSync(path.join(root, "console", "dist", "assets", f)), { level: 9 }).length, 0);
  step(`console JavaScript ${(gz / 1024).toFixed(1)} KB gzipped (budget 150 KB)`);
  assert(gz <= 150 * 1024, `JavaScript ${gz} bytes gzipped is over 150 KB`);
  const csp = await s.execAsync(`const done = arguments[arguments.length - 1];
    fetch("/").then((r) => done(r.headers.get("content-security-policy")));`);
  assert(/default-src 'self'/.test(csp) && !/unsafe-inline/.test(csp), `strict CSP on the page: ${csp}`);
  await shot(s, "login");

  // Log in with the keyboard: type, Enter submits; then the authenticator's code (the owner
  // has two-factor login on), which takes focus.
  await s.type('[data-testid="login-email"]', owner.email);
  await s.type('[data-testid="login-password"]', owner.password + ENTER);
  await s.find('[data-testid="login-code"]', 15000);
  assert(await s.exec(`return document.activeElement?.dataset.testid === "login-code";`), "the code field takes focus");
  await shot(s, "login-second-factor");
  await s.type('[data-testid="login-code"]', "000000" + ENTER); // wrong (one chance in a million)
  await s.waitText('[data-testid="login-error"]', /wrong|used/i);
  await s.type('[data-testid="login-code"]', nextCode(owner.email) + ENTER);
  await s.find('[data-testid="store-card-S01"]', 15000);
  await s.waitText("main h1", /Today/);
  step("logged in with Enter and a TOTP code (a wrong code first refused); the dashboard shows both stores");

  // Stores & devices: a till's enrolment code, as text and as a QR code.
  await navTo(s, "nav-stores", /Stores/);
  await s.click('[data-testid="issue-till-S01"]');
  const code = (await s.waitText('[data-testid="enrolment-code"]', /^[A-Z2-9]{5}-[A-Z2-9]{5}$/)).trim();
  const qr = await s.exec(`const p = document.querySelector('[data-testid="qr"] path'); return p ? p.getAttribute("d").length : 0;`);
  assert(qr > 500, `the QR code is drawn (${qr} chars of path)`);
  const focusInDialog = await s.exec(`return !!document.activeElement?.closest("dialog[open]");`);
  assert(focusInDialog, "the dialog took focus");
  await shot(s, "stores-enrolment-code");
  await press(s, ESCAPE);
  await sleep(100);
  assert(await s.exec(`return !document.querySelector('[data-testid="code-dialog"]').open;`), "Escape closes the dialog");
  step(`enrolment code ${code} issued (text and QR code); Escape closed the dialog`);

  // A till enrols with that code and sells one known sale through the sync engine.
  const sold = spawnSync(sellBin, ["--server", server.url, "--code", code, "--user", maria, "--dir", path.join(tmp, "till"),
    "--item", "LAT:2", "--item", "MUF:1"], { encoding: "utf8", timeout: 60000 });
  assert(sold.status === 0, `the till sold: ${sold.stderr?.slice(-2000)}`);
  const sale = JSON.parse(sold.stdout.trim().split("\n").pop());
  assert(sale.total === 2 * 350 + 280, `the sale's total: ${JSON.stringify(sale)}`);
  step(`the till enrolled, sold ${sale.receipt_no} for ${sale.total} and synced`);

  // The device shows up, and can be revoked after a confirm (Cancel first: nothing happens).
  await navTo(s, "nav-dashboard", /Today/);
  await navTo(s, "nav-stores", /Stores/);
  await s.find('[data-testid="device-T1"]');
  await s.click('[data-testid="issue-kitchen-S01"]');
  await s.waitText('[data-testid="enrolment-code"]', /^[A-Z2-9]{5}-[A-Z2-9]{5}$/);
  await shot(s, "stores");
  await s.click('[data-testid="code-done"]');

  // The dashboard: the sale, and the device's freshness.
  await navTo(s, "nav-dashboard", /Today/);
  await s.waitText('[data-testid="today-count-S01"]', /^1$/, 15000);
  await s.waitText('[data-testid="replica-lag"]', /replica/);
  const net = await s.text('[data-testid="today-net-S01"]');
  assert(net === "€9.80", `today's net sales of S01: ${net}`);
  const fresh = await s.text('[data-testid="freshness-T1"]');
  assert(!/stale/.test(fresh), `the till's data is fresh: ${fresh}`);
  await s.find('[data-testid="chart-hours"] canvas');
  await shot(s, "dashboard");
  step(`the dashboard shows the sale (${net}) and the till's freshness (${fresh.replace(/\s+/g, " ")})`);

  // The sales summary: chart, table, CSV.
  await navTo(s, "nav-report-sales-summary", /Sales summary/);
  await s.find('[data-testid="report-table"] tbody tr');
  await s.find('[data-testid="report-chart"] canvas');
  await shot(s, "sales-summary");
  await s.click('[data-testid="download-csv"]');
  const csvFile = await waitFile(downloads, /^sales-summary-.*\.csv$/);
  const lines = fs.readFileSync(csvFile, "utf8").trim().split(/\r?\n/).map((l) => l.split(","));
  const head = lines[0];
  const rows = lines.slice(1).map((r) => Object.fromEntries(head.map((h, i) => [h, r[i]])));
  const mine = rows.filter((r) => r.store_code === "S01" && Number(r.sales_count) > 0);
  assert(mine.length === 1 && mine[0].sales_total === String(sale.total) && mine[0].tax === String(sale.tax),
    `the CSV has the sale: ${JSON.stringify(rows)}`);
  step(`CSV ${path.basename(csvFile)}: ${rows.length} rows, S01 ${mine[0].business_day}: ${mine[0].sales_count} sale, ${mine[0].sales_total} total, ${mine[0].tax} tax`);
  for (const [r, title] of [["tenders", /Tenders/], ["items", /Items/]]) {
    await navTo(s, `nav-report-${r}`, title);
    await s.find('[data-testid="report-table"] tbody tr');
    await s.find('[data-testid="report-chart"] canvas');
    await shot(s, `report-${r}`);
  }
  step("tender mix and item mix charted");

  // Users: create one, grant a role in a store, set a PIN (dialog, Enter submits).
  await navTo(s, "nav-users", /Users/);
  await s.type('[data-testid="user-name"]', "Carl");
  await s.click('[data-testid="user-create"]');
  await s.waitText('[data-testid="users-status"]', /Created Carl/);
  await s.click('[data-testid="grant-Carl"]');
  await s.waitText('[data-testid="users-status"]', /Carl is now cashier in S01/);
  await s.click('[data-testid="pin-Carl"]');
  await s.type('[data-testid="pin-input"]', "3333" + ENTER);
  await s.waitText('[data-testid="users-status"]', /PIN set for Carl/);
  await shot(s, "users");
  step("user created, granted cashier in S01, PIN set");

  // Catalog: publish, a CSV refused naming its lines, then a good one.
  await navTo(s, "nav-catalog", /Catalog/);
  await s.type('[data-testid="item-sku"]', "TEA");
  await s.type('[data-testid="item-name"]', "Green tea");
  await s.type('[data-testid="item-price"]', "2.60");
  await s.type('[data-testid="item-tax"]', "", { clear: true });
  await s.type('[data-testid="item-tax"]', "standard" + ENTER);
  await s.waitText('[data-testid="catalog-status"]', /Published Green tea/);
  const bad = path.join(tmp, "bad.csv");
  fs.writeFileSync(bad, "sku,name,price,tax_class\nCAK,Cake,4.00,standard\nBRO,,3.00,standard\nPIE,Pie,abc,standard\n");
  await s.upload('[data-testid="import-file"]', bad);
  const errs = await s.waitText('[data-testid="import-errors"]', /Line 3.*\n?.*Line 4/s);
  step(`a bad CSV is refused whole: ${errs.replace(/\n/g, "; ")}`);
  const good = path.join(tmp, "good.csv");
  fs.writeFileSync(good, "sku,name,price,tax_class\nCAK,Cheesecake,4.20,standard\nBRO,Brownie,3.10,reduced\n");
  await s.upload('[data-testid="import-file"]', good);
  await s.waitText('[data-testid="catalog-status"]', /2 new, 0 changed/);
  await s.click('[data-testid="prices-LAT"]');
  await s.type('[data-testid="price-store-S02"]', "3.70" + ENTER);
  await s.waitText('[data-testid="catalog-status"]', /Prices of Latte saved/);
  await shot(s, "catalog");
  step("item published, CSV imported (2 new), a store price set");

  // The audit log; then a reload keeps the session (refresh cookie), with nothing in storage.
  await navTo(s, "nav-audit", /Audit/);
  await s.waitText('[data-testid="audit-table"]', /catalog\.import/);
  await shot(s, "audit");
  await s.cmd("POST", "/refresh", {});
  await s.waitText("main h1", /Audit/, 15000);
  await s.waitText('[data-testid="audit-table"]', /auth\.login/);
  await checkScreen(s, "audit-after-reload");
  const cookies = await s.cmd("GET", "/cookie");
  const refresh = cookies.find((c) => c.name === "pos_refresh");
  assert(!refresh, "the refresh cookie is not visible at / (Path=/v1/auth/console)");
  const readable = await s.exec("return document.cookie;");
  assert(!/pos_refresh/.test(readable), `page scripts cannot read the refresh token: ${readable}`);
  step("a reload kept the session through the refresh cookie; no token in storage");

  // Keyboard: Tab reaches the navigation's links with a visible focus ring.
  await s.cmd("POST", "/url", { url: `${server.url}/emails` });
  await s.waitText("main h1", /Receipt emails/, 15000);
  await press(s, TAB);
  const focus = await s.exec(`const a = document.activeElement; const st = getComputedStyle(a);
    return { tag: a.tagName, text: a.textContent.trim(), outline: st.outlineStyle, width: st.outlineWidth };`);
  assert(focus.tag === "A" && focus.outline !== "none", `Tab focuses a link with a visible outline: ${JSON.stringify(focus)}`);
  await shot(s, "emails");

  // Revoking a device takes a confirm: Cancel leaves it, Revoke (Enter) revokes it.
  await navTo(s, "nav-stores", /Stores/);
  await s.click('[data-testid="revoke-T1"]');
  await s.click('[data-testid="revoke-dialog"] button[type="button"]');
  await s.waitText('[data-testid="device-T1"]', /active/);
  await s.click('[data-testid="revoke-T1"]');
  await s.find('[data-testid="revoke-confirm"]');
  assert(await s.exec(`return !!document.activeElement?.closest("dialog[open]");`), "the confirm took focus");
  await s.type('[data-testid="revoke-confirm"]', ENTER);
  await s.waitText('[data-testid="device-T1"]', /revoked/);
  step("a device revoked after its confirm (Cancel first left it active)");

  await s.click('[data-testid="logout"]');
  await s.find('[data-testid="login-form"]');
  await s.cmd("POST", "/refresh", {});
  await s.find('[data-testid="login-form"]', 15000);
  step("logged out: a reload shows the login");

  // An admin without two-factor login can only enrol: QR code and key, a first code, ten
  // recovery codes; then the console opens. A recovery code logs in once.
  const adam = { email: "adam@cafe-nord.test", password: "adam's long password" };
  const { user_id: adamId } = await ho.req("POST", "/v1/admin/users", { name: "Adam Admin", email: adam.email, password: adam.password });
  await ho.req("POST", `/v1/admin/users/${adamId}/memberships`, { role: "admin" });
  await s.type('[data-testid="login-email"]', adam.email);
  await s.type('[data-testid="login-password"]', adam.password + ENTER);
  await s.find('[data-testid="enrol-form"]', 15000);
  const secret = (await s.waitText('[data-testid="enrol-secret"]', /^[A-Z2-7]{16,}$/)).trim();
  const qrDrawn = await s.exec(`const p = document.querySelector('[data-testid="enrol-form"] [data-testid="qr"] path'); return p ? p.getAttribute("d").length : 0;`);
  assert(qrDrawn > 500, `the enrolment QR code is drawn (${qrDrawn})`);
  assert((await s.count('[data-testid="nav-dashboard"]')) === 0, "nothing but enrolment before two-factor is on");
  await shot(s, "enrol-second-factor");
  rememberSecondFactor(adam.email, secret);
  await s.type('[data-testid="enrol-code"]', totp(secret, Math.floor(Date.now() / 30000)) + ENTER);
  await s.find('[data-testid="recovery-codes"]', 15000);
  const recovery = await s.exec(`return [...document.querySelectorAll('[data-testid="recovery-code"]')].map((c) => c.textContent);`);
  assert(recovery.length === 10 && recovery.every((c) => /^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/.test(c)), `ten recovery codes: ${recovery}`);
  await s.click('[data-testid="enrol-done"]');
  await s.find('[data-testid="store-card-S01"]', 15000);
  await s.click('[data-testid="logout"]');
  await s.find('[data-testid="login-form"]');
  await s.type('[data-testid="login-email"]', adam.email);
  await s.type('[data-testid="login-password"]', adam.password + ENTER);
  await s.click('[data-testid="login-use-recovery"]');
  await s.type('[data-testid="login-recovery"]', recovery[0].toLowerCase() + ENTER);
  await s.find('[data-testid="store-card-S01"]', 15000);
  step("an admin enrolled TOTP in the console (QR, first code, ten recovery codes) and logged in again with a recovery code");

  await s.quit();
  await server.stop();
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`console e2e: first load ${timing.load.toFixed(0)} ms (DOMContentLoaded ${timing.dcl.toFixed(0)} ms), JS ${(gz / 1024).toFixed(1)} KB gzipped, ${secs} s in all`);
  console.log("1 passed, 0 failed");
}

main().then(() => { cleanup(); process.exit(0); }, (e) => {
  console.error(e.stack ?? e);
  console.log("0 passed, 1 failed");
  cleanup();
  process.exit(1);
});
