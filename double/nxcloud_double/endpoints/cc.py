"""Contact-center CDRs: POST /saas/cc/openapi/cdr/page, signed headers (bizType 8, action cc),
epoch-second bounds read against millisecond rows as `cc_bounds` says, pages of at most 100, no
total, rows in an order that is not time order (docs/nxcloud-api/time-and-limits.md)."""

from __future__ import annotations

import datetime as dt
import random

from ..data import NAMES, hard, remark
from ..table import Table
from . import signed
from .core import Endpoint, Reply, Request, legacy_json, ordered

BIZ_TYPE, ACTION = "8", "cc"  # the page's header table says 6; its text and newer docs say 8
# How the server may read its second bounds against millisecond rows (undocumented upstream).
BOUNDS = ("inclusive", "exclusive-end", "exclusive", "seconds")
INTS = {"startTime": (0, None), "endTime": (0, None), "size": (1, 100), "page": (1, None),
        "answered": (0, 2), "direction": (0, 3)}


def rows(n: int, *, seed: int, start: str | None = None, span_seconds: int | None = None,
         zone: dt.tzinfo | None = None, start_ms: int | None = None, span_ms: int | None = None,
         prefix: str = "", **_) -> list[dict]:
    """n contact-center rows with `startTime` (epoch ms) spread over the span (given as a wall
    start in `zone` and seconds, or directly in milliseconds)."""
    if start_ms is None:
        start_ms = int(dt.datetime.fromisoformat(start).replace(tzinfo=zone).timestamp() * 1000)
        span_ms = span_seconds * 1000
    rng = random.Random(f"cc-{seed}-{prefix}")
    times = sorted(start_ms + rng.randrange(span_ms) for _ in range(n))
    out = []
    for i, begin in enumerate(times):
        answered = rng.random() < 0.7
        agent, nick = rng.choice(NAMES[1:]) if answered else rng.choice(NAMES)
        queue_in = begin + rng.randrange(0, 200)
        ring = queue_in + rng.randrange(1000, 30000)
        answer = ring + rng.randrange(1000, 8000) if answered else 0
        end = (answer or ring) + rng.randrange(2000, 600000)
        out.append(remark(rng, {
            "agentName": agent, "agentNickName": hard(rng, nick), "answered": answered,
            "answerTime": answer, "callDuration": (end - answer) // 1000 if answered else 0,
            "callee": f"852{rng.randrange(10**8):08d}", "caller": f"852{rng.randrange(10**8):08d}",
            "callId": f"{prefix}{rng.getrandbits(100):025x}{i:x}", "direction": rng.randrange(3),
            "dtmfKeys": rng.choice([None, "1", "1,2", "0,#"]), "endTime": end,
            "hangupBy": rng.randrange(3), "hangupCode": rng.choice([1001, 1103, 1200]),
            "callStatus": "Normal termination" if answered else "Missed call",
            "hangupReason": hard(rng, rng.choice(["Agent hung up", "User abandoned the queue",
                                                  "Caller hung up"])),
            "inQueueTime": queue_in, "leaveMsgUrl": None, "orderId": "", "other": None,
            "intent": None, "outQueueTime": ring, "queueDuration": ring - queue_in,
            "recordUrl": f"https://records.example/{i}.mp3" if answered else None,
            "ringDuration": (answer - ring) // 1000 if answered else 0,
            "ringTime": ring, "startTime": begin, "taskId": "",
            "totalCustomerPrice": rng.choice([0.0, 0.035, 0.07, 1.25]),
        }))
    return out


class ContactCenter(Endpoint):
    stream = "cc_cdrs"
    alias = "cc"
    path = "/saas/cc/openapi/cdr/page"
    rows = staticmethod(rows)

    def table(self) -> Table:
        return Table("startTime", "callId")

    def params(self, req: Request) -> dict:
        return {k: v for k, v in (signed.json_object(req.body) or {}).items() if k != "name"}

    def answer(self, double, req: Request) -> Reply:
        p = checked_body(double, req)
        if isinstance(p, Reply):
            return p
        for name, label in (("startTime", "Start"), ("endTime", "End")):
            if p.get(name) is None:
                return legacy_json({"code": 41000, "msg": f"{label} date cannot be empty"})
        for name, (low, high) in INTS.items():
            v = p.get(name)
            if name in ("size", "page") and v is None:
                return legacy_json({"code": 1002, "msg": f"{name} is required"})
            if v is not None and (type(v) is not int or v < low or (high and v > high)):
                return legacy_json({"code": 1002, "msg": f"Invalid parameter: {name}"})
        return Reply(0, b'{"reqId":"double","code":0,"msg":"Request succeeded","data":['
                     + b",".join(self._query(double, p)) + b"]}")

    def _query(self, double, p: dict) -> list[bytes]:
        s, e = p["startTime"] * 1000, p["endTime"] * 1000
        lo, hi, inclusive = {"inclusive": (s, e, True), "exclusive-end": (s, e, False),
                             "exclusive": (s + 1, e, False),
                             "seconds": (s, e + 999, True)}[double.cc_bounds]
        table = self.of(double)
        with table.lock:
            left, right = table.span(lo, hi, include_hi=inclusive)
            filters = {k: p[k] for k in ("direction", "answered") if p.get(k)}
            # a stable order that is not time order: by callId
            order = ordered(double, table, (self.stream, *filters.items()), left, right,
                            sort=lambda i: table.keys[i][1],
                            match=(lambda row: _match(row, filters)) if filters else None)
            size, page = p["size"], p["page"]
            return [table.blobs[i] for i in order[(page - 1) * size: page * size]]

    def busy(self, double) -> Reply:
        return legacy_json({"code": 88 if len(double.log) % 2 else 99, "msg": "System error",
                            "data": {}})

    def skew(self) -> Reply:
        return legacy_json({"code": 1004, "msg": "Timestamp expired", "data": {}})

    def badrow(self) -> Reply:
        return legacy_json({"code": 0, "data": [{"callId": "", "startTime": 1790784661172}]})

    def code(self, code: str) -> Reply:
        return legacy_json({"code": int(code), "msg": f"injected error {code}"})


def checked_body(double, req: Request) -> dict | Reply:
    """What every contact-center endpoint checks first, in the API's order: the signature,
    then a JSON object body. The body, or the refusal to send."""
    c = double.credentials
    refused = signed.refusal(double, req.headers, req.body, access_key=c.cc_access_key,
                             secret=c.cc_access_secret, biz_type=BIZ_TYPE, action=ACTION)
    if refused:
        return legacy_json({"code": refused[0], "msg": refused[1]})
    p = signed.json_object(req.body)
    if p is None:
        return legacy_json({"code": 1002, "msg": "Invalid body"})
    return p


def _match(row: dict, filters: dict) -> bool:
    # request direction 1/2/3 = response 0/1/2; answered 1 unanswered, 2 answered
    if "direction" in filters and row["direction"] != filters["direction"] - 1:
        return False
    return not ("answered" in filters and row["answered"] != (filters["answered"] == 2))


ENDPOINT = ContactCenter()
