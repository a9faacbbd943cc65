#!/usr/bin/env bash
# Builds the head-office console (console/dist) that the sync server embeds in its binary.
# Installs Node/npm (Debian packages) when absent; runs `npm ci` only when package-lock.json
# changed since the last install. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v npm >/dev/null; then
  echo "installing Node.js and npm (Debian packages)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
lock_sum="$(sha256sum console/package-lock.json | cut -d' ' -f1)"
if [ "$(cat console/node_modules/.pos-lock-sha256 2>/dev/null || true)" != "$lock_sum" ]; then
  (cd console && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" > console/node_modules/.pos-lock-sha256
fi
(cd console && npm run --silent build)
