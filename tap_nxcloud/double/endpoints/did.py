"""DID number call records: POST /api/did/cdr (vendor `query-did-number-call-records.md`).

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

from ..table import Table
from ..wire import Wire
from . import signed
from .base import Endpoint, Reply, Request, join, ordered

BIZ_TYPE, ACTION = "4", "cdr"
MAX_PAGE_SIZE = 999
FILTERS = {"didNumber": "number", "callNumber": "callNumber", "type": "callType"}


def table() -> Table:
    wire = Wire("did_cdrs", {"callDuration": int, "feeDurationMinute": float,
                             "callPriceUnit": float, "callPrice": float})
    return Table("startTime", "id", identity=("id",), wire=wire)


def failure(code: int, message: str) -> Reply:
    return Reply(code, json.dumps({"code": code, "data": None, "message": message}).encode())


def page(total: int, number: int, size: int, blobs: list[bytes]) -> Reply:
    head = (f'{{"code":0,"data":{{"totalRow":{total},"pageNumber":{number},'
            f'"totalPage":{-(-total // size)},"pageSize":{size},"list":')
    return Reply(0, head.encode() + join(blobs) + b'},"message":"Request successful"}')


class Did(Endpoint):
    stream = "did_cdrs"
    path = "/api/did/cdr"

    def params(self, req: Request) -> dict:
        return signed.json_object(req.body) or {}

    def answer(self, double, req: Request) -> Reply:
        c = double.credentials
        refused = signed.refusal(double, req.headers, req.body, access_key=c.did_access_key,
                                 secret=c.did_access_secret, biz_type=BIZ_TYPE, action=ACTION)
        if refused:
            return failure(*refused)
        p = self.params(req)
        day, size, number = _day(p.get("date")), p.get("pageSize"), p.get("page")
        filters = {k: p[k] for k in FILTERS if p.get(k) not in (None, "")}
        if (day is None or not _int(size, 1, MAX_PAGE_SIZE) or not _int(number, 1)
                or not all(_int(v, 0, 1) if k == "type" else isinstance(v, str)
                           for k, v in filters.items())):
            return failure(1002, "Parameter error")
        table = double.did
        with table.lock:
            left, right = table.span(f"{day} 00:00:00", f"{day} 23:59:59")
            match = (lambda row: all(row.get(FILTERS[k]) == v for k, v in filters.items())
                     ) if filters else None
            order = ordered(double, table, (self.stream, *sorted(filters.items())), left, right,
                            match=match)
            skip = (number - 1) * size
            blobs = [table.blobs[i] for i in order[skip:skip + size]]
        return page(len(order), number, size, blobs)

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
