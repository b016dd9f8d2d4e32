"""The API double's seven newer endpoints (email, SMS statement, balance, contact-center agents
and groups, AI-agent tasks and calls) over HTTP, as a client sees them; their generators; and
their schema files against what the double sends.

Only `requests` talks to the double here (no tap code), with its own signer
(test_double_cdr_endpoints.sign).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
import requests

from nxcloud_double import ApiDouble, Faults
from nxcloud_double.data import HARD_TEXTS, WALL
from nxcloud_double.endpoints import BY_STREAM
from nxcloud_double.endpoints.ai_agent_tasks import FINISHED, SIGNING, WRAP
from nxcloud_double.endpoints.balances import BALANCE
from nxcloud_double.endpoints.cc_agents import TENANT
from nxcloud_double.endpoints.sms_daily_reports import OFFSETS

from .test_double_cdr_endpoints import sign

ZONE = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime.now(ZONE).replace(microsecond=0)
DAY = (NOW - dt.timedelta(days=3)).replace(hour=0, minute=0, second=0)  # inside SMS retention
SPAN = {"start": DAY.strftime(WALL), "span_seconds": 2 * 86400, "zone": ZONE}
N_EMAIL, N_SMS, N_AGENT, N_GROUP, N_TASK, N_CALL = 45, 80, 13, 7, 12, 400
OMIT = object()  # a body field left out
EMAIL, REPORT, BAL = "/api/email/dr", "/api/sms/getSmsReport", "/api/common/getBalance"
AGENTS, GROUPS = "/saas/cc/openapi/agent/page", "/saas/cc/openapi/agentGroup/page"
TASKS, CALLS = "/openapi/aiagent/task/list", "/openapi/aiagent/call/list"
GEN = {alias: BY_STREAM[stream].rows for alias, stream in (
    ("email", "email_cdrs"), ("agent", "cc_agents"), ("group", "cc_agent_groups"),
    ("task", "ai_agent_tasks"), ("call", "ai_agent_calls"), ("sms", "sms_cdrs"))}


def fill(d: ApiDouble) -> ApiDouble:
    d.email.add(GEN["email"](N_EMAIL, seed=1, **SPAN))
    d.sms.add(GEN["sms"](N_SMS, seed=1, **SPAN))
    d.cc_agent.add(GEN["agent"](N_AGENT, seed=1, **SPAN))
    d.cc_group.add(GEN["group"](N_GROUP, seed=1, **SPAN))
    tasks = GEN["task"](N_TASK, seed=1, **SPAN)
    d.ai_task.add(tasks)
    d.ai_call.add(GEN["call"](N_CALL, seed=1, tasks=tasks, **SPAN))
    return d


@pytest.fixture
def double():
    with ApiDouble(zone=ZONE) as d:
        yield fill(d)


# --- clients -----------------------------------------------------------------------------------
def _json(fields: dict) -> dict:
    return {k: v for k, v in fields.items() if v is not OMIT}


def email(d: ApiDouble, **body) -> dict:
    c = d.credentials
    payload = _json({"appKey": c.email_app_key, "secretKey": c.email_app_secret, **body})
    return requests.post(d.url + EMAIL, json=payload, timeout=10).json()


def form(d: ApiDouble, path: str, **fields) -> dict:
    c = d.credentials
    data = _json({"appkey": c.sms_app_key, "secretkey": c.sms_app_secret, **fields})
    return requests.post(d.url + path, data=data, timeout=10).json()


def report(d: ApiDouble, first: dt.date, last: dt.date | None = None, **fields) -> dict:
    return form(d, REPORT, **{"start_date": str(first), "end_date": str(last or first),
                              **fields})


def signed(d: ApiDouble, path: str, product: str, biz: str, action: str, body: dict, *,
           secret: str | None = None, skew_ms: int = 0, drop: str = "",
           headers: dict | None = None) -> dict:
    """A signed request (headers override the signed ones before signing, as a client with that
    config would send them)."""
    key = getattr(d.credentials, f"{product}_access_key")
    raw = json.dumps(_json(body), ensure_ascii=False).encode()
    ts = str(int(time.time() * 1000) + skew_ms)
    h = {"accessKey": key, "ts": ts, "bizType": biz, "action": action,
         "Content-Type": "application/json", **(headers or {})}
    h["sign"] = sign(h["accessKey"], secret or getattr(d.credentials, f"{product}_access_secret"),
                     ts, raw, h["bizType"], h["action"])
    h.pop(drop, None)
    return requests.post(d.url + path, data=raw, headers=h, timeout=10).json()


def cc(d: ApiDouble, path: str = AGENTS, **kw) -> dict:
    body = {"tenantId": TENANT, "page": 1, "size": 10}
    body.update({k: v for k, v in kw.items() if k not in ("secret", "skew_ms", "drop", "headers")})
    opts = {k: v for k, v in kw.items() if k in ("secret", "skew_ms", "drop", "headers")}
    return signed(d, path, "cc", "8", "cc", body, **opts)


def ai(d: ApiDouble, path: str = TASKS, *, biz: str = "100", action: str = "nxai", **kw) -> dict:
    body = {"pageNumber": 1, "pageSize": 10}
    body.update({k: v for k, v in kw.items() if k not in ("secret", "skew_ms", "drop", "headers")})
    opts = {k: v for k, v in kw.items() if k in ("secret", "skew_ms", "drop", "headers")}
    return signed(d, path, "ai_agent", biz, action, body, **opts)


def calls(d: ApiDouble, task: str, **kw) -> dict:
    return ai(d, CALLS, taskId=task, **kw)


def pages(fetch, rows_of, total_of) -> tuple[list[dict], set[int], int]:
    """Rows of pages 1, 2, ... until an empty one; the totals announced; the pages asked."""
    rows, totals = [], set()
    for page in range(1, 1000):
        reply = fetch(page)
        totals.add(total_of(reply))
        got = rows_of(reply)
        if not got:
            return rows, totals, page
        rows += got
    raise AssertionError("no end")


def sms_days(d: ApiDouble) -> list[dt.date]:
    return sorted({dt.date.fromisoformat(r["date"][:10]) for r in d.sms.rows()})


def statement(rows: list[dict]) -> dict:
    """What the statement of these SMS rows must say, counted here on its own."""
    billed = [r for r in rows if r["billing_status"] == "Yes"]
    return {"total_fee": round(math.fsum(r["billing_price"] * r["billing_size"] for r in billed),
                               4),
            "submit_size": len(rows), "success_size": sum(r["dr"] == "DELIVRD" for r in rows),
            "price_size": len(billed)}


# --- email -------------------------------------------------------------------------------------
def test_email_pages_newest_first_and_echo_the_secret(double):
    c = double.credentials
    first = email(double, size=7)
    assert first["code"] == 200 and first["msg"] == "success"
    meta = {k: v for k, v in first["result"].items() if k != "records"}
    assert meta == {"total": N_EMAIL, "size": 7, "current": 1, "orders": [],
                    "appKey": c.email_app_key, "secretKey": c.email_app_secret,
                    "messageId": None, "startTime": None, "endTime": None, "sortType": 0,
                    "searchCount": True, "pages": math.ceil(N_EMAIL / 7)}
    rows, totals, asked = pages(lambda n: email(double, size=7, current=n),
                                lambda r: r["result"]["records"], lambda r: r["result"]["total"])
    assert totals == {N_EMAIL} and asked == math.ceil(N_EMAIL / 7) + 1
    assert rows == double.email.rows()[::-1]  # exactly as held, newest first
    times = [r["sendTime"] for r in rows]
    assert times == sorted(times, reverse=True) and all("T" in t for t in times)
    default = email(double)["result"]
    assert (default["size"], default["current"], len(default["records"])) == (10, 1, 10)
    assert all("secretKey" not in e["params"] and "appKey" not in e["params"]
               for e in double.requests("email_cdrs"))


def test_email_bounds_are_inclusive_optional_wall_times_and_message_id_filters(double):
    held = double.email.rows()
    lo, hi = held[5]["sendTime"], held[30]["sendTime"]
    inside = [r for r in held if lo <= r["sendTime"] <= hi][::-1]
    got = email(double, startTime=lo.replace("T", " "), endTime=hi.replace("T", " "), size=100)
    assert got["result"]["records"] == inside and got["result"]["total"] == len(inside)
    assert got["result"]["startTime"] == lo.replace("T", " ")
    since = email(double, startTime=lo.replace("T", " "), endTime=None, size=100)["result"]
    assert since["total"] == sum(r["sendTime"] >= lo for r in held)
    until = email(double, endTime=hi.replace("T", " "), size=100)["result"]
    assert until["total"] == sum(r["sendTime"] <= hi for r in held)
    one = email(double, messageId=held[3]["messageId"])["result"]
    assert one["records"] == [held[3]] and one["messageId"] == held[3]["messageId"]
    assert email(double, startTime=hi.replace("T", " "), endTime=lo.replace("T", " "))[
        "result"]["total"] == 0


@pytest.mark.parametrize(("body", "code"), [
    ({"secretKey": "wrong"}, 601101),
    ({"appKey": "someone-else"}, 601101),
    ({"secretKey": OMIT}, 601101),
    ({"size": 101}, 400),
    ({"size": 0}, 400),
    ({"size": "10"}, 400),
    ({"current": 0}, 400),
    ({"startTime": DAY.strftime("%Y-%m-%dT%H:%M:%S")}, 400),
    ({"endTime": DAY.strftime("%Y-%m-%d %H:%M")}, 400),
    ({"startTime": ""}, 400),
    ({"messageId": 5}, 400),
])
def test_email_refusals(double, body, code):
    reply = email(double, **body)
    assert reply["code"] == code and reply["result"] is None and reply["msg"]


def test_email_takes_only_a_json_object(double):
    c = double.credentials
    keys = {"appKey": c.email_app_key, "secretKey": c.email_app_secret}
    as_form = requests.post(double.url + EMAIL, data=keys, timeout=10).json()
    as_list = requests.post(double.url + EMAIL, json=[keys], timeout=10).json()
    assert as_form["code"] == as_list["code"] == 400


# --- SMS statement -----------------------------------------------------------------------------
def test_sms_statement_is_the_count_of_that_days_sms_rows(double):
    held = double.sms.rows()
    days = sms_days(double)
    assert len(days) >= 2
    for day in days:
        mine = [r for r in held if r["date"].startswith(str(day))]
        assert report(double, day) == {"code": "0", "row": [statement(mine)]}
    both = report(double, days[0], days[-1])["row"][0]
    assert both == statement(held)
    empty = report(double, days[0] - dt.timedelta(days=5))
    assert empty == {"code": "0", "row": [
        {"total_fee": 0, "submit_size": 0, "success_size": 0, "price_size": 0}]}


def test_sms_statement_follows_delivery_reports_and_offsets_make_it_disagree(double):
    pending = next(r for r in double.sms.rows() if r["dr"] is None)
    day = dt.date.fromisoformat(pending["date"][:10])
    before = report(double, day)["row"][0]
    double.sms.add([{**pending, "dr": "DELIVRD", "dr_status": "Successful",
                     "billing_status": "Yes", "dr_time": pending["date"]}])
    after = report(double, day)["row"][0]
    assert after["success_size"] == before["success_size"] + 1
    assert after["price_size"] == before["price_size"] + 1
    assert after["submit_size"] == before["submit_size"]
    double.cache[OFFSETS] = {str(day): 1}
    assert report(double, day)["row"][0] == {**after, "submit_size": after["submit_size"] + 1}
    double.cache[OFFSETS] = {str(day): {"success_size": -1, "total_fee": 0.5}}
    off = report(double, day)["row"][0]
    assert off["success_size"] == after["success_size"] - 1
    assert off["total_fee"] == round(after["total_fee"] + 0.5, 4)
    other = next(d for d in sms_days(double) if d != day)
    assert report(double, other)["row"][0] == statement(
        [r for r in double.sms.rows() if r["date"].startswith(str(other))])


@pytest.mark.parametrize(("fields", "code", "info"), [
    ({"start_date": "20261001"}, "1", "params invalid"),
    ({"end_date": OMIT}, "1", "params invalid"),
    ({"end_date": str(DAY.date() - dt.timedelta(days=1))}, "1", "params invalid"),
    ({"secretkey": "wrong"}, "2", "keys invalid"),
])
def test_sms_statement_refusals(double, fields, code, info):
    assert report(double, DAY.date(), **fields) == {"code": code, "info": info}


# --- balance -----------------------------------------------------------------------------------
def test_balance_answers_strings_and_takes_the_sms_keys(double):
    assert form(double, BAL) == {"code": "0", "balance": "3788.32", "credit_balance": "500"}
    double.cache[BALANCE] = {"balance": 12.5, "credit_balance": "0"}
    assert form(double, BAL) == {"code": "0", "balance": "12.5", "credit_balance": "0"}
    assert form(double, BAL, secretkey="wrong") == {"code": "2", "info": "keys invalid"}
    assert form(double, BAL, appkey=OMIT) == {"code": "1", "info": "params invalid"}
    c = double.credentials
    as_json = requests.post(double.url + BAL, json={"appkey": c.sms_app_key,
                                                    "secretkey": c.sms_app_secret}, timeout=10)
    assert as_json.json() == {"code": "1", "info": "params invalid"}


# --- contact-center agents and groups ----------------------------------------------------------
@pytest.mark.parametrize(("path", "alias", "key", "n"), [
    (AGENTS, "cc_agent", "userName", N_AGENT), (GROUPS, "cc_group", "groupNo", N_GROUP)])
def test_cc_directory_pages_cover_the_table_in_key_order(double, path, alias, key, n):
    first = cc(double, path, size=4)
    assert first["code"] == 0 and first["total"] == n and len(first["data"]) == 4
    rows, totals, asked = pages(lambda p: cc(double, path, size=4, page=p),
                                lambda r: r["data"], lambda r: r["total"])
    assert totals == {n} and asked == math.ceil(n / 4) + 1
    assert rows == getattr(double, alias).rows()  # exactly as held, by key
    assert len({r[key] for r in rows}) == n
    defaults = cc(double, path, page=OMIT, size=OMIT)
    assert len(defaults["data"]) == min(n, 10)
    assert cc(double, path, page=None, size=None)["data"] == defaults["data"]
    assert cc(double, path, size=200)["data"] == rows  # and no queueName asked for, ever


def test_cc_agents_are_the_agents_cc_cdrs_names_and_filter_by_user_name(double):
    agents = double.cc_agent.rows()
    assert len({a["sipNumber"] for a in agents}) == N_AGENT
    cdr_agents = {r["agentName"] for r in BY_STREAM["cc_cdrs"].rows(
        300, seed=1, start=DAY.strftime(WALL), span_seconds=86400, zone=ZONE)} - {None}
    assert cdr_agents <= {a["userName"] for a in agents}
    one = cc(double, userName=agents[2]["userName"])
    assert one["total"] == 1 and one["data"] == [agents[2]]
    assert cc(double, userName="NX-nobody") == {"code": 0, "msg": "Request succeeded",
                                                 "total": 0, "data": []}
    assert all(type(a["gmtCreate"]) is int and a["gmtModified"] >= a["gmtCreate"]
               for a in agents)


@pytest.mark.parametrize("path", [AGENTS, GROUPS])
@pytest.mark.parametrize(("kwargs", "code"), [
    ({"tenantId": OMIT}, 1002),
    ({"tenantId": "someone-elses-tenant"}, 1002),
    ({"size": 201}, 1002),
    ({"size": 0}, 1002),
    ({"page": 0}, 1002),
    ({"page": "1"}, 1002),
    ({"secret": "wrong"}, 1003),
    ({"headers": {"accessKey": "someone-else"}}, 1005),
    ({"headers": {"bizType": "100", "action": "nxai"}}, 1002),
    ({"drop": "sign"}, 1001),
    ({"skew_ms": -61_000}, 1004),
])
def test_cc_directory_refusals(double, path, kwargs, code):
    reply = cc(double, path, **kwargs)
    assert reply["code"] == code and reply["msg"] and "total" not in reply


# --- AI agent ----------------------------------------------------------------------------------
def test_ai_tasks_pages_bounds_and_filters(double):
    held = double.ai_task.rows()
    first = ai(double, pageSize=5)
    assert {k: v for k, v in first.items() if k != "list"} == {
        "code": 0, "message": "success", "traceId": "double", "pageNumber": 1, "pageSize": 5,
        "total": N_TASK}
    rows, totals, _ = pages(lambda p: ai(double, pageSize=5, pageNumber=p),
                            lambda r: r["list"], lambda r: r["total"])
    assert totals == {N_TASK}
    key = lambda r: r["taskId"]  # noqa: E731
    assert sorted(rows, key=key) == sorted(held, key=key)
    assert [r["createTs"] for r in rows] != sorted(r["createTs"] for r in rows)
    task = held[4]
    at = ai(double, createStartTs=task["createTs"], createEndTs=task["createTs"], pageSize=100)
    assert task in at["list"] and {r["createTs"] for r in at["list"]} == {task["createTs"]}
    lo, hi = held[2]["createTs"], held[8]["createTs"]
    window = ai(double, createStartTs=lo, createEndTs=hi, pageSize=100)
    assert window["total"] == sum(lo <= r["createTs"] <= hi for r in held)
    done = ai(double, taskStatus=FINISHED, pageSize=100)
    assert done["total"] == sum(r["taskStatus"] == FINISHED for r in held) > 0
    named = ai(double, taskName=task["taskName"], pageSize=100)
    assert task in named["list"]


def test_ai_wrapper_flag_and_the_biz_type_switch(double):
    plain = ai(double, pageSize=5)
    double.cache[WRAP] = True
    wrapped = ai(double, pageSize=5)
    assert wrapped["code"] == 0 and "list" not in wrapped
    assert wrapped["data"] == {k: plain[k] for k in ("pageNumber", "pageSize", "total", "list")}
    double.cache[WRAP] = False
    assert ai(double, biz="8", action="cc")["code"] == 1002
    double.cache[SIGNING] = ("8", "cc")
    assert ai(double, biz="8", action="cc")["code"] == 0
    assert ai(double)["code"] == 1002
    assert calls(double, double.ai_task.rows()[0]["taskId"], biz="8", action="cc")["code"] == 0


def test_ai_calls_per_task_with_inclusive_bounds(double):
    tasks = {t["taskId"]: t for t in double.ai_task.rows()}
    held = double.ai_call.rows()
    assert {c["taskId"] for c in held} <= set(tasks)
    assert all(c["createTs"] >= tasks[c["taskId"]]["createTs"] for c in held)
    seen = []
    for task in tasks:
        rows, totals, _ = pages(lambda p, t=task: calls(double, t, pageSize=10, pageNumber=p),
                                lambda r: r["list"], lambda r: r["total"])
        mine = [c for c in held if c["taskId"] == task]
        assert totals == {len(mine)}
        assert sorted(rows, key=lambda r: r["callId"]) == sorted(mine, key=lambda r: r["callId"])
        seen += rows
    assert len(seen) == N_CALL
    busy = max(tasks, key=lambda t: sum(c["taskId"] == t for c in held))
    mine = [c for c in held if c["taskId"] == busy]
    call = mine[len(mine) // 2]
    at = calls(double, busy, startTs=call["createTs"], endTs=call["createTs"], pageSize=1000)
    assert call in at["list"] and {r["createTs"] for r in at["list"]} == {call["createTs"]}
    lo = sorted(c["createTs"] for c in mine)[len(mine) // 4]
    since = calls(double, busy, startTs=lo, pageSize=1000)
    assert since["total"] == sum(c["createTs"] >= lo for c in mine)
    answered = calls(double, busy, callResult=1, pageSize=1000)
    assert answered["total"] == sum(c["callResult"] == 1 for c in mine)
    assert calls(double, "no-such-task")["total"] == 0


@pytest.mark.parametrize(("path", "kwargs"), [
    (TASKS, {"pageNumber": OMIT}),
    (TASKS, {"pageSize": OMIT}),
    (TASKS, {"pageSize": 0}),
    (TASKS, {"pageSize": 1001}),
    (TASKS, {"pageNumber": 0}),
    (TASKS, {"createStartTs": "1790000000"}),
    (TASKS, {"taskStatus": "3"}),
    (TASKS, {"headers": {"bizType": "8"}}),
    (CALLS, {"taskId": OMIT}),
    (CALLS, {"taskId": ""}),
    (CALLS, {"taskId": 17}),
    (CALLS, {"pageSize": 9}),
    (CALLS, {"pageSize": 1001}),
    (CALLS, {"endTs": -1}),
])
def test_ai_refusals_are_1002(double, path, kwargs):
    if path == CALLS:
        kwargs = {"taskId": double.ai_task.rows()[0]["taskId"], **kwargs}
    reply = ai(double, path, **kwargs)
    assert reply == {"code": 1002, "message": reply["message"], "traceId": "double"}
    assert reply["message"]


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"secret": "wrong"}, 1003),
    ({"headers": {"accessKey": "someone-else"}}, 1005),
    ({"drop": "ts"}, 1001),
    ({"skew_ms": 61_000}, 1004),
])
def test_ai_signature_refusals(double, kwargs, code):
    for path in (TASKS, CALLS):
        assert ai(double, path, taskId="x", pageSize=10, **kwargs)["code"] == code
    assert ai(double, CALLS, taskId="x", pageSize=10, pageNumber=1)["code"] == 0
    assert ai(double, CALLS, pageSize=10)["code"] == 1002


def test_ai_calls_page_size_bounds_are_served(double):
    task = double.ai_task.rows()[0]["taskId"]
    for size in (10, 1000):
        assert calls(double, task, pageSize=size)["pageSize"] == size


# --- faults ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("call", "fault", "want"), [
    (email, "busy", {"code": 500}),
    (email, "code:601002", {"code": 601002, "result": None}),
    (lambda d: report(d, DAY.date()), "busy", {"code": "5", "info": "api request times invalid"}),
    (lambda d: report(d, DAY.date()), "code:2", {"code": "2", "info": "injected error 2"}),
    (lambda d: form(d, BAL), "busy", {"code": "5"}),
    (cc, "busy", {"msg": "System error"}),
    (lambda d: cc(d, GROUPS), "skew", {"code": 1004, "msg": "Timestamp expired"}),
    (cc, "code:1005", {"code": 1005}),
    (ai, "busy", {"code": -1, "message": "Request failed"}),
    (lambda d: ai(d, CALLS, taskId="x"), "skew", {"code": 1004}),
    (ai, "code:1003", {"code": 1003, "message": "injected error 1003"}),
])
def test_api_faults_answer_in_each_envelope(double, call, fault, want):
    double.set_faults(Faults(script=[fault]))
    reply = call(double)
    assert {k: reply.get(k) for k in want} == want
    again = call(double)
    assert {k: again.get(k) for k in want} != want  # one scripted fault, then the real answer


@pytest.mark.parametrize(("call", "rows_of", "keys"), [
    (email, lambda r: r["result"]["records"], ("messageId",)),
    (lambda d: report(d, DAY.date()), lambda r: r["row"], ("submit_size", "total_fee")),
    (lambda d: form(d, BAL), lambda r: [r], ("balance",)),
    (cc, lambda r: r["data"], ("userName",)),
    (lambda d: cc(d, GROUPS), lambda r: r["data"], ("groupNo",)),
    (ai, lambda r: r["list"], ("taskId",)),
    (lambda d: ai(d, CALLS, taskId="x"), lambda r: r["list"], ("callId",)),
])
def test_badrow_is_a_success_with_a_row_without_its_keys(double, call, rows_of, keys):
    double.set_faults(Faults(script=["badrow"]))
    rows = rows_of(call(double))
    assert len(rows) == 1 and not any(k in rows[0] for k in keys)


# --- generators --------------------------------------------------------------------------------
@pytest.mark.parametrize("alias", ["email", "agent", "group", "task", "call"])
def test_generators_are_deterministic_and_carry_hard_text_and_undeclared_fields(alias):
    make = GEN[alias]
    kw = {"start": DAY.strftime(WALL), "span_seconds": 86400, "zone": ZONE}
    a, b = make(400, seed=3, **kw), make(400, seed=3, **kw)
    assert a == b != make(400, seed=4, **kw)
    text = json.dumps(a, ensure_ascii=False)
    assert sum(json.dumps(h, ensure_ascii=False)[1:-1] in text for h in HARD_TEXTS) >= 5
    assert any(_undeclared(alias) in r for r in a)


def test_timed_generators_stay_in_their_span_in_the_zone():
    start = DAY.strftime(WALL)
    begin = int(DAY.timestamp())
    kw = {"start": start, "span_seconds": 3600, "zone": ZONE}
    emails = GEN["email"](50, seed=2, **kw)
    assert all(start.replace(" ", "T") <= r["sendTime"] < (DAY + dt.timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%S") for r in emails)
    assert all(begin <= r["createTs"] < begin + 3600 for r in GEN["task"](50, seed=2, **kw))
    assert all(begin * 1000 <= r["gmtCreate"] < (begin + 3600) * 1000
               for r in GEN["agent"](50, seed=2, **kw))
    assert all(begin <= r["createTs"] < begin + 3600 for r in GEN["call"](50, seed=2, **kw))


def test_calls_without_tasks_belong_to_the_tasks_of_the_same_seed():
    kw = {"seed": 5, "start": DAY.strftime(WALL), "span_seconds": 86400, "zone": ZONE}
    tasks = GEN["task"](20, **kw)
    assert GEN["task"](30, **kw)[:20] == tasks  # task i depends on (seed, i) alone
    made = GEN["call"](2000, **kw)
    assert {c["taskId"] for c in made} == {t["taskId"] for t in tasks}
    given = GEN["call"](50, tasks=tasks[:3], **kw)
    assert {c["taskId"] for c in given} <= {t["taskId"] for t in tasks[:3]}
    assert len({c["callId"] for c in made}) == 2000
    assert GEN["call"](0, **kw) == []


def test_cli_ai_task_and_call_rows_are_consistent():
    cmd = [sys.executable, "-m", "nxcloud_double", "--port", "0", "--flash-rows", "0",
           "--cc-rows", "0", "--ai-task-rows", "20", "--ai-call-rows", "2000",
           "--cc-agent-rows", "8", "--email-rows", "30"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())
        assert (first["ai_task_rows"], first["ai_call_rows"], first["cc_agent_rows"],
                first["email_rows"]) == (20, 2000, 8, 30)
        config = first["config"]
        remote = SimpleNamespace(url=config["api_url"], credentials=SimpleNamespace(**config))
        tasks = signed(remote, TASKS, "ai_agent", "100", "nxai",
                       {"pageNumber": 1, "pageSize": 100})
        assert tasks["total"] == 20
        total = 0
        for task in tasks["list"]:
            got = signed(remote, CALLS, "ai_agent", "100", "nxai",
                         {"pageNumber": 1, "pageSize": 1000, "taskId": task["taskId"]})
            assert {c["taskId"] for c in got["list"]} <= {task["taskId"]}
            total += got["total"]
        assert total == 2000
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- the schema files of the seven streams ----------------------------------------------------
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
NEW = ("email_cdrs", "sms_daily_reports", "balances", "cc_agents", "cc_agent_groups",
       "ai_agent_tasks", "ai_agent_calls")
TIME_WORDS = ("Wall-clock time from the API", "Epoch milliseconds on the wire",
              "Epoch seconds on the wire", "stamped by the tap")


def _undeclared(alias: str) -> str:
    """The field the double adds now and then that no schema declares (groups have a real
    `remark`)."""
    return "extInfo" if alias == "group" else "remark"


def _schema(name: str) -> dict:
    return json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("name", "alias"), [
    ("email_cdrs", "email"), ("cc_agents", "agent"), ("cc_agent_groups", "group"),
    ("ai_agent_tasks", "task"), ("ai_agent_calls", "call")])
def test_new_schemas_declare_exactly_what_the_double_sends(name, alias):
    """Every field a generated row carries is declared (but the undeclared one the double adds
    on purpose), every declared field is sent, and each value fits its declared type."""
    props = _schema(name)["properties"]
    made = GEN[alias](500, seed=1, start=DAY.strftime(WALL), span_seconds=86400, zone=ZONE)
    sent = {k for r in made for k in r}
    assert sent - {_undeclared(alias)} == set(props)
    kinds = {"string": str, "integer": int, "number": (int, float), "boolean": bool,
             "object": dict, "array": list}
    for row in made:
        for column, value in row.items():
            if column == _undeclared(alias) or value is None:
                continue
            prop = props[column]
            kind = next(t for t in ([prop["type"]] if isinstance(prop["type"], str)
                                    else prop["type"]) if t != "null")
            if prop.get("format") == "date-time":
                kind = "string" if alias == "email" else "integer"  # wall text, or epoch
            assert isinstance(value, kinds[kind]), (column, value)
