#!/usr/bin/env bash
# Runs the product's main job: a sync server with its own PostgreSQL cluster, a demo café set up
# by head office, and two tills that enrol, sell a day offline, reconnect and converge; prints
# what happened (sales, the Z report, stock levels, the price conflict head office sees).
# Usage: ./run.sh [DATA_DIR]   (default: ./demo-data, recreated each run)
set -euo pipefail
cd "$(dirname "$0")"
./scripts/ensure-deps.sh
cargo run --quiet --locked -p pos-demo -- "${1:-demo-data}"
