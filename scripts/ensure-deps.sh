#!/usr/bin/env bash
# Installs what this project needs on a fresh Debian machine, and nothing that is already there.
# Called by ./run.sh and ./test.sh; safe to run again.
set -euo pipefail

# Debian packages the build and the tests need:
# - a C compiler and pkg-config (bundled SQLite, ring);
# - PostgreSQL 15's server binaries (the sync server's own cluster and the tests' throwaway ones);
# - WebKitGTK, Xvfb and WebKitWebDriver (the Tauri desktop app and its end-to-end tests);
# - Chromium and its WebDriver (the head-office console's end-to-end test, headless);
# - python3-venv (the tests' Python tools, aiosmtpd and Schemathesis, in venvs: see the end);
# - desktop-file-utils and curl (scripts/test-packages.sh checks the installed packages);
# - pgBackRest (continuous backup of the server's cluster to S3-compatible storage,
#   `pos-sync-server --backup`) and stunnel4 (TLS in front of the tests' loopback S3 server:
#   Debian 12's pgBackRest 2.45 speaks only HTTPS to S3), plus openssl for the tests'
#   self-signed certificate;
# - iproute2 (`ip netns`: the store mesh test runs each device in a network namespace of its own).
PACKAGES=(build-essential pkg-config postgresql-15 python3-venv libwebkit2gtk-4.1-dev xvfb xauth webkit2gtk-driver fonts-dejavu-core chromium chromium-driver desktop-file-utils curl pgbackrest stunnel4 openssl iproute2)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing missing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null || { echo "cargo (Rust) is required: https://rustup.rs" >&2; exit 1; }

# Python tools the server's tests run on loopback (aiosmtpd, the SMTP relay of
# tests/it/mail_delivery.rs), in a venv outside the repository; nothing when already there.
"$(dirname "$0")/../apps/sync-server/tests/smtp/ensure-venv.sh" >/dev/null
# Schemathesis, the API fuzzer ./test.sh runs (apps/sync-server/tests/fuzz/run.sh), in its own venv.
"$(dirname "$0")/../apps/sync-server/tests/fuzz/ensure-schemathesis.sh" >/dev/null
