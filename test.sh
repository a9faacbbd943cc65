#!/usr/bin/env bash
# Runs every test of the project. Installs what is missing first.
#
# 1. Debian packages (scripts/ensure-deps.sh), Node/npm if absent.
# 2. The head-office console (console/): npm ci only when package-lock.json changed; `npm run
#    check` (its TypeScript types are current with console/openapi.json, and svelte-check);
#    `npm run build` (vite, then the JavaScript budget: at most 150 KB gzipped). Before the
#    cargo build, so that the server binary embeds it (apps/sync-server/build.rs).
# 2b. s3s-fs (cargo install, only when it is not on PATH): the S3 server on loopback that the
#    backup tests (apps/sync-server/tests/it/backup.rs) put pgBackRest's repository on.
# 3. cargo test --workspace --locked: every crate's unit and integration tests, including the
#    desktop app's command tests on Tauri's mock runtime (and a test that console/openapi.json
#    is what the server generates); it also builds the `sell` example the console's e2e uses.
# 3b. The HTTP API fuzzed by Schemathesis from the server's OpenAPI document, against the real
#    binary with its own PostgreSQL cluster (apps/sync-server/tests/fuzz/run.sh, about 3 minutes:
#    two passes bounded to 140 s and 25 s).
# 4. The console end to end in headless Chromium (chromedriver) against the real server binary
#    with its own PostgreSQL cluster (console/e2e/run.mjs); screenshots console-*.png.
# 5. The desktop app end to end: the UI (npm ci only when package-lock.json changed; vite build),
#    tauri-driver (cargo install, only when it is not on PATH), the app built with
#    --features custom-protocol and the sync server binary (built by step 3 for its own
#    tests; `cargo test --no-run` only checks it is fresh), then apps/desktop/e2e/run.mjs
#    under xvfb-run through tauri-driver + WebKitWebDriver; its test (d) runs the real
#    pos-sync-server with its own PostgreSQL cluster and two app instances (POS and KDS).
#    Screenshots land in artifacts/screenshots/. svelte-check also checks ui/.
#    POS_SKIP_E2E=1 skips steps 4 and 5.
set -euo pipefail
cd "$(dirname "$0")"
root="$PWD"
./scripts/ensure-deps.sh

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

if ! command -v npm >/dev/null; then
  echo "installing Node.js and npm (Debian packages)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi

step "console: npm ci, npm run check (generated types, svelte-check), npm run build"
lock_sum="$(sha256sum console/package-lock.json | cut -d' ' -f1)"
if [ "$(cat console/node_modules/.pos-lock-sha256 2>/dev/null || true)" != "$lock_sum" ]; then
  (cd console && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > console/node_modules/.pos-lock-sha256
fi
(cd console && npm run --silent check && npm run --silent build)

step "s3s-fs (the backup tests' S3 server)"
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if command -v s3s-fs >/dev/null; then
  POS_S3S_FS="$(command -v s3s-fs)"
elif [ -x "$cargo_bin/s3s-fs" ]; then
  POS_S3S_FS="$cargo_bin/s3s-fs"
else
  # 0.14.1: the last release that builds with rustc 1.95 (0.15 onwards want 1.96).
  cargo install s3s-fs --locked --version 0.14.1 --features binary
  POS_S3S_FS="$cargo_bin/s3s-fs"
fi
export POS_S3S_FS

step "cargo test --workspace"
cargo test --workspace --locked "$@"

# The server's HTTP API fuzzed from its own OpenAPI document (Schemathesis, two passes bounded
# to 140 s and 25 s, deterministic): no 5xx, no undocumented status or body, no valid request refused. The binary
# as step 3 built it. See apps/sync-server/tests/fuzz/.
step "API fuzzing: Schemathesis against the real server binary"
fuzz_target="${CARGO_TARGET_DIR:-$root/target}"
case "$fuzz_target" in /*) ;; *) fuzz_target="$root/$fuzz_target" ;; esac
timeout 420 apps/sync-server/tests/fuzz/run.sh "$fuzz_target/debug/pos-sync-server"

if [ "${POS_SKIP_E2E:-0}" = 1 ]; then
  echo "POS_SKIP_E2E=1: end-to-end tests (console, desktop) skipped"
  exit 0
fi

target_dir="${CARGO_TARGET_DIR:-$root/target}"
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac

# The server binary and the `sell` example as step 3 built them (with console/dist embedded).
step "console end-to-end test (headless Chromium, the real server with its own cluster)"
POS_SELL_BIN="$target_dir/debug/examples/sell" timeout 300 \
  node console/e2e/run.mjs "$target_dir/debug/pos-sync-server"

step "UI: npm ci + vite build"
lock_sum="$(sha256sum ui/package-lock.json | cut -d' ' -f1)"
if [ "$(cat ui/node_modules/.pos-lock-sha256 2>/dev/null || true)" != "$lock_sum" ]; then
  (cd ui && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > ui/node_modules/.pos-lock-sha256
fi
(cd console && npx --no-install svelte-check --workspace ../ui --tsconfig ../ui/tsconfig.json --fail-on-warnings)
(cd ui && npm run --silent build)

step "tauri-driver"
if command -v tauri-driver >/dev/null; then
  TAURI_DRIVER="$(command -v tauri-driver)"
elif [ -x "$cargo_bin/tauri-driver" ]; then
  TAURI_DRIVER="$cargo_bin/tauri-driver"
else
  cargo install tauri-driver --locked --version '^2'
  TAURI_DRIVER="$cargo_bin/tauri-driver"
fi
export TAURI_DRIVER

step "build pos-desktop --features custom-protocol, pos-sync-server"
# The sync server binary as step 2 built it for its own tests (same features and profile, so
# this only checks that it is fresh; `cargo build -p pos-sync-server` would unify features
# differently and compile the server's dependency tree a second time). Before the app's build,
# so that nothing of the test build lands on top of the app's binary.
cargo test --workspace --locked --no-run
cargo build -p pos-desktop --features custom-protocol --locked
export POS_SYNC_SERVER_BIN="$target_dir/debug/pos-sync-server"

# Two passes: the app as shipped (WebKit without accelerated compositing, see
# docs/benchmarks-desktop.md), where WebKitWebDriver cannot take screenshots; then with
# compositing on, taking the screenshots (artifacts/screenshots/).
step "desktop end-to-end tests, as shipped (Xvfb, tauri-driver, WebKitWebDriver)"
E2E_SCREENSHOTS=0 timeout 600 xvfb-run -a -s "-screen 0 1920x1080x24" \
  node apps/desktop/e2e/run.mjs "$target_dir/debug/pos-desktop"
step "desktop end-to-end tests, with screenshots"
WEBKIT_DISABLE_COMPOSITING_MODE=0 timeout 600 xvfb-run -a -s "-screen 0 1920x1080x24" \
  node apps/desktop/e2e/run.mjs "$target_dir/debug/pos-desktop"
# The Debian packages, installed on this machine and run (scripts/test-packages.sh): only where
# installing system packages is fine, i.e. in CI or when asked with POS_TEST_PACKAGES=1.
if [ "${CI:-}" = "true" ] || [ "${POS_TEST_PACKAGES:-}" = "1" ]; then
  step "cargo-deb"
  command -v cargo-deb >/dev/null || [ -x "$cargo_bin/cargo-deb" ] || cargo install cargo-deb --locked --version '^3'
  step "Debian packages: build, install, run, purge (scripts/test-packages.sh)"
  PATH="$cargo_bin:$PATH" ./scripts/test-packages.sh
else
  step "Debian packages skipped (they install system packages: CI=true or POS_TEST_PACKAGES=1 runs them)"
fi
step "all tests passed"
