"""Contact-center agents: POST /saas/cc/openapi/agent/page (from an excerpt of the current wiki:
docs/nxcloud-api/README.md), and what the agent-group list (cc_agent_groups.py) shares with it.

Signed headers exactly as cc_cdrs (bizType 8, action cc, the cc keys; 1001-1005 as signed.py
checks them). JSON body: `tenantId` (required: missing or not this double's TENANT answers 1002),
`page` (from 1) and `size` (1..200), `userName` (an exact match). Success
{"code": 0, "msg", "total", "data": [...]}, rows by `userName` (not by time). Refusals use the
contact center's envelope (cc.py).

Not documented, chosen here: `page` and `size` may be left out or null (1 and 10); a value of
the wrong JSON type, `page` < 1 or `size` outside 1..200 answers 1002; `userName` matches exactly
(the excerpt calls it a filter, not a search); `tenantId` is compared as text. Times
(`gmtCreate`, `gmtModified`) are epoch milliseconds, as every time of the contact-center CDRs
(the excerpt does not show their form).
"""

from __future__ import annotations

import datetime as dt
import random
from typing import ClassVar

from ..data import NAMES, hard, remark
from ..table import Table
from . import signed
from .cc import ContactCenter as _Cc
from .cc import checked_body
from .core import Endpoint, Reply, Request, legacy_json

TENANT = "demo-tenant"  # the team id the double's tenant has (the tap's cc_tenant_id)
MAX_SIZE = 200
DEFAULT_SIZE = 10
COUNTRIES = ["HK", "ID", "IN", "BR", "VN", "TH", "MX", "US"]
QUEUES = ["Sales", "Support", "VIP 客服", "Billing", "Night shift"]
ENDPOINT_NAMES = ["WebRTC", "SIP phone", "NXLink app", "Browser (Chrome)"]
NICKS = ["Agent Smith", "客服小王", "Zoë", "María José", "Operator 7"]


def epoch_ms(start: str, zone) -> int:
    return int(dt.datetime.fromisoformat(start).replace(tzinfo=zone).timestamp() * 1000)


def rows(n: int, *, seed: int, start: str, span_seconds: int, zone=None, **_) -> list[dict]:
    """n agents: first the agents cc_cdrs rows name (data.NAMES, with their nicknames), then
    more; created over the span (epoch ms), some modified later."""
    rng = random.Random(f"cc-agent-{seed}")
    begin, span_ms = epoch_ms(start, zone), max(1, span_seconds * 1000)
    known = NAMES[1:]
    out = []
    for i in range(n):
        user, nick = known[i] if i < len(known) else (f"NX{10**7 + i}", rng.choice(NICKS))
        created = begin + rng.randrange(span_ms)
        recording = rng.random() < 0.7
        out.append(remark(rng, {
            "userName": user, "nickName": hard(rng, nick), "sipNumber": str(8001 + i),
            "status": rng.choice([0, 1, 1, 1]), "recording": recording,
            "recordingStorageDays": rng.choice([30, 90, 180]) if recording else 0,
            "endPointName": hard(rng, rng.choice(ENDPOINT_NAMES)),
            "allowCountry": rng.sample(COUNTRIES, rng.randrange(1, 4)),
            "queueName": [hard(rng, q) for q in rng.sample(QUEUES, rng.randrange(0, 3))],
            "gmtCreate": created,
            "gmtModified": created if rng.random() < 0.5
            else created + rng.randrange(max(1, begin + span_ms - created)),
        }))
    return out


class Directory(Endpoint):
    """A signed page of a tenant's contact-center objects, ordered by their unique `key`;
    `search`: the body may ask for one key value (agents' `userName`)."""

    key = "userName"
    search = True
    settings: ClassVar[dict[str, str]] = {"cc_tenant_id": TENANT}

    def table(self) -> Table:
        return Table(self.key, (), identity=(self.key,))

    def params(self, req: Request) -> dict:
        return signed.json_object(req.body) or {}

    def answer(self, double, req: Request) -> Reply:
        p = checked_body(double, req)
        if isinstance(p, Reply):
            return p
        problem = self.problem(p)
        if problem:
            return legacy_json({"code": 1002, "msg": problem})
        page, size = p.get("page") or 1, p.get("size") or DEFAULT_SIZE
        name = p.get(self.key) if self.search else None
        table = self.of(double)
        with table.lock:
            left, right = table.span(name, name) if name else (0, len(table))
            skip = left + (page - 1) * size
            blobs = table.blobs[skip:min(right, skip + size)]
        head = f'{{"code":0,"msg":"Request succeeded","total":{right - left},"data":['
        return Reply(0, head.encode() + b",".join(blobs) + b"]}")

    def problem(self, p: dict) -> str | None:
        """Why the body is refused (code 1002), or None."""
        tenant = p.get("tenantId")
        if tenant in (None, ""):
            return "tenantId is required"
        if str(tenant) != TENANT:
            return "Invalid tenantId"
        for name, high in (("page", None), ("size", MAX_SIZE)):
            v = p.get(name)
            if v is not None and (type(v) is not int or v < 1 or (high and v > high)):
                return f"Invalid parameter: {name}"
        name = p.get(self.key) if self.search else None
        if name is not None and not isinstance(name, str):
            return f"Invalid parameter: {self.key}"
        return None

    busy = _Cc.busy  # the contact center's faults, in its envelope
    skew = _Cc.skew
    code = _Cc.code

    def badrow(self) -> Reply:
        return legacy_json({"code": 0, "msg": "Request succeeded", "total": 1,
                            "data": [{"nickName": f"a row without {self.key}"}]})


class Agents(Directory):
    stream = "cc_agents"
    alias = "cc_agent"
    path = "/saas/cc/openapi/agent/page"
    rows = staticmethod(rows)


ENDPOINT = Agents()
