"""Flash-call CDRs: GET /otp/call/list, credentials in the query, at most 100 rows a call by
`gmtCreate` with inclusive bounds, no paging (docs/nxcloud-api/time-and-limits.md#bounds)."""

from __future__ import annotations

import datetime as dt
import random
import re

from ..data import WALL, remark
from ..table import Table
from .core import Endpoint, Reply, Request, legacy_json

WALL_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def rows(n: int, *, seed: int, start: str, span_seconds: int, first_id: int = 1, **_) -> list[dict]:
    """n flash-call rows with `gmtCreate` wall-clock strings spread over span_seconds."""
    rng = random.Random(f"flash-{seed}")
    base = dt.datetime.strptime(start, WALL)
    offsets = sorted(rng.randrange(span_seconds) for _ in range(n))
    out = []
    for i, off in enumerate(offsets):
        created = base + dt.timedelta(seconds=off)
        done = rng.random() < 0.9
        calling = f"21{rng.randrange(10**8):08d}"
        start_at = created + dt.timedelta(seconds=rng.randrange(1, 5)) if done else None
        end_at = start_at + dt.timedelta(seconds=rng.randrange(1, 9)) if start_at else None
        out.append(remark(rng, {
            "id": first_id + i, "customerId": 1, "appId": rng.randrange(1, 4),
            "msisdn": f"86{rng.randrange(10**10):010d}", "callingNumber": calling,
            "token": calling[-4:], "requestId": f"{rng.getrandbits(128):032x}",
            "ip": None if rng.random() < 0.5 else f"10.{rng.randrange(256)}.{rng.randrange(256)}.7",
            "price": rng.choice([0.0, 0.012, 0.035, 0.1]),
            "gmtCreate": created.strftime(WALL),
            "gmtModified": end_at.strftime(WALL) if end_at else None,
            "callStartAt": start_at.strftime(WALL) if start_at else None,
            "callEndAt": end_at.strftime(WALL) if end_at else None,
            "callbackAt": (end_at + dt.timedelta(seconds=1)).strftime(WALL)
            if end_at and rng.random() < 0.3 else None,
            "callStatus": rng.randrange(0, 4) if done else 0,
        }))
    return out


class FlashCalls(Endpoint):
    stream = "flash_call_cdrs"
    alias = "flash"
    method = "GET"
    path = "/otp/call/list"
    rows = staticmethod(rows)

    def table(self) -> Table:
        return Table("gmtCreate", "id")

    def params(self, req: Request) -> dict:
        return {k: v[0] for k, v in req.query.items() if k in ("start", "end")}

    def answer(self, double, req: Request) -> Reply:
        one = {k: v[0] for k, v in req.query.items()}
        c = double.credentials
        secrets = [one[k] for k in ("appsecret", "secretkey") if k in one]
        if one.get("appkey") != c.flash_call_app_key or not secrets or any(
                s != c.flash_call_app_secret for s in secrets):
            return legacy_json({"code": "1", "msg": "appkey or appsecret error"})
        start, end = one.get("start", ""), one.get("end", "")
        if not WALL_RE.match(start) or not WALL_RE.match(end):
            return legacy_json({"code": "2", "msg": "start and end must be yyyy-MM-dd HH:mm:ss"})
        table = self.of(double)
        with table.lock:
            lo, hi = table.span(start, end)
            blobs = table.blobs[lo:min(hi, lo + 100)]
        return Reply("0", b'{"cdrs":[' + b",".join(blobs) + b'],"code":"0"}')

    def busy(self, double) -> Reply:
        return legacy_json({"code": "3", "msg": "too many requests"})

    def badrow(self) -> Reply:
        return legacy_json({"code": "0", "cdrs": [{"id": None,
                                                    "gmtCreate": "2026-10-01 00:00:00"}]})

    def code(self, code: str) -> Reply:
        return legacy_json({"code": code, "msg": f"injected error {code}"})


ENDPOINT = FlashCalls()
