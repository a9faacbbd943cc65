#!/usr/bin/env bash
# Builds the two Debian packages and proves them by installing them on this machine (it must be
# a throwaway one: CI's, or a VM; the script installs, starts and purges system packages).
#
# - pos-desktop (Tauri's bundler, `tauri build --bundles deb`): `apt-get install ./…deb`
#   resolves its dependencies; its menu entry passes desktop-file-validate; the INSTALLED
#   /usr/bin/pos-desktop runs the desktop e2e's sale test (a) under Xvfb; then it is removed.
# - pos-sync-server (cargo-deb): `apt-get install ./…deb` creates the system user, the config
#   file and the data directory; `systemd-analyze verify` accepts the unit; the server started
#   as the unit starts it (its user, its EnvironmentFile, its ExecStart) initialises its managed
#   PostgreSQL cluster, answers /health/ready and serves the console, stops cleanly on SIGTERM
#   (and its cluster with it); then the package is purged (the user goes, the data stays).
#
# The packages are debug builds here (the binaries the other tests built); a release package is
# the same command without --debug / with --profile release (README, "Packages").
# Usage: scripts/test-packages.sh   (CARGO_TARGET_DIR as for the build; root or sudo)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
target_dir="${CARGO_TARGET_DIR:-$root/target}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
out="$(mktemp -d)"
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  $SUDO dpkg --purge pos-desktop pos-sync-server >/dev/null 2>&1 || true
  $SUDO rm -rf /var/lib/pos-sync-server
  rm -rf "$out"
}
trap cleanup EXIT
step() { printf '\n== packages: %s (%ss)\n' "$1" "$SECONDS"; }

step "build the desktop .deb (tauri build --debug --bundles deb)"
(cd apps/desktop && ../../ui/node_modules/.bin/tauri build --debug --bundles deb --ci)
cp "$target_dir"/debug/bundle/deb/*.deb "$out/pos-desktop.deb"
dpkg-deb -f "$out/pos-desktop.deb" Package Version Depends

step "install it with apt and check its menu entry"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$out/pos-desktop.deb"
test -x /usr/bin/pos-desktop
entry="$(dpkg -L pos-desktop | grep '^/usr/share/applications/.*\.desktop$')"
desktop-file-validate "$entry"
grep -q '^Exec=pos-desktop' "$entry"
test -f "$(dpkg -L pos-desktop | grep '/icons/.*pos-desktop.png$' | head -1)"

step "the installed app sells (desktop e2e test a, Xvfb)"
E2E_ONLY=a E2E_SCREENSHOTS=0 timeout 300 xvfb-run -a -s "-screen 0 1920x1080x24" \
  node apps/desktop/e2e/run.mjs /usr/bin/pos-desktop
$SUDO apt-get remove -y -qq pos-desktop >/dev/null
test ! -e /usr/bin/pos-desktop

step "build the server .deb (cargo deb --no-build, the debug binary)"
# (cargo-deb warns that a dev-profile package is not for release: this one only proves the
# packaging; the README builds the release package.)
cargo deb -p pos-sync-server --no-build --profile dev --no-strip --fast --output "$out/pos-sync-server.deb"
dpkg-deb -f "$out/pos-sync-server.deb" Package Version Depends

step "install it with apt: user, config, data directory, unit"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$out/pos-sync-server.deb"
getent passwd pos-sync-server >/dev/null
test "$(stat -c '%U %a' /var/lib/pos-sync-server)" = "pos-sync-server 750"
test "$(stat -c '%U:%G %a' /etc/pos-sync-server/config)" = "root:pos-sync-server 640"
unit=/lib/systemd/system/pos-sync-server.service
[ -f "$unit" ] || unit=/usr/lib/systemd/system/pos-sync-server.service
systemd-analyze verify "$unit"
for kind in full incr; do
  systemd-analyze verify "$(dirname "$unit")/pos-sync-server-backup-$kind.service" \
    "$(dirname "$unit")/pos-sync-server-backup-$kind.timer"
done

step "start it as its unit does: the managed cluster, /health/ready, the console, SIGTERM"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
exec_start="$(sed -n 's/^ExecStart=//p' "$unit")"
user="$(sed -n 's/^User=//p' "$unit")"
# The unit's EnvironmentFile, then what this test changes: a free port and no TOTP for the
# bootstrap admin it logs in with.
mapfile -t envs < <(grep -E '^[A-Z_]+=' /etc/pos-sync-server/config)
$SUDO runuser -u "$user" -- env -i PATH=/usr/bin:/bin "${envs[@]}" POS_LISTEN="127.0.0.1:$port" \
  POS_ADMIN_2FA=optional POS_BOOTSTRAP_ADMIN_EMAIL=admin@example.com \
  POS_BOOTSTRAP_ADMIN_PASSWORD=package-test-pass-1 $exec_start > "$out/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/server.log"; echo "the server exited"; exit 1; }
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/health/ready"
echo
page="$(curl -fsS "http://127.0.0.1:$port/")"
grep -qi '<html' <<<"$page" || { echo "no console at /: $page"; exit 1; }
session="$(curl -fsS -X POST -H 'content-type: application/json' \
  -d '{"email":"admin@example.com","password":"package-test-pass-1"}' \
  "http://127.0.0.1:$port/v1/auth/login")"
grep -q access_token <<<"$session" || { echo "the bootstrap admin cannot log in"; exit 1; }
test -f /var/lib/pos-sync-server/pg/data/PG_VERSION
test "$(stat -c %U /var/lib/pos-sync-server/master-key)" = "pos-sync-server"
# SIGTERM as systemd sends it (runuser passes it on): the server finishes, stops its cluster.
kill -TERM "$server_pid"
for _ in $(seq 1 120); do
  pgrep -u pos-sync-server >/dev/null || break
  sleep 0.5
done
if pgrep -u pos-sync-server -a; then echo "the server or its cluster still runs after SIGTERM"; exit 1; fi
wait "$server_pid" || true
server_pid=""

step "purge: the user goes, the data stays"
$SUDO apt-get purge -y -qq pos-sync-server >/dev/null
if getent passwd pos-sync-server >/dev/null; then echo "purge left the user"; exit 1; fi
test -f /var/lib/pos-sync-server/pg/data/PG_VERSION
step "packages passed"
