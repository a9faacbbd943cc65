#!/usr/bin/env bash
# Runs the product's main job: seeds a demo store and runs a scripted day of sales through the
# core, printing the sales, the shift's Z report and the stock levels.
# Usage: ./run.sh [DATA_DIR]   (default: ./demo-data, recreated each run)
set -euo pipefail
cd "$(dirname "$0")"
./scripts/ensure-deps.sh
cargo run --quiet --locked -p pos-demo -- "${1:-demo-data}"
