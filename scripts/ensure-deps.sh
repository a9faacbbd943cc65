#!/usr/bin/env bash
# Installs what this project needs on a fresh Debian machine, and nothing that is already there.
# Called by ./run.sh and ./test.sh; safe to run again.
set -euo pipefail

# Debian packages the build and the tests need:
# - a C compiler and pkg-config (bundled SQLite, ring);
# - PostgreSQL 15's server binaries (the sync server's own cluster and the tests' throwaway ones);
# - WebKitGTK, Xvfb and WebKitWebDriver (the Tauri desktop app and its end-to-end tests);
# - Chromium and its WebDriver (the head-office console's end-to-end test, headless);
# - pgBackRest (continuous backup of the server's cluster to S3-compatible storage,
#   scripts/backup.sh) and stunnel4 (TLS in front of the tests' loopback S3 server: Debian 12's
#   pgBackRest 2.45 speaks only HTTPS to S3), plus openssl for the tests' self-signed certificate.
PACKAGES=(build-essential pkg-config postgresql-15 libwebkit2gtk-4.1-dev xvfb xauth webkit2gtk-driver fonts-dejavu-core chromium chromium-driver pgbackrest stunnel4 openssl)

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
