"""Schema-driven API fuzzing of the real sync server with Schemathesis.

Usage: run.py <pos-sync-server binary> [extra `st run` arguments]

Starts the binary on loopback with its own managed PostgreSQL cluster in a temporary folder,
sets a tenant up over the API (the platform superadmin creates it; its owner creates a store
and issues an enrolment code; a device enrols and takes a token), then runs `st run` against
the server's own `/v1/openapi.json` twice: every operation with the owner's token for the
`bearer` scheme and the device's for the `device` scheme; then the platform superadmin's
routes (`/v1/admin/tenants…`) with the superadmin's token, on a second tenant. Bounded and
replayable: deterministic generation (the same cases in the same order on every run; a
failure prints its curl command and `st replay` id), at most 10 examples per operation and
mode, and a time budget per pass (`POS_FUZZ_MAX_TIME` seconds for the first, default 140; 25
for the second) that ends a slow machine's fuzzing phase early rather than the CI's patience:
every operation still gets its coverage phase, then its fuzzing examples until the budget.
Exit status: 0 when every check of both passes held.

The checks and the exclusions are in `schemathesis.toml` beside this file (each with its
reason); this script only fills in the credentials and the ids that must exist.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ADMIN = ("root@platform.test", "correct horse battery staple")
OWNER = ("owner@fuzz.test", "a long owner password")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, body=None, token=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if body is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raise SystemExit(f"setup: {method} {path} answered {e.code}: {e.read()[:500]!r}")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    server_bin = os.path.abspath(sys.argv[1])
    st = os.path.join(os.path.dirname(sys.executable), "st")
    tmp = tempfile.mkdtemp(prefix="pos-api-fuzz-")
    data_dir = os.path.join(tmp, "server")
    os.makedirs(data_dir)
    # As root the cluster runs as `postgres`, which must be able to enter the folder.
    for d in (tmp, data_dir):
        os.chmod(d, 0o755)
    port, pg_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "POS_DATA_DIR")}
    log_path = os.path.join(tmp, "server.log")
    log = open(log_path, "wb")
    server = subprocess.Popen(
        [
            server_bin, "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}",
            "--pg-port", str(pg_port),
            "--bootstrap-admin-email", ADMIN[0], "--bootstrap-admin-password", ADMIN[1],
            "--admin-2fa", "optional", "--shutdown-grace-secs", "2",
            # The fuzzer logs in and enrols far more often than a person: the per-address
            # limits would answer 429 to schema-valid requests.
            "--login-per-ip-per-min", "1000000", "--login-per-email-per-min", "1000000",
            "--access-ttl-secs", "3600",
            "--mail-spool-dir", os.path.join(tmp, "spool"),
            "--log", "warn",
        ],
        stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
    )
    keep = os.environ.get("POS_FUZZ_KEEP") == "1"
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                raise SystemExit(f"the server exited: {open(log_path).read()[-4000:]}")
            try:
                with urllib.request.urlopen(base + "/health/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the server did not become ready in 120 s")
            time.sleep(0.1)  # polling a condition (the server's readiness), not a fixed wait

        platform = call(base, "POST", "/v1/auth/login", {"email": ADMIN[0], "password": ADMIN[1]})
        tenant = call(base, "POST", "/v1/admin/tenants", {
            "name": "Fuzz", "owner_email": OWNER[0], "owner_name": "Olivia Owner",
            "owner_password": OWNER[1],
        }, platform["access_token"])
        owner = call(base, "POST", "/v1/auth/login", {"email": OWNER[0], "password": OWNER[1]})
        tok = owner["access_token"]
        store = call(base, "POST", "/v1/admin/stores", {
            "code": "S01", "name": "Fuzz Hafen", "currency": "EUR", "tax_mode": "Inclusive",
            "tax_rates": {"standard": 1900}, "time_zone": "Europe/Berlin",
        }, tok)
        code = call(base, "POST", f"/v1/admin/stores/{store['store_id']}/enrolment-codes", {}, tok)
        enrolled = call(base, "POST", "/v1/devices/enrol", {"code": code["code"], "name": "till 1"})
        device = call(base, "POST", "/v1/devices/token", {
            "device_id": enrolled["device_id"], "device_secret": enrolled["device_secret"],
        })

        # The superadmin's pass works on a tenant of its own: it switches modules off.
        other = call(base, "POST", "/v1/admin/tenants", {
            "name": "Fuzz Two", "owner_email": "owner@fuzz-two.test", "owner_name": "Otto Owner",
            "owner_password": OWNER[1],
        }, platform["access_token"])
        with open(os.path.join(HERE, "schemathesis.toml")) as f:
            template = f.read()

        def config(name, user_token, tenant_id):
            text = (template.replace("@USER_TOKEN@", user_token)
                    .replace("@DEVICE_TOKEN@", device["access_token"])
                    .replace("@TENANT_ID@", tenant_id)
                    .replace("@HOOKS@", os.path.join(HERE, "hooks.py")))
            path = os.path.join(tmp, name)
            with open(path, "w") as f:
                f.write(text)
            return path

        passes = [
            ("owner and device", config("owner.toml", tok, tenant["tenant_id"]),
             os.environ.get("POS_FUZZ_MAX_TIME", "140"), []),
            ("platform superadmin", config("superadmin.toml", platform["access_token"],
                                           other["tenant_id"]),
             "25", ["--include-path-regex", "^/v1/admin/tenants"]),
        ]
        rc = 0
        for what, config_path, max_time, only in passes:
            cmd = [st, "--config-file", config_path, "run", base + "/v1/openapi.json",
                   "--max-time", max_time, *only, *sys.argv[2:]]
            print(f"fuzzing as the {what}:", " ".join(cmd[:1] + cmd[3:]), flush=True)
            started = time.monotonic()
            status = subprocess.call(cmd, cwd=tmp)
            print(f"schemathesis ({what}) finished in {time.monotonic() - started:.0f} s "
                  f"with status {status}", flush=True)
            rc = rc or status
        if rc != 0:
            keep = True
            print(f"server log: {log_path}")
        return rc
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
