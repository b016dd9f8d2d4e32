"""The signed-header convention of the contact-center and DID endpoints
(docs/nxcloud-api/signing.md#signed-headers): written here independently of the tap's own
signer, so a mistake in one cannot hide in the other."""

from __future__ import annotations

import hashlib
import json

HEADERS = ("accessKey", "ts", "bizType", "action", "sign")
MAX_SKEW_MS = 60_000


def signature(access_key: str, secret: str, ts: str, body: bytes, biz_type: str,
              action: str) -> str:
    """MD5 hex of the four headers in ASCII order of name, `&body=` + the exact body bytes (when
    there is a body), `&accessSecret=` + the secret."""
    raw = f"accessKey={access_key}&action={action}&bizType={biz_type}&ts={ts}".encode()
    if body:
        raw += b"&body=" + body
    return hashlib.md5(raw + b"&accessSecret=" + secret.encode()).hexdigest()


def refusal(double, headers, body: bytes, *, access_key: str, secret: str, biz_type: str,
            action: str) -> tuple[int, str] | None:
    """(code, text) of the first check the request fails, in the server's order; None: valid."""
    missing = [n for n in HEADERS if not headers.get(n)]
    if missing:
        return 1001, f"Missing header: {missing[0]}"
    if headers["bizType"] != biz_type or headers["action"] != action:
        return 1002, "Invalid bizType or action"
    ts = headers["ts"]
    now = double.clock() * 1000 + double.clock_skew_ms
    if not ts.isdigit() or abs(now - int(ts)) > MAX_SKEW_MS:
        return 1004, "Timestamp expired"
    if headers["accessKey"] != access_key:
        return 1005, "Invalid accessKey or no permission"
    if headers["sign"] != signature(access_key, secret, ts, body, biz_type, action):
        return 1003, "Invalid signature"
    return None


def json_object(body: bytes | None) -> dict | None:
    """The request body as a JSON object; None when it is not one (the caller answers 1002)."""
    try:
        value = json.loads(body or b"")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
