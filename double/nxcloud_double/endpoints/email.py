"""Email OTP records: POST /api/email/dr (docs/nxcloud-api/contradictions.md#email).

A JSON body (`Content-Type: application/json`) carrying the email app's `appKey` and `secretKey`
(wrong or missing: 601101), optional `messageId`, `startTime`/`endTime` ("yyyy-MM-dd HH:mm:ss" in
the double's zone, both optional, both inclusive, on `sendTime`), `current` (page, default 1) and
`size` (default 10, at most 100). Rows newest first (`sortType` 0, "default is descending"): by
`sendTime` descending, then `messageId` descending. Success is code 200 (the error table says 0,
the example 200) with a MyBatis-Plus page in `result` that echoes the request, `secretKey`
included, as the vendor's example does.

Not documented, chosen here: a request the page would not accept (not a JSON object, a time not
in the documented form, `current` < 1, `size` outside 1..100, a value of the wrong JSON type)
answers code 400 with a `msg`; a busy server code 500. `null` means "not given" for every
optional field. No retention and no rate limit are stated.
"""

from __future__ import annotations

import json
import random

from ..data import clock, hard, remark
from ..table import Table
from .core import Endpoint, Reply, Request, join, wall

MAX_SIZE = 100
BAD_REQUEST = 400  # not in the vendor's table (it lists no code for a malformed request)
BUSY = 500
KEYS_TEXT = "Application status exception, appKey/SecretKey mismatch"
SECRETS = ("appKey", "secretKey")
T_WALL = "%Y-%m-%dT%H:%M:%S"  # how a row's sendTime is sent: "2021-02-23T15:39:51"

APPS = ["name2", "OTP mail", "登录验证", "Password reset"]
SUBJECTS = ["Your verification code", "验证码", "Código de verificação", "Ваш код",
            "Reset your password"]
SENDERS = ["no-reply@mail.example.com", "1990336062@qq.com", "otp@notify.example.net"]
DOMAINS = ["example.org", "nxtele.com", "gmail.example", "例子.测试"]
RESULTS = ["DELIVRD"] * 7 + ["UNDELIV", "REJECTD", "EXPIRED", None]  # None: no report yet


def rows(n: int, *, seed: int, start: str, span_seconds: int, prefix: str = "", **_,
         ) -> list[dict]:
    """n email rows with `sendTime` ("yyyy-MM-ddTHH:mm:ss", the double's zone) over the span."""
    rng = random.Random(f"email-{seed}-{prefix}")
    customer = f"NX{seed % 10**5:05d}-customer"
    out = []
    for sent in clock(rng, n, start, span_seconds):
        out.append(remark(rng, {
            "messageId": f"{prefix}{rng.getrandbits(128):032x}",
            "customerName": hard(rng, customer), "appName": hard(rng, rng.choice(APPS)),
            "tplSubject": hard(rng, rng.choice(SUBJECTS)), "sender": rng.choice(SENDERS),
            "receiver": f"user{rng.randrange(10**6)}@{rng.choice(DOMAINS)}",
            "sellPrice": rng.choice([0.265, 0.0012, 0.00085, 0.01, 0.0]),
            "sendTime": sent.strftime(T_WALL), "msgResult": rng.choice(RESULTS),
        }))
    return out


def failure(code: int, text: str) -> Reply:
    return Reply(code, json.dumps({"msg": text, "result": None, "code": code}).encode())


def json_body(req: Request) -> dict | None:
    """The body as a JSON object, when it is sent as application/json; else None."""
    kind = (req.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if kind != "application/json":
        return None
    try:
        value = json.loads(req.body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _int(value, default: int, low: int, high: int | None = None) -> int | None:
    if value is None:
        return default
    ok = type(value) is int and value >= low and (high is None or value <= high)
    return value if ok else None


class Email(Endpoint):
    stream = "email_cdrs"
    alias = "email"
    path = "/api/email/dr"
    rows = staticmethod(rows)

    def table(self) -> Table:
        return Table("sendTime", "messageId", identity=("messageId",))

    def params(self, req: Request) -> dict:
        return {k: v for k, v in (json_body(req) or {}).items() if k not in SECRETS}

    def answer(self, double, req: Request) -> Reply:
        p = json_body(req)
        if p is None:
            return failure(BAD_REQUEST, "Request body must be a JSON object (application/json)")
        c = double.credentials
        if p.get("appKey") != c.email_app_key or p.get("secretKey") != c.email_app_secret:
            return failure(601101, KEYS_TEXT)
        current, size = _int(p.get("current"), 1, 1), _int(p.get("size"), 10, 1, MAX_SIZE)
        if current is None:
            return failure(BAD_REQUEST, "current must be an integer of at least 1")
        if size is None:
            return failure(BAD_REQUEST, f"size must be an integer from 1 to {MAX_SIZE}")
        bounds = [p.get(k) for k in ("startTime", "endTime")]
        if any(b is not None and not (isinstance(b, str) and wall(b)) for b in bounds):
            return failure(BAD_REQUEST, "startTime and endTime must be yyyy-MM-dd HH:mm:ss")
        message = p.get("messageId")
        if message is not None and not isinstance(message, str):
            return failure(BAD_REQUEST, "messageId must be a string")
        lo, hi = (b.replace(" ", "T") if b else None for b in bounds)
        table = self.of(double)
        with table.lock:
            left, right = table.span(lo or "", hi or "\uffff")
            newest_first = [i for i in range(right - 1, left - 1, -1)
                            if message is None or table.keys[i][1] == message]
            skip = (current - 1) * size
            blobs = [table.blobs[i] for i in newest_first[skip:skip + size]]
        total = len(newest_first) + self.phantoms(double, lo or "", hi or "\uffff")
        meta = {"total": total, "size": size, "current": current, "orders": [],
                "appKey": p["appKey"], "secretKey": p["secretKey"],  # echoed, as the vendor does
                "messageId": message, "startTime": bounds[0], "endTime": bounds[1],
                "sortType": 0, "searchCount": True, "pages": -(-total // size)}
        rest = json.dumps(meta, ensure_ascii=False)[1:]  # '"total": ...}' closes `result`
        return Reply(200, b'{"msg":"success","result":{"records":' + join(blobs) + b","
                     + rest.encode() + b',"code":200}')

    def busy(self, double) -> Reply:
        return failure(BUSY, "System busy, please try again later")

    def badrow(self) -> Reply:
        return Reply(200, b'{"msg":"success","result":{"records":[{"appName":"a row without '
                     b'messageId","sendTime":null}],"total":1,"size":10,"current":1,"pages":1},'
                     b'"code":200}')

    def code(self, code: str) -> Reply:
        return failure(int(code), f"injected error {code}")


ENDPOINT = Email()
