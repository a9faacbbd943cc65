#!/usr/bin/env bash
# Schemathesis, the schema-driven API fuzzer that tests/fuzz/run.sh runs against the real
# server. Installed into its own virtualenv outside the repository, once (a sibling of
# tests/smtp/ensure-venv.sh, so that neither tool's dependencies move the other's):
# ${POS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pos-tools}/schemathesis-venv. Pinned,
# idempotent, under a lock; prints the path of the `st` command on its last line.
set -euo pipefail
SCHEMATHESIS_VERSION="4.32.5"
tools="${POS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pos-tools}"
venv="$tools/schemathesis-venv"
py="$venv/bin/python"
installed() {
  [ -x "$venv/bin/st" ] && "$py" -c 'import importlib.metadata as m, sys; sys.exit(0 if m.version("schemathesis") == "'"$SCHEMATHESIS_VERSION"'" else 1)' 2>/dev/null
}
if installed; then
  echo "$venv/bin/st"
  exit 0
fi
mkdir -p "$tools"
# A lock, so that two callers starting at once do not build the venv twice.
exec 9>"$tools/.schemathesis-venv.lock"
flock 9
if ! installed; then
  echo "installing schemathesis $SCHEMATHESIS_VERSION into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$py" -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION" >&2
fi
echo "$venv/bin/st"
