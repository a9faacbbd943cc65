// A minimal W3C WebDriver client over Node's built-in fetch, plus the helpers the end-to-end
// tests share: tauri-driver, a fake ESC/POS printer, screenshots, killing the app.
import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on("error", reject);
  });
}

/** Starts tauri-driver on free ports; resolves when it answers /status. */
export async function startDriver() {
  const port = await freePort();
  let nativePort = await freePort();
  if (nativePort === port) nativePort = port + 1;
  const bin = process.env.TAURI_DRIVER ?? "tauri-driver";
  const proc = spawn(bin, ["--port", String(port), "--native-port", String(nativePort)], { stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stdout.on("data", (d) => (log += d));
  proc.stderr.on("data", (d) => (log += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (proc.exitCode !== null) throw new Error(`tauri-driver exited: ${log}`);
    try { const r = await fetch(`${url}/status`); if (r.ok) return { url, proc, log: () => log }; } catch { /* not yet */ }
    await sleep(100);
  }
  proc.kill();
  throw new Error(`tauri-driver did not start: ${log}`);
}

async function wd(base, method, p, body) {
  const r = await fetch(base + p, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(60000), // a hung driver call fails the test instead of hanging CI
  });
  const text = await r.text();
  let j;
  try { j = JSON.parse(text); } catch { throw new Error(`${method} ${p}: HTTP ${r.status} ${text.slice(0, 300)}`); }
  if (!r.ok || (j.value && j.value.error)) {
    const e = new Error(`${method} ${p}: ${JSON.stringify(j.value ?? j).slice(0, 400)}`);
    e.wd = j.value;
    throw e;
  }
  return j.value;
}

export class Session {
  constructor(base, id, dataDir) { this.base = base; this.id = id; this.dataDir = dataDir; }

  /** Launches the app through the driver. A launch that fails before the app has a window
   *  (CI once saw GTK refuse to initialise on the X server for one launch of ~60) is tried once
   *  more, and said on stderr: it is the machine, not the app under test, and the test then
   *  runs on a good launch. A second failure fails the test. */
  static async start(driverUrl, application, dataDir) {
    const body = { capabilities: { alwaysMatch: { "tauri:options": { application, args: [`--data-dir=${dataDir}`] } } } };
    let v;
    try {
      v = await wd(driverUrl, "POST", "/session", body);
    } catch (e) {
      console.error(`     the app did not start (${e.message.slice(0, 200)}); launching it once more`);
      v = await wd(driverUrl, "POST", "/session", body);
    }
    return new Session(driverUrl, v.sessionId, dataDir);
  }

  cmd(method, p, body) { return wd(this.base, method, `/session/${this.id}${p}`, body); }

  async findAll(css) {
    const els = await this.cmd("POST", "/elements", { using: "css selector", value: css });
    return els.map((e) => e[ELEMENT]);
  }

  /** Waits until `css` matches a displayed element. */
  async find(css, timeout = 10000) {
    const end = Date.now() + timeout;
    let last;
    while (Date.now() < end) {
      try {
        const els = await this.findAll(css);
        for (const id of els) {
          if (await this.cmd("GET", `/element/${id}/displayed`)) return id;
        }
      } catch (e) { last = e; }
      await sleep(50);
    }
    throw new Error(`no visible element ${css} within ${timeout} ms${last ? ` (${last.message})` : ""}`);
  }

  async click(css) {
    const id = await this.find(css);
    await this.cmd("POST", `/element/${id}/click`, {});
  }

  async type(css, text, { clear = false } = {}) {
    const id = await this.find(css);
    if (clear) await this.cmd("POST", `/element/${id}/clear`, {});
    await this.cmd("POST", `/element/${id}/value`, { text });
  }

  /** Picks `file` in the (hidden) file input `css`, as a person choosing it in the dialog. */
  async upload(css, file) {
    const [id] = await this.findAll(css);
    if (!id) throw new Error(`no file input ${css}`);
    await this.cmd("POST", `/element/${id}/value`, { text: file });
  }

  async text(css) {
    const id = await this.find(css);
    return this.cmd("GET", `/element/${id}/text`);
  }

  /** Waits until the text of `css` matches `re`; returns it. The error names the last text seen,
   *  or that the element was gone. */
  async waitText(css, re, timeout = 10000) {
    const end = Date.now() + timeout;
    let t = "";
    while (Date.now() < end) {
      try { t = await this.text(css); if (re.test(t)) return t; } catch { t = "(not on screen)"; }
      await sleep(50);
    }
    throw new Error(`${css}: text ${JSON.stringify(t)} never matched ${re}`);
  }

  async count(css) { return (await this.findAll(css)).length; }

  exec(script, args = []) { return this.cmd("POST", "/execute/sync", { script, args }); }
  execAsync(script, args = []) { return this.cmd("POST", "/execute/async", { script, args }); }

  async keys(n, css) { for (const k of n) await this.click(`${css ?? ""}[data-testid="key-${k}"]`); }

  /** Saves a PNG. E2E_SCREENSHOTS=0 skips it: WebKitWebDriver's screenshot hangs when WebKit
   *  runs without accelerated compositing, which is how the app runs by default. */
  async screenshot(dir, name) {
    if (process.env.E2E_SCREENSHOTS === "0") return null;
    const b64 = await this.cmd("GET", "/screenshot");
    fs.mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${name}.png`);
    fs.writeFileSync(file, Buffer.from(b64, "base64"));
    return file;
  }

  setWindow(width, height) { return this.cmd("POST", "/window/rect", { width, height, x: 0, y: 0 }).catch(() => null); }

  async quit() { try { await this.cmd("DELETE", ""); } catch { /* already gone */ } }
}

/** A fake ESC/POS printer on 127.0.0.1: answers every DLE EOT status request "ready" (0x12). */
export async function fakePrinter() {
  const received = [];
  const server = net.createServer((sock) => {
    sock.on("data", (chunk) => {
      received.push(chunk);
      for (let i = 0; i + 1 < chunk.length; i++) if (chunk[i] === 0x10 && chunk[i + 1] === 0x04) sock.write(Buffer.from([0x12]));
    });
    sock.on("error", () => {});
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: server.address().port,
    bytes: () => Buffer.concat(received),
    close: () => new Promise((r) => server.close(r)),
  };
}

/** PIDs of the app processes started with this data dir (exact binary and argument). */
export function appPids(binary, dataDir) {
  const out = [];
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, "utf8").split("\0");
      if (argv[0] === binary && argv.includes(`--data-dir=${dataDir}`)) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

/** Resident memory of a process and its descendants (the WebKit web and network processes), kB. */
export function treeRssKb(pid) {
  const children = new Map();
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(d));
    } catch { /* gone */ }
  }
  const rss = (p) => {
    try { return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, "utf8"))?.[1] ?? 0); } catch { return 0; }
  };
  const pss = (p) => {
    try { return Number(/Pss:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/smaps_rollup`, "utf8"))?.[1] ?? 0); } catch { return 0; }
  };
  const parts = [];
  const walk = (p) => { parts.push({ pid: p, kb: rss(p), pss: pss(p) }); for (const c of children.get(p) ?? []) walk(c); };
  walk(pid);
  return { total: parts.reduce((s, x) => s + x.kb, 0), pss: parts.reduce((s, x) => s + x.pss, 0), parts };
}

/** EAN-13 with its check digit, as the demo seeds them (`400000000NNN`). */
export function ean13(twelve) {
  const sum = [...twelve].reduce((s, c, i) => s + Number(c) * (i % 2 ? 3 : 1), 0);
  return twelve + ((10 - (sum % 10)) % 10);
}
export const demoBarcode = (n) => ean13(`400000000${String(n).padStart(3, "0")}`);

/**
 * A real `pos-sync-server` process on a free 127.0.0.1 port with its own data folder (and so
 * its own PostgreSQL cluster, which it starts and stops itself). `stop()` shuts it down
 * gracefully (SIGTERM) and, should that not finish in time, kills it and stops the cluster.
 */
export async function startSyncServer(bin, dataDir, admin, extraArgs = []) {
  const port = await freePort();
  fs.mkdirSync(dataDir, { recursive: true });
  // As root the cluster runs as `postgres`, which must be able to enter the folder.
  for (let d = dataDir; d !== path.dirname(d) && d.startsWith(path.dirname(path.dirname(dataDir))); d = path.dirname(d)) {
    try { fs.chmodSync(d, 0o755); } catch { /* not ours */ }
  }
  const env = { ...process.env };
  delete env.DATABASE_URL; // its own cluster
  delete env.POS_DATA_DIR;
  const proc = spawn(bin, [
    "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`,
    "--bootstrap-admin-email", admin.email, "--bootstrap-admin-password", admin.password,
    "--shutdown-grace-secs", "2", "--log", "warn,pos_sync_server::app=info",
    // Head office logs in over the API with passwords only, unless the test asks for the
    // server's default (compulsory two-factor login for admin roles) with "--admin-2fa".
    ...(extraArgs.includes("--admin-2fa") ? [] : ["--admin-2fa", "optional"]),
    ...extraArgs,
  ], { stdio: ["ignore", "pipe", "pipe"], env });
  let log = "";
  // Ready when it logs "listening" (after its cluster, migrations and bootstrap admin).
  let onListening;
  const listening = new Promise((r) => (onListening = r));
  proc.stdout.on("data", (d) => {
    log += d;
    if (log.includes('"listening"')) onListening(true);
  });
  proc.stderr.on("data", (d) => (log += d));
  const exited = new Promise((r) => proc.on("exit", r));
  const url = `http://127.0.0.1:${port}`;
  const stopCluster = () => {
    const data = path.join(dataDir, "pg", "data");
    if (!fs.existsSync(path.join(data, "postmaster.pid"))) return;
    const pgCtl = "/usr/lib/postgresql/15/bin/pg_ctl";
    const args = ["-D", data, "-m", "immediate", "-w", "stop"];
    if (process.getuid?.() === 0) spawnSync("runuser", ["-u", "postgres", "--", pgCtl, ...args], { stdio: "ignore" });
    else spawnSync(pgCtl, args, { stdio: "ignore" });
  };
  const server = {
    url, proc, log: () => log,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill("SIGTERM");
        const done = await Promise.race([exited.then(() => true), sleep(30000).then(() => false)]);
        if (!done) proc.kill("SIGKILL");
      }
      stopCluster();
    },
    /** For process exit handlers: no waiting. */
    killNow() { try { proc.kill("SIGKILL"); } catch { /* gone */ } stopCluster(); },
  };
  // initdb + migrations on a cold machine take a while; the timer only bounds the wait.
  let timer;
  const ready = await Promise.race([
    listening,
    exited.then((code) => { throw new Error(`pos-sync-server exited (${code}):\n${log.slice(-3000)}`); }),
    new Promise((r) => (timer = setTimeout(() => r(false), 120000))),
  ]).finally(() => clearTimeout(timer));
  if (ready) return server;
  await server.stop();
  throw new Error(`pos-sync-server not ready within 120 s:\n${log.slice(-3000)}`);
}

/** Head office over the admin API (`/v1/auth/login`, `/v1/admin/...`). */
/** RFC 6238 TOTP (SHA-1, six digits, 30 s) of a base32 secret at time step `step`, written
 *  here from the RFCs with node's crypto, independent of the server's totp-rs. */
export function totp(secretB32, step) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of secretB32.replace(/=+$/, "").toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = crypto.createHmac("sha1", key).update(msg).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1_000_000).padStart(6, "0");
}

/** Two-factor secrets of the people head office enrolled in this run, by email, with the last
 *  time step used (a code counts once). */
const secondFactors = new Map();

/** The enrolled `email`'s code for the first step not used yet (now, or the next one, which
 *  the server accepts as drift); that step counts as used. */
export function nextCode(email) {
  const f = secondFactors.get(email);
  if (!f) throw new Error(`${email} has no two-factor secret in this run`);
  const step = Math.max(Math.floor(Date.now() / 30000), f.last + 1);
  f.last = step;
  return totp(f.secret, step);
}

/** Remembers a secret enrolled through the console, for [`nextCode`]. */
export function rememberSecondFactor(email, secret) {
  secondFactors.set(email, { secret, last: Math.floor(Date.now() / 30000) });
}

export class HeadOffice {
  constructor(url, token) { this.url = url; this.token = token; }
  /** Logs in over the API; with two-factor login compulsory it enrols the first time (the
   *  code from [`totp`]) and answers the second step after. */
  static async login(url, email, password) {
    let r = await api(url, "POST", "/v1/auth/login", { email, password });
    if (r.second_factor_required) {
      r = await api(url, "POST", "/v1/auth/login/2fa", { challenge_token: r.challenge_token, code: nextCode(email) });
    }
    if (r.second_factor_enrolment_required) {
      const e = await api(url, "POST", "/v1/auth/2fa/enrol", {}, r.access_token);
      rememberSecondFactor(email, e.secret);
      const f = secondFactors.get(email);
      const c = await api(url, "POST", "/v1/auth/2fa/confirm", { code: totp(e.secret, f.last) }, r.access_token);
      r = c.session;
    }
    return new HeadOffice(url, r.access_token);
  }
  req(method, p, body) { return api(this.url, method, p, body, this.token); }
  async staff(storeId, name, role, pin) {
    const { user_id } = await this.req("POST", "/v1/admin/users", { name });
    await this.req("POST", `/v1/admin/users/${user_id}/memberships`, { store_id: storeId, role });
    await this.req("PUT", `/v1/admin/users/${user_id}/pin`, { pin });
    return user_id;
  }
  /** A one-time code for a till, or with `kind` "kitchen" for a kitchen screen. */
  async enrolmentCode(storeId, kind = "till") { return (await this.req("POST", `/v1/admin/stores/${storeId}/enrolment-codes`, { kind })).code; }
}

async function api(url, method, p, body, token) {
  const r = await fetch(url + p, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30000),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`${method} ${p}: HTTP ${r.status} ${text.slice(0, 400)}`);
  return text ? JSON.parse(text) : null;
}
