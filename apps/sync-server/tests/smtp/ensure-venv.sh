#!/usr/bin/env bash
# The Python tools the server's tests run as real counterparts on loopback: aiosmtpd (an SMTP
# server, tests/it/mail_delivery.rs). Installed into a virtualenv outside the repository, once:
# ${POS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pos-tools}/venv. Idempotent; prints the
# venv's python on its last line. Called by scripts/ensure-deps.sh and by the tests themselves.
set -euo pipefail
AIOSMTPD_VERSION="1.4.6"
tools="${POS_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pos-tools}"
venv="$tools/venv"
py="$venv/bin/python"
if [ -x "$py" ] && "$py" -c 'import aiosmtpd, sys; sys.exit(0 if aiosmtpd.__version__ == "'"$AIOSMTPD_VERSION"'" else 1)' 2>/dev/null; then
  echo "$py"
  exit 0
fi
mkdir -p "$tools"
# A lock, so that two test binaries starting at once do not build the venv twice.
exec 9>"$tools/.venv.lock"
flock 9
if ! { [ -x "$py" ] && "$py" -c 'import aiosmtpd' 2>/dev/null; }; then
  echo "installing aiosmtpd $AIOSMTPD_VERSION into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$py" -m pip install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION" >&2
fi
echo "$py"
