#!/usr/bin/env bash
# Runs the product's main job: a sync server with its own PostgreSQL cluster, a demo café set up
# by head office, and two tills that enrol, sell a day offline, reconnect and converge; prints
# what happened (sales, the Z report, stock levels, the price conflict head office sees, head
# office's reports of the day) and where the head-office console is.
# Usage: ./run.sh [DATA_DIR] [--serve]   (default DATA_DIR: ./demo-data, recreated each run;
# --serve keeps the server and its console running after the day, until Ctrl-C)
set -euo pipefail
cd "$(dirname "$0")"
./scripts/ensure-deps.sh
./scripts/build-console.sh >/dev/null
cargo run --quiet --locked -p pos-demo -- "$@"
