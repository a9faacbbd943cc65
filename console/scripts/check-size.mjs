#!/usr/bin/env node
// The console's speed budget (docs/benchmarks.md): all of its JavaScript at most 150 KB
// gzipped. Run after `vite build` (npm run build); fails the build when over.
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";

const BUDGET = 150 * 1024;
const dir = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../dist/assets");
let js = 0, raw = 0, css = 0;
for (const f of fs.readdirSync(dir)) {
  const bytes = fs.readFileSync(path.join(dir, f));
  const gz = zlib.gzipSync(bytes, { level: 9 }).length;
  if (f.endsWith(".js")) { js += gz; raw += bytes.length; }
  if (f.endsWith(".css")) css += gz;
}
const kb = (n) => (n / 1024).toFixed(1);
console.log(`console JavaScript: ${kb(js)} KB gzipped (${kb(raw)} KB raw), CSS ${kb(css)} KB gzipped; budget ${kb(BUDGET)} KB`);
if (js > BUDGET) {
  console.error(`the console's JavaScript is over its budget: ${kb(js)} KB > ${kb(BUDGET)} KB gzipped`);
  process.exit(1);
}
