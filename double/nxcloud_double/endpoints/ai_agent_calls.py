"""AI-agent calls: POST /openapi/aiagent/call/list (the July 2025 OpenAPI file and the newest
wiki page: docs/nxcloud-api/contradictions.md#ai-agent).

Signed, checked, paged and wrapped as the task list (ai_agent_tasks.AiList). Body: `pageNumber`
and `pageSize` (10..1000, as the file says) required; `taskId` required (the newest wiki page):
missing or empty answers 1002, an unknown one an empty page; `startTs`/`endTs` epoch seconds on
the call's `createTs`, both inclusive; exact filters `callId`, `callResult`, `phone` (the callee)
and `userIntent` (`minElapsed`/`maxElapsed`, `tenantId` are accepted and ignored). Rows in a
stable order that is not time order (by callId).

Not documented, chosen here: `callResult` 1 is an answered call (2 busy, 3 no answer, 4
rejected), `callStatus` 2 an ended one; an unanswered call's `callAnswer` is 0 (as the contact
center's "never"); the transfer-to-agent leg (`manual*`, `agentId`, `agentName`) is null when
there was none.
"""

from __future__ import annotations

import math
import random
from typing import ClassVar

from ..data import COUNTRIES, NAMES, hard, number, remark
from ..table import Table
from .ai_agent_tasks import AiList, epoch_s
from .ai_agent_tasks import rows as task_rows

CALLS_PER_TASK = 100  # without `tasks`: ceil(n / 100) tasks, as ai_agent_tasks.rows makes them
INTENTS = ["Interested", "Not interested", "Call back later", "意向客户", "Wrong number", None]
HANGUPS = ["Customer hung up", "AI hung up", "No answer", "Busy", "Transferred to agent"]
SUMMARIES = ["Customer agreed to pay on Friday.", "客户表示下周再联系。",
             "Asked for an email with the offer; prefers WhatsApp.", ""]
MANUAL = ("agentId", "agentName", "manualCallStatus", "manualCallStart", "manualCallAnswer",
          "manualCallEnd", "manualElapsed")
VARIABLES = [("name", "Customer name", "José Ñúñez"), ("amount", "Amount due", "1200.50"),
             ("due", "Due date", "2026-12-01")]


def rows(n: int, *, seed: int, start: str, span_seconds: int, zone=None,
         tasks: list[dict] | None = None, **_) -> list[dict]:
    """n calls of `tasks` (rows of ai_agent_tasks), each created between its task's `createTs`
    and the span's end (epoch seconds). Without `tasks`: the tasks ai_agent_tasks.rows makes
    with the same seed and span, ceil(n / CALLS_PER_TASK) of them, so `--ai-task-rows 20
    --ai-call-rows 2000` gives calls of those 20 tasks (task i depends on the seed and i alone:
    more task rows than that add tasks without calls; fewer leave some calls' tasks unlisted)."""
    if tasks is None:
        tasks = task_rows(math.ceil(n / CALLS_PER_TASK), seed=seed, start=start,
                          span_seconds=span_seconds, zone=zone)
    end = epoch_s(start, zone) + max(1, span_seconds)
    rng = random.Random(f"ai-call-{seed}")
    out = []
    for i in range(n):
        task = rng.choice(tasks)
        created = task["createTs"] + rng.randrange(max(1, end - task["createTs"]))
        answered = rng.random() < 0.6
        started = created + rng.randrange(0, 5)
        ring = rng.randrange(2, 40)
        talk = rng.randrange(5, 600) if answered else 0
        answer = started + ring if answered else 0
        hung_up = (answer or started + ring) + talk
        callee = number(rng, rng.choice(COUNTRIES)[0])
        call = {
            "id": i + 1, "callId": f"{rng.getrandbits(60):015x}{i:x}", "taskId": task["taskId"],
            "autoFlowId": task["autoFlowId"], "autoFlowName": task["autoFlowName"],
            "agentGroupId": task["agentGroupId"],
            "agentGroupName": hard(rng, "Support") if task["agentGroupId"] else None,
            "contactId": f"c-{rng.getrandbits(40):010x}", "calleePhone": callee,
            "callerPhone": f"852{rng.randrange(10**8):08d}",
            "realPhone": rng.choice([None, callee]),
            "callStatus": 2, "callResult": 1 if answered else rng.choice([2, 3, 4]),
            "createTs": created, "callStart": started, "callAnswer": answer,
            "callEnd": hung_up, "opTs": hung_up + rng.randrange(0, 30),
            "callRingTime": ring, "callElapsed": talk,
            "turnTime": rng.randrange(1, 20) if answered else 0,
            "callAudioUrl": f"https://ai-records.example/{i}.wav" if answered else None,
            "callSummary": hard(rng, rng.choice(SUMMARIES)) if answered else None,
            "userIntent": hard(rng, rng.choice(INTENTS)),
            "hangupReason": hard(rng, rng.choice(HANGUPS)),
            "callCallbackUrl": rng.choice([None, "https://hooks.example/ai/call"]),
            "orderCallbackUrl": rng.choice([None, "https://hooks.example/ai/order"]),
            "orderHead": rng.choice([0, 1]), "orderTail": rng.choice([0, 1]),
            "lineId": f"line-{rng.randrange(20)}", "routeId": f"route-{rng.randrange(9)}",
            "sipAddr": f"10.8.{rng.randrange(256)}.{rng.randrange(1, 255)}:5060",
            "sipCode": "200" if answered else rng.choice(["486", "480", "487", "603"]),
            "attributes": [{"key": k, "name": name, "value": hard(rng, v)}
                           for k, name, v in rng.sample(VARIABLES, rng.randrange(0, 4))],
        }
        call.update(dict.fromkeys(MANUAL))  # no transfer to an agent ...
        if answered and rng.random() < 0.15:  # ... or one, inside the AI call
            agent = rng.choice(NAMES[1:])[0]
            leg = answer + rng.randrange(talk)
            leg_answer = min(hung_up, leg + rng.randrange(1, 20))
            call.update({"agentId": f"agent-{agent}", "agentName": agent,
                         "manualCallStatus": rng.choice([1, 2]), "manualCallStart": leg,
                         "manualCallAnswer": leg_answer, "manualCallEnd": hung_up,
                         "manualElapsed": hung_up - leg_answer})
        out.append(remark(rng, call))
    return out


class Calls(AiList):
    stream = "ai_agent_calls"
    alias = "ai_call"
    path = "/openapi/aiagent/call/list"
    rows = staticmethod(rows)
    min_size = 10
    since, until = "startTs", "endTs"
    filters: ClassVar = {"callId": ("callId", str), "callResult": ("callResult", int),
                         "phone": ("calleePhone", str), "userIntent": ("userIntent", str)}

    def expected(self, double, start, end) -> list[dict]:
        """Calls of the tasks created in [start, end), each from its task's creation on."""
        lo, hi = int(start.timestamp()), int(end.timestamp())
        tasks = {t["taskId"]: t["createTs"] for t in double.tables["ai_agent_tasks"].rows()
                 if lo <= t["createTs"] < hi}
        return [c for c in self.of(double).rows()
                if c["taskId"] in tasks and max(lo, tasks[c["taskId"]]) <= c["createTs"] < hi]

    def table(self) -> Table:
        # a task's calls are one range of the sort key: (taskId, createTs)
        return Table(("taskId", "createTs"), "callId", identity=("callId",))

    def problem(self, p: dict) -> str | None:
        task = p.get("taskId")
        if task in (None, ""):
            return "taskId is required"
        if not isinstance(task, str):
            return "Invalid parameter: taskId"
        return super().problem(p)

    def window(self, p: dict) -> tuple:
        lo, hi = super().window(p)
        return (p["taskId"], lo), (p["taskId"], hi)


ENDPOINT = Calls()
