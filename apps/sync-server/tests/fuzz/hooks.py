"""Schemathesis hooks for tests/fuzz/run.py: values the document gives the form of but not the
whole rule, completed before each request so that a schema-valid request stays a valid one.

- A time zone (`time_zone` of a new store, a report's `zone`) must be in the server's IANA
  database, which depends on the machine (jiff reads /usr/share/zoneinfo): the document gives
  the name's form; here a generated name becomes one of a few real zones, chosen by its hash
  (deterministic).
- A barcode's last digit is its check digit (EAN-13, UPC-A, EAN-8): the document gives the
  digits' count; here the last digit is made the right one.

- A device's public key must be a point of the ed25519 curve: the document gives 32 bytes in
  base64; here a generated key becomes a fixed valid one.
- Two rules between fields that the document states (`dependentRequired` on `CreateUser`: a
  password only with an email; `oneOf` on `SecondStep`: a code or a recovery code, not both)
  but Schemathesis's generator does not honour: a generated body that breaks them is made to
  keep them (the password dropped; the recovery code dropped, or a code added when neither is there).

Each rewrite is written down in ARCHITECTURE.md (the API fuzzer's exclusions).
"""

import zlib

import schemathesis

# An ed25519 public key (a point of the curve): RFC 8032's first test vector.
PUBLIC_KEY = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="

ZONES = ["UTC", "Europe/Berlin", "Europe/Paris", "America/New_York", "Asia/Tokyo",
         "Australia/Sydney", "America/Sao_Paulo", "Asia/Kolkata"]


def real_zone(name):
    return ZONES[zlib.crc32(str(name).encode()) % len(ZONES)]


def with_check_digit(code):
    digits = [int(c) for c in code[:-1]]
    # GTIN: from the right, weights 3, 1, 3, … over the digits before the check digit.
    total = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return code[:-1] + str((10 - total % 10) % 10)


@schemathesis.hook
def before_call(context, case, kwargs):
    label = f"{case.method.upper()} {case.path}"
    body = case.body if isinstance(case.body, dict) else None
    if label == "POST /v1/admin/stores" and body is not None and isinstance(body.get("time_zone"), str):
        body["time_zone"] = real_zone(body["time_zone"])
    if label == "POST /v1/admin/items" and body is not None and isinstance(body.get("barcodes"), list):
        body["barcodes"] = [
            with_check_digit(b) if isinstance(b, str) and b.isdigit() and len(b) in (8, 12, 13) else b
            for b in body["barcodes"]
        ]
    if label == "POST /v1/devices/enrol" and body is not None and isinstance(body.get("public_key"), str):
        body["public_key"] = PUBLIC_KEY
    if label == "POST /v1/admin/users" and body is not None and "password" in body and "email" not in body:
        del body["password"]
    if label in ("POST /v1/auth/login/2fa", "POST /v1/auth/console/login/2fa") and body is not None:
        if "code" in body and "recovery_code" in body:
            del body["recovery_code"]
        elif "code" not in body and "recovery_code" not in body:
            body["code"] = "000000"
    if case.path.startswith("/v1/admin/reports/") and isinstance(case.query, dict):
        if isinstance(case.query.get("zone"), str):
            case.query["zone"] = real_zone(case.query["zone"])
