"""AI-agent (NXLink "nxai") call tasks: POST /openapi/aiagent/task/list, and what the call list
(ai_agent_calls.py) shares with it (docs/nxcloud-api/contradictions.md#ai-agent).

Signed headers as the contact center's (signed.py: 1001 missing header, 1002 bizType/action, 1004
ts over 60 s off, 1005 accessKey, 1003 signature) with bizType "100" and action "nxai" (the
newest wiki page); `double.cache["ai_signing"] = ("8", "cc")` makes the double accept another
pair instead (older tooling used bizType 8). JSON body: `pageNumber` (from 1) and `pageSize`
required, `createStartTs`/`createEndTs` epoch seconds on the task's `createTs`, both inclusive,
exact filters `taskName` and `taskStatus`. Success per the file's Page2Response:
{"code": 0, "message", "traceId", "pageNumber", "pageSize", "total", "list": [...]}; with
`double.cache["ai_wrap"] = True` the page fields (pageNumber, pageSize, total, list) come inside
`data` instead: {"code": 0, "message", "traceId", "data": {...}} (the staff client reads
`data.data || data`).
Failures: {"code", "message", "traceId"}; a busy server -1 "Request failed".

Not documented, chosen here: a missing, mistyped (JSON type) or out-of-range parameter answers
1002; the task list takes `pageSize` 1..1000 (the call list's documented upper bound); rows come
in a stable order that is not time order (by taskId); the file's other filters
(min/max answered rate and task quantity, tenantId) are accepted and ignored. `taskStatus` 3 is a
finished task, anything else one still calling (the tap's FINISHED); `startupAt`/`shutdownAt` are
epoch seconds (the file says "timestamp" without the unit it gives the other times).
"""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import ClassVar

from ..data import NAMES, hard, remark
from ..table import Table
from . import signed
from .core import Endpoint, Reply, Request, join, ordered

BIZ_TYPE, ACTION = "100", "nxai"
SIGNING = "ai_signing"  # double.cache key: (bizType, action) accepted instead of the above
WRAP = "ai_wrap"  # double.cache key: True wraps a success in {"code", "message", "data"}
FINISHED = 3
MAX_PAGE_SIZE = 1000
FLOWS = ["Collections bot", "Survey 2025", "OTP 确认", "Renewal reminder", "Welcome call"]
WEEKDAYS = ["1,2,3,4,5", "1,2,3,4,5,6,7", "6,7", ""]


def epoch_s(start: str, zone) -> int:
    return int(dt.datetime.fromisoformat(start).replace(tzinfo=zone).timestamp())


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.2f}%" if whole else "0.00%"


def _stat(rng: random.Random, task: dict) -> dict:
    """statInfo: counts that fit together (answered <= calls, finished <= dialed <= orders)."""
    orders = rng.randrange(50, 5000)
    dialed = orders if task["taskStatus"] == FINISHED else rng.randrange(orders + 1)
    finished = dialed if task["taskStatus"] == FINISHED else rng.randrange(dialed + 1)
    calls = dialed + rng.randrange(dialed // 3 + 1)
    answered = rng.randrange(calls + 1)
    manual, failed = rng.randrange(answered // 10 + 1), rng.randrange(answered // 20 + 1)
    talk, manual_talk = answered * rng.randrange(20, 120), manual * rng.randrange(30, 300)
    return {
        "id": task["id"], "taskId": task["taskId"], "autoFlowId": task["autoFlowId"],
        "createTs": task["createTs"], "totalOrderCount": orders, "dialedOrderCount": dialed,
        "finishOrderCount": finished, "answerOrderCount": min(answered, finished),
        "totalCallCount": calls, "answerCallCount": answered,
        "answerRate": _pct(answered, calls), "dialProgress": _pct(dialed, orders),
        "finishRate": _pct(finished, orders), "totalCallElapsed": talk,
        "avgCallDuration": talk // answered if answered else 0, "manualAnswerCount": manual,
        "manualFailCount": failed, "manualAnswerRate": _pct(manual, manual + failed),
        "manualElapsed": manual_talk, "avgManualDuration": manual_talk // manual if manual else 0,
    }


def rows(n: int, *, seed: int, start: str, span_seconds: int, zone=None, **_) -> list[dict]:
    """n tasks created over the span (`createTs` epoch seconds). Task i depends on (seed, i)
    alone, so the first k tasks of any n >= k are the same: ai_agent_calls.rows relies on it."""
    begin = epoch_s(start, zone)
    out = []
    for i in range(n):
        rng = random.Random(f"ai-task-{seed}-{i}")
        created = begin + rng.randrange(max(1, span_seconds))
        status = FINISHED if rng.random() < 0.6 else rng.choice([0, 1, 2])
        startup = rng.randrange(4)
        flow = rng.randrange(1000, 1100)
        task = {
            "id": 700_000 + i, "taskId": f"{rng.getrandbits(60):015x}{i:x}",
            "taskName": hard(rng, f"Campaign {i + 1}"), "taskStatus": status,
            "taskDesc": hard(rng, rng.choice(["", "Q3 renewals", "回访客户", None])),
            "createTs": created, "agentGroupId": rng.choice([None, "100001", "100002"]),
            "autoFlowId": flow, "autoFlowName": hard(rng, rng.choice(FLOWS)),
            "funcFlag": rng.choice([0, 1]), "importType": rng.choice([1, 2]),
            "maxCall": rng.choice([5, 10, 50]), "maxRingTime": rng.choice([30, 45, 60]),
            "orderMaxCall": rng.choice([1, 2, 3]),
            "pauseReason": rng.choice([1, 2]) if status == 2 else None,
            "replayInterval": rng.choice([0, 300, 1800]), "routeId": f"route-{rng.randrange(9)}",
            "startupType": startup,
            "startupBy": hard(rng, rng.choice(NAMES[1:])[1]) if startup == 1 else None,
            "startupAt": created + rng.randrange(60, 3600) if startup == 2 else None,
            "shutdownAt": created + rng.randrange(3600, 86400) if startup == 2 else None,
            "strategyId": rng.choice([None, f"strategy-{rng.randrange(99)}"]),
            "taskCallbackUrl": rng.choice([None, "https://hooks.example/ai/task"]),
            "taskKeep": rng.choice([0, 1]), "userTaskId": rng.choice([None, f"crm-{i}"]),
            "weekDay": rng.choice(WEEKDAYS), "zoneSecond": rng.choice([28800, 25200, -18000]),
        }
        task["statInfo"] = _stat(rng, task) if status or rng.random() < 0.5 else None
        out.append(remark(rng, task))
    return out


def failure(code: int, message: str) -> Reply:
    body = {"code": code, "message": message, "traceId": "double"}
    return Reply(code, json.dumps(body).encode())


def _int(v, low: int, high: int | None = None) -> bool:
    return type(v) is int and v >= low and (high is None or v <= high)


class AiList(Endpoint):
    """A signed page of AI-agent rows: the checks, filters, paging and envelope both lists share.
    `since`/`until`: the body's inclusive epoch-second bounds on the table's time; `filters`:
    body field -> (row field, JSON type), each an exact match."""

    min_size, max_size = 1, MAX_PAGE_SIZE
    since, until = "createStartTs", "createEndTs"
    filters: ClassVar[dict[str, tuple[str, type]]] = {}

    def params(self, req: Request) -> dict:
        return signed.json_object(req.body) or {}

    def answer(self, double, req: Request) -> Reply:
        c = double.credentials
        biz_type, action = double.cache.get(SIGNING, (BIZ_TYPE, ACTION))
        refused = signed.refusal(double, req.headers, req.body, access_key=c.ai_agent_access_key,
                                 secret=c.ai_agent_access_secret, biz_type=biz_type,
                                 action=action)
        if refused:
            return failure(*refused)
        p = signed.json_object(req.body)
        problem = "Invalid body" if p is None else self.problem(p)
        if problem:
            return failure(1002, problem)
        wanted = {field: p[k] for k, (field, _) in self.filters.items() if p.get(k) is not None}
        number, size = p["pageNumber"], p["pageSize"]
        table = self.of(double)
        with table.lock:
            lo, hi = self.window(p)
            left, right = table.span(lo, hi)
            order = ordered(double, table, (self.stream, *sorted(wanted.items())), left, right,
                            sort=lambda i: table.keys[i][-1],
                            match=(lambda row: all(row.get(f) == v for f, v in wanted.items()))
                            if wanted else None)
            skip = (number - 1) * size
            blobs = [table.blobs[i] for i in order[skip:skip + size]]
        counted = len(order) + self.phantoms(double, lo, hi)
        return self.page(double.cache.get(WRAP, False), number, size, counted, blobs)

    def problem(self, p: dict) -> str | None:
        """Why the body is refused (code 1002), or None."""
        for name in ("pageNumber", "pageSize"):
            if p.get(name) is None:
                return f"{name} is required"
        if not _int(p["pageNumber"], 1):
            return "Invalid parameter: pageNumber"
        if not _int(p["pageSize"], self.min_size, self.max_size):
            return f"pageSize must be {self.min_size}-{self.max_size}"
        for name in (self.since, self.until):
            if p.get(name) is not None and not _int(p[name], 0):
                return f"Invalid parameter: {name}"
        for name, (_, kind) in self.filters.items():
            v = p.get(name)
            if v is not None and (type(v) is not kind):
                return f"Invalid parameter: {name}"
        return None

    def window(self, p: dict) -> tuple:
        """The range of the table's sort key (`span`) the request selects."""
        lo, hi = p.get(self.since), p.get(self.until)
        return (-1 if lo is None else lo), (2**63 if hi is None else hi)

    @staticmethod
    def page(wrap: bool, number: int, size: int, total: int, blobs: list[bytes]) -> Reply:
        head = b'{"code":0,"message":"success","traceId":"double",'
        inner = (f'"pageNumber":{number},"pageSize":{size},"total":{total},"list":'.encode()
                 + join(blobs))
        return Reply(0, head + (b'"data":{' + inner + b"}}" if wrap else inner + b"}"))

    def busy(self, double) -> Reply:
        return failure(-1, "Request failed")

    def skew(self) -> Reply:
        return failure(1004, "Timestamp expired")

    def badrow(self) -> Reply:
        return self.page(False, 1, 10, 1, [b'{"taskName":"a row without its key","createTs":null}'])

    def code(self, code: str) -> Reply:
        return failure(int(code), f"injected error {code}")


class Tasks(AiList):
    stream = "ai_agent_tasks"
    alias = "ai_task"
    path = "/openapi/aiagent/task/list"
    rows = staticmethod(rows)
    filters: ClassVar = {"taskName": ("taskName", str), "taskStatus": ("taskStatus", int)}

    def table(self) -> Table:
        return Table("createTs", "taskId", identity=("taskId",))


ENDPOINT = Tasks()
