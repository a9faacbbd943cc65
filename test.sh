#!/usr/bin/env bash
# Runs every test of the project. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/ensure-deps.sh
cargo test --workspace --locked "$@"
