#!/usr/bin/env bash
# Fuzzes the real sync server's HTTP API from its OpenAPI document with Schemathesis (installed
# by ensure-schemathesis.sh into a venv outside the repository). Usage:
#   apps/sync-server/tests/fuzz/run.sh [path/to/pos-sync-server] [extra `st run` arguments]
# The binary defaults to $CARGO_TARGET_DIR (or target)/debug/pos-sync-server, as
# `cargo test -p pos-sync-server` builds it. POS_FUZZ_MAX_TIME bounds the first pass
# (seconds, default 140; the second takes at most 25); POS_FUZZ_KEEP=1 keeps the temporary folder (the server's log). See run.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../../.." && pwd)"
st="$("$here/ensure-schemathesis.sh" | tail -n1)"
bin="${1:-${CARGO_TARGET_DIR:-$root/target}/debug/pos-sync-server}"
[ $# -gt 0 ] && shift
[ -x "$bin" ] || { echo "no server binary at $bin: run cargo test -p pos-sync-server --no-run" >&2; exit 2; }
exec "$(dirname "$st")/python" "$here/run.py" "$bin" "$@"
