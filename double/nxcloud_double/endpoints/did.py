"""DID number call records: POST /api/did/cdr (docs/nxcloud-api/codes.md#did).

JSON body, signed headers (bizType "4", action "cdr"; same checks and codes as the contact
center: 1001 missing header, 1002 bizType/action or parameters, 1004 ts over 60 s off, 1005
accessKey, 1003 signature). One day a request (`date` = yyyy-MM-dd in the double's zone),
`pageSize` 1..999, optional filters didNumber, callNumber, type; no retention or rate limit is
documented. Success {"code":0,"data":{"totalRow","pageNumber","totalPage","pageSize","list"}},
rows in a stable order that is not time order.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random

from ..data import COUNTRIES, clock, hard, later, number, remark, unset, wall
from ..table import Table
from ..wire import Wire
from . import signed
from .core import Endpoint, Reply, Request, join, ordered

BIZ_TYPE, ACTION = "4", "cdr"
MAX_PAGE_SIZE = 999
FILTERS = {"didNumber": "number", "callNumber": "callNumber", "type": "callType"}


ENDS = [("-7", "Caller Hang-up"), ("-8", "Callee Hang-up"), ("486", "Busy Here"),
        ("480", "Temporarily Unavailable"), ("487", "Request Terminated")]


def rows(n: int, *, seed: int, start: str, span_seconds: int, first_id: int = 1, **_,
         ) -> list[dict]:
    """n DID rows: feeType 0 bills whole minutes (60+60), 1 by the second (1+1)."""
    rng = random.Random(f"did-{seed}")
    out = []
    for i, started in enumerate(clock(rng, n, start, span_seconds)):
        cc, country = rng.choice(COUNTRIES)
        answered = rng.random() < 0.8
        duration = rng.randrange(1, 900) if answered else 0
        fee_type = rng.choice([0, 1])
        minutes = math.ceil(duration / 60) if fee_type == 0 else round(duration / 60, 2)
        unit = rng.choice([0.012, 0.055, 0.1, 0.3])
        reason, reason_name = rng.choice(ENDS)
        out.append(remark(rng, {
            "id": first_id + i, "startTime": wall(started),
            "endTime": wall(later(started, duration + rng.randrange(0, 20)))
            if rng.random() < 0.97 else unset(rng),
            "number": f"66{rng.randrange(10**8, 10**9)}", "callNumber": number(rng, cc),
            "callType": rng.choice([0, 0, 0, 1]), "countryName": country,
            "callDuration": duration, "feeType": fee_type, "feeDurationMinute": minutes,
            "callPriceUnit": unit, "callPrice": round(unit * minutes, 4),
            "endDirection": rng.choice([0, 1, 2]), "endReason": reason,
            "endReasonName": hard(rng, reason_name),
            "callerIp": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
            "calleeIp": rng.choice([None, "127.0.0.1", f"172.16.{rng.randrange(256)}.9"]),
        }))
    return out


def failure(code: int, message: str) -> Reply:
    return Reply(code, json.dumps({"code": code, "data": None, "message": message}).encode())


def page(total: int, number: int, size: int, blobs: list[bytes]) -> Reply:
    head = (f'{{"code":0,"data":{{"totalRow":{total},"pageNumber":{number},'
            f'"totalPage":{-(-total // size)},"pageSize":{size},"list":')
    return Reply(0, head.encode() + join(blobs) + b'},"message":"Request successful"}')


class Did(Endpoint):
    stream = "did_cdrs"
    alias = "did"
    path = "/api/did/cdr"
    rows = staticmethod(rows)

    def table(self) -> Table:
        wire = Wire(self.stream, {"callDuration": int, "feeDurationMinute": float,
                                  "callPriceUnit": float, "callPrice": float})
        return Table("startTime", "id", identity=("id",), wire=wire)

    def params(self, req: Request) -> dict:
        return signed.json_object(req.body) or {}

    def answer(self, double, req: Request) -> Reply:
        c = double.credentials
        refused = signed.refusal(double, req.headers, req.body, access_key=c.did_access_key,
                                 secret=c.did_access_secret, biz_type=BIZ_TYPE, action=ACTION)
        if refused:
            return failure(*refused)
        p = self.params(req)
        day, size, page_no = _day(p.get("date")), p.get("pageSize"), p.get("page")
        filters = {k: p[k] for k in FILTERS if p.get(k) not in (None, "")}
        if (day is None or not _int(size, 1, MAX_PAGE_SIZE) or not _int(page_no, 1)
                or not all(_int(v, 0, 1) if k == "type" else isinstance(v, str)
                           for k, v in filters.items())):
            return failure(1002, "Parameter error")
        table = self.of(double)
        with table.lock:
            left, right = table.span(f"{day} 00:00:00", f"{day} 23:59:59")
            match = (lambda row: all(row.get(FILTERS[k]) == v for k, v in filters.items())
                     ) if filters else None
            order = ordered(double, table, (self.stream, *sorted(filters.items())), left, right,
                            match=match)
            skip = (page_no - 1) * size
            blobs = [table.blobs[i] for i in order[skip:skip + size]]
        counted = len(order) + self.phantoms(double, f"{day} 00:00:00", f"{day} 23:59:59")
        return page(counted, page_no, size, blobs)

    def busy(self, double) -> Reply:
        return failure(-1, "Request failed")

    def skew(self) -> Reply:
        return failure(1004, "Timestamp expired")

    def badrow(self) -> Reply:
        return page(1, 1, 10, [b'{"number":"a row without id","startTime":null}'])

    def code(self, code: str) -> Reply:
        return failure(int(code), f"injected error {code}")


def _int(v, low: int, high: int | None = None) -> bool:
    return type(v) is int and v >= low and (high is None or v <= high)


def _day(text) -> dt.date | None:
    if not isinstance(text, str) or len(text) != 10:
        return None
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        return None


ENDPOINT = Did()
