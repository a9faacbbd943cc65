#!/usr/bin/env node
// End-to-end tests of the built app (WebKitWebDriver through tauri-driver), run under Xvfb by
// ./test.sh:  node apps/desktop/e2e/run.mjs <path to the pos-desktop binary built with custom-protocol>
//
// (a) a cashier logs in with a PIN, scans two items, applies a discount, pays split cash + card,
//     and the receipt reaches a fake TCP printer with the right total;
// (b) a count in back office changes the stock level shown on the POS;
// (c) the app is killed mid-sale and restarted, and the sale is still there.
// (d) PENDING (needs the sync server and the device sync engine): a fired order appears on a
//     second instance in KDS mode and is bumped there. Not faked here.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { appPids, demoBarcode, fakePrinter, Session, sleep, startDriver } from "./webdriver.mjs";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../..");
const app = path.resolve(process.argv[2] ?? process.env.POS_DESKTOP_BIN ?? "");
if (!app || !fs.existsSync(app)) {
  console.error(`usage: run.mjs <pos-desktop binary>; not found: ${app}`);
  process.exit(2);
}
const shots = path.join(root, "artifacts", "screenshots");
const only = process.env.E2E_ONLY?.split(",");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "pos-e2e-"));

const LATTE = demoBarcode(2); // 3.50
const CROISSANT = demoBarcode(5); // 2.50
const BURGER = demoBarcode(7);
const FRIES = demoBarcode(9);

async function setUpDemo(s, mode = "pos") {
  await s.find('[data-testid="first-run"]', 20000);
  await s.click(`[data-testid="mode-${mode}"]`);
  await s.click('[data-testid="start-demo"]');
  await s.find('[data-testid="login"]', 30000);
}

async function login(s, role, pin) {
  await s.find('[data-testid="login"]', 15000);
  await s.click(`[data-testid="user-${role}"]`);
  await s.keys(pin, '[data-testid="pin"] ');
  await s.click('[data-testid="pin-enter"]');
  await s.find('[data-testid="current-user"]', 15000);
}

async function lock(s) {
  await s.click('[data-testid="lock-btn"]');
  await s.find('[data-testid="login"]');
}

async function scan(s, code) {
  const before = await s.count('[data-testid="cart-line"]');
  await s.type('[data-testid="scan-input"]', `${code}\uE007`);
  return before;
}

function assert(cond, msg) { if (!cond) throw new Error(`assertion failed: ${msg}`); }

const tests = {
  async a_cashier_sale_split_tender_receipt_to_tcp_printer(driver) {
    const dir = path.join(tmp, "a");
    const printer = await fakePrinter();
    const s = await Session.start(driver.url, app, dir);
    try {
      await s.setWindow(1280, 800);
      await s.find('[data-testid="first-run"]', 20000);
      await s.screenshot(shots, "01-first-run");
      await setUpDemo(s, "pos");
      await s.screenshot(shots, "02-login");
      // A wrong PIN is a message, not a login.
      await s.click('[data-testid="user-cashier"]');
      await s.keys("0000", '[data-testid="pin"] ');
      await s.click('[data-testid="pin-enter"]');
      await s.waitText('[data-testid="login-error"]', /Wrong PIN\. 4 attempt/);
      // The manager sets up the receipt printer (TCP), then locks.
      await login(s, "manager", "2222");
      await s.click('[data-testid="nav-settings"]');
      await s.click('[data-testid="printer-kind-tcp"]');
      await s.type('[data-testid="printer-host"]', "127.0.0.1", { clear: true });
      await s.type('[data-testid="printer-port"]', String(printer.port), { clear: true });
      await s.click('[data-testid="save-printer"]');
      await s.waitText('[data-testid="printer-indicator"]', /Printer ready/, 15000);
      await s.screenshot(shots, "07-settings");
      await lock(s);
      // The cashier sells.
      await login(s, "cashier", "3333");
      await s.find('[data-testid="pos"]');
      await scan(s, LATTE);
      await s.waitText('[data-testid="scan-message"]', /Added Latte/);
      await scan(s, CROISSANT);
      await s.waitText('[data-testid="sale-total"]', /6\.00/);
      assert((await s.count('[data-testid="cart-line"]')) === 2, "two lines");
      await scan(s, "12345678");
      await s.waitText('[data-testid="scan-message"]', /Unknown barcode 12345678/);
      // 10 % off the order (within the cashier's threshold).
      await s.click('[data-testid="order-discount-btn"]');
      await s.type('[data-testid="disc-value"]', "10");
      await s.click('[data-testid="disc-apply"]');
      await s.waitText('[data-testid="sale-total"]', /5\.40/);
      await s.screenshot(shots, "03-pos-sell");
      // Split: 2.00 on card, the rest in cash with change.
      await s.click('[data-testid="pay-btn"]');
      await s.click('[data-testid="tender-card"]');
      await s.type('[data-testid="pay-amount"]', "2.00", { clear: true });
      await s.type('[data-testid="card-ref"]', "AUTH42");
      await s.click('[data-testid="pay-take"]');
      await s.waitText('[data-testid="pay-due"]', /3\.40/);
      await s.click('[data-testid="tender-cash"]');
      await s.type('[data-testid="pay-amount"]', "5.00", { clear: true });
      await s.screenshot(shots, "04-payment");
      await s.click('[data-testid="pay-take"]');
      await s.waitText('[data-testid="change-due"]', /1\.60/);
      const receiptNo = (await s.text('[data-testid="receipt-no"]')).match(/S01-T1-\d+/)?.[0];
      assert(receiptNo, "receipt number shown");
      await s.waitText('[data-testid="receipt-preview"]', /5\.40 EUR/);
      await s.screenshot(shots, "05-receipt");
      // The receipt reaches the printer, with the right total, and the drawer opens.
      const end = Date.now() + 15000;
      let bytes = Buffer.alloc(0);
      while (Date.now() < end) {
        bytes = printer.bytes();
        if (bytes.includes(receiptNo) && bytes.includes(Buffer.from([0x1b, 0x70]))) break;
        await sleep(100);
      }
      const text = bytes.toString("latin1");
      assert(text.includes(receiptNo), `printer got receipt ${receiptNo}`);
      assert(/TOTAL\s+5\.40 EUR/.test(text), `printer got TOTAL 5.40 EUR: ${JSON.stringify(text.slice(0, 2000))}`);
      assert(text.includes("Card AUTH42") && text.includes("1.60 EUR"), "tenders and change printed");
      assert(bytes.includes(Buffer.from([0x1b, 0x70, 0x00])), "drawer pulse ESC p 0 sent");
      fs.mkdirSync(path.join(root, "artifacts"), { recursive: true });
      fs.writeFileSync(path.join(root, "artifacts", "printer-a.bin"), bytes);
      await s.click('[data-testid="new-sale-btn"]');
      // Kitchen and shift screens, for the record.
      await scan(s, BURGER);
      await scan(s, FRIES);
      await s.waitText('[data-testid="sale-total"]', /17\.40/);
      await s.click('[data-testid="fire-btn"]');
      await s.find('[data-testid="toast-ok"]');
      await s.click('[data-testid="nav-kds"]');
      await s.find('[data-testid="kds-ticket"]');
      await s.waitText('[data-testid="all-day"]', /1× Cheeseburger/);
      await s.screenshot(shots, "08-kds");
      await s.click('[data-testid="nav-shift"]');
      await s.type('[data-testid="float-input"]', "150.00", { clear: true });
      await s.click('[data-testid="open-shift-btn"]');
      await s.click('[data-testid="x-report-btn"]');
      await s.waitText('[data-testid="report-text"]', /Float\s+150\.00/);
      await s.screenshot(shots, "09-shift");
    } finally {
      await s.quit();
      await printer.close();
    }
  },

  async e_kds_rush_12_tickets_fit_1920x1080(driver) {
    const dir = path.join(tmp, "e");
    const s = await Session.start(driver.url, app, dir);
    try {
      await s.setWindow(1920, 1080);
      await setUpDemo(s, "pos");
      await login(s, "cashier", "3333");
      const dishes = [BURGER, demoBarcode(8), demoBarcode(1)]; // grill, cold, bar
      for (let i = 0; i < 12; i++) {
        await scan(s, dishes[i % 3]);
        await s.waitText('[data-testid="cart-line"]', /1×/);
        await s.click('[data-testid="fire-btn"]');
        await s.find('[data-testid="cart-line"] .fired');
        await s.click('[data-testid="hold-btn"]');
      }
      await s.click('[data-testid="nav-kds"]');
      await s.find('[data-testid="kds-ticket"]');
      await sleep(300);
      const out = await s.exec(`
        const r = [...document.querySelectorAll('[data-testid="kds-ticket"]')].map((e) => e.getBoundingClientRect());
        return { n: r.length, inside: r.filter((b) => b.top >= 0 && b.left >= 0 && b.bottom <= innerHeight && b.right <= innerWidth && b.height > 120).length, w: innerWidth, h: innerHeight };`);
      assert(out.n === 12, `12 tickets on the board, got ${out.n}`);
      assert(out.inside === 12, `all 12 fully visible without scrolling at ${out.w}x${out.h}: ${JSON.stringify(out)}`);
      await s.screenshot(shots, "11-kds-rush-1920x1080");
    } finally {
      await s.quit();
    }
  },

  async b_count_in_back_office_changes_stock_on_pos(driver) {
    const dir = path.join(tmp, "b");
    const s = await Session.start(driver.url, app, dir);
    try {
      await s.setWindow(1280, 800);
      await setUpDemo(s, "back_office");
      await login(s, "manager", "2222");
      await s.find('[data-testid="back-office"]');
      await s.waitText('[data-testid="stock-row"][data-sku="BAK-MUF"] [data-testid="on-hand"]', /^12$/);
      await s.screenshot(shots, "06-back-office-stock");
      await s.click('[data-testid="bo-tab-count"]');
      await s.click('[data-testid="start-count-btn"]');
      await s.waitText('[data-testid="count-item-name"]', /Blueberry muffin/);
      await s.type('[data-testid="count-input"]', "5\uE007");
      await s.waitText('[data-testid="count-post"]', /1 counted/);
      await s.screenshot(shots, "10-count-sheet");
      await s.click('[data-testid="count-post"]');
      await s.waitText('[data-testid="stock-row"][data-sku="BAK-MUF"] [data-testid="on-hand"]', /^5$/);
      await s.click('[data-testid="nav-pos"]');
      await s.click('[data-testid="cat"]:nth-of-type(2)'); // Bakery (waits for the categories)
      await s.waitText('[data-testid="stock-BAK-MUF"]', /^5 in stock$/);
    } finally {
      await s.quit();
    }
  },

  async c_killed_mid_sale_the_sale_comes_back(driver) {
    const dir = path.join(tmp, "c");
    let s = await Session.start(driver.url, app, dir);
    try {
      await setUpDemo(s, "pos");
      await login(s, "cashier", "3333");
      await scan(s, LATTE);
      await scan(s, CROISSANT);
      await s.waitText('[data-testid="sale-total"]', /6\.00/);
      const pids = appPids(app, dir);
      assert(pids.length === 1, `one app process for ${dir}, found ${pids}`);
      process.kill(pids[0], "SIGKILL");
      await sleep(300);
    } finally {
      await s.quit();
    }
    s = await Session.start(driver.url, app, dir);
    try {
      await login(s, "cashier", "3333");
      await s.waitText('[data-testid="sale-total"]', /6\.00/);
      assert((await s.count('[data-testid="cart-line"]')) === 2, "both lines restored");
      await s.find('[data-testid="toast-info"]');
    } finally {
      await s.quit();
    }
  },
};

const driver = await startDriver();
console.log(process.env.E2E_SCREENSHOTS === "0"
  ? "pass: the app's default WebKit settings (no compositing), no screenshots"
  : `pass: with screenshots (WEBKIT_DISABLE_COMPOSITING_MODE=${process.env.WEBKIT_DISABLE_COMPOSITING_MODE ?? "unset"})`);
let failed = 0;
const t0 = Date.now();
try {
  for (const [name, fn] of Object.entries(tests)) {
    if (only && !only.some((o) => name.startsWith(o))) continue;
    const t = Date.now();
    try {
      await fn(driver);
      console.log(`ok   ${name} (${((Date.now() - t) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${name}: ${e.stack ?? e}`);
    }
  }
  console.log("pending d_fired_order_appears_on_a_second_kds_instance: needs the sync server and the device sync engine (issue 3)");
} finally {
  driver.proc.kill();
  if (failed) console.log(`tauri-driver log:\n${driver.log().slice(-3000)}`);
  fs.rmSync(tmp, { recursive: true, force: true });
}
console.log(`e2e: ${failed ? `${failed} failed` : "all passed"} in ${((Date.now() - t0) / 1000).toFixed(1)} s; screenshots in ${shots}`);
process.exit(failed ? 1 : 0);
