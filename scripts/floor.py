"""The CPU floor for the benchmark: plain requests + json, one session, no SDK, no windows, no
threads.

Reads every row of the streams the way each API demands, over the data's whole range:
flash calls by keyset on `gmtCreate` (100 rows a call, the repeated second de-duplicated by id);
contact center page/size with signed headers until a short page, over one range; SMS and DID one
day a request, paging until the page totals say the day is done; voice (voiceType 0 and 1) and
SIP in ranges of at most 24 h, paced at the vendor's one request a second (voice) or every two
seconds (SIP); email (JSON body with the keys) page/size over one range until the total; the SMS
daily statement one request a day (its row stamped with the day, as the tap does); the balance
one request; contact-center agents and agent groups (signed, tenantId) page/size over the whole
table until the total; AI-agent tasks (signed, bizType 100, action nxai) page/size over one range,
then each task's calls from its creation to the range's end (the tasks as read for
ai_agent_tasks, or read here first if that stream is not in the run). Pacing waits cost no CPU.

Every row goes through the tap's own `rows.Shaper`, built by `lane.make_shaper` from the same
schema as in the tap, so per-row conversion costs the same here and in the tap and the
benchmark's ratio measures everything else. One Singer RECORD line per row, with the standard
json module.
Rows per stream go to stderr as one JSON line at the end (the benchmark checks them).
Usage: python scripts/floor.py CONFIG.json > /dev/null   (CONFIG: see bench.py `floor_ranges`)
"""

import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import requests

from tap_nxcloud import schemas
from tap_nxcloud.auth import SignedAuth, flash_call_params
from tap_nxcloud.clock import EpochClock, WallClock
from tap_nxcloud.lane import make_shaper
from tap_nxcloud.rows import EXTRA, Shaper
from tap_nxcloud.streams import BY_NAME

WALL = "%Y-%m-%d %H:%M:%S"
config = json.load(open(sys.argv[1]))  # noqa: SIM115
zone = ZoneInfo(config["timezone"])
url = config["api_url"]
session = requests.Session()
write = sys.stdout.write
dumps = json.dumps
counts: dict[str, int] = {}


def shaper(name: str) -> Shaper:
    """The tap's own shaper for the stream (lane.make_shaper), without an `account`."""
    spec = BY_NAME[name]
    schema = schemas.load(name)
    schema["properties"][EXTRA] = {"type": ["object", "null"], "additionalProperties": True}
    clock = WallClock(zone) if spec.clock == "wall" else EpochClock()
    return make_shaper(spec, schema, clock, logging.getLogger("floor").warning)


def emit(stream: str, rows: list, shape: Shaper, added: dict | None = None) -> None:
    for row in rows:
        write(dumps({"type": "RECORD", "stream": stream, "record": shape(row, added)}) + "\n")
    counts[stream] = counts.get(stream, 0) + len(rows)


def span(stream: str) -> tuple[dt.datetime, dt.datetime]:
    """[first, last] second of the stream's data in the zone, naive wall-clock."""
    start, end = (dt.datetime.fromisoformat(t).astimezone(zone).replace(tzinfo=None)
                  for t in config["floor_ranges"][stream])
    return start, end - dt.timedelta(seconds=1)


def days(stream: str):
    first, last = span(stream)
    day = first.date()
    while day <= last.date():
        yield day
        day += dt.timedelta(days=1)


class Pacer:
    """At least `interval` seconds between two sends (a little more: the API counts arrivals)."""

    def __init__(self, interval: float) -> None:
        self.interval, self.last = interval + 0.05, float("-inf")

    def wait(self) -> None:
        time.sleep(max(0.0, self.last + self.interval - time.monotonic()))
        self.last = time.monotonic()


def form(name: str, path: str, success: str, fields: dict, pacer: Pacer | None = None) -> dict:
    """POST a form (SMS, voice, SIP, statement, balance); the answer of a success, else stop.
    Paced: sent after the pacer's wait, and again (after another) when refused as too frequent
    (SMS "5", voice and SIP a text): the API counts arrivals, which a loaded machine can bunch."""
    while True:
        if pacer is not None:
            pacer.wait()
        reply = session.post(f"{url}{path}", data=fields).json()
        if reply["code"] == success:
            return reply
        if pacer is None or not (reply["code"] == "5" or "frequent" in str(reply.get("info"))):
            sys.exit(f"{name}: {reply}")


def post_json(path: str, fields: dict, auth=None) -> dict:
    """POST a compact JSON body (signed by `auth`, if given); the decoded answer."""
    body = json.dumps(fields, separators=(",", ":")).encode()
    return session.post(f"{url}{path}", data=body, auth=auth,
                        headers={"Content-Type": "application/json"}).json()


def epochs(stream: str) -> tuple[int, int]:
    """[first, last] second of the stream's data, epoch seconds (both bounds inclusive)."""
    first, last = (dt.datetime.fromisoformat(t) for t in config["floor_ranges"][stream])
    return int(first.timestamp()), int(last.timestamp()) - 1


def flash() -> None:
    name = "flash_call_cdrs"
    shape, size, params = shaper(name), BY_NAME[name].paging.size, flash_call_params(
        config["flash_call_app_key"], config["flash_call_app_secret"])
    first, last = span(name)
    start, end = first.strftime(WALL), last.strftime(WALL)
    seen_second, seen = None, set()
    while True:
        rows = session.get(f"{url}/otp/call/list",
                           params={"start": start, "end": end, **params}).json()["cdrs"]
        new = [r for r in rows if r["gmtCreate"] != seen_second or r["id"] not in seen]
        if len(rows) < size:
            emit(name, new, shape)
            return
        last_second = rows[-1]["gmtCreate"]
        seen_second, seen = last_second, {r["id"] for r in rows if r["gmtCreate"] == last_second}
        emit(name, new, shape)  # after reading the ids: the shaper rewrites rows in place
        start = last_second


def cc() -> None:
    name = "cc_cdrs"
    shape, size = shaper(name), BY_NAME[name].paging.size
    auth = SignedAuth(config["cc_access_key"], config["cc_access_secret"])
    lo, hi = epochs(name)
    page = 1
    while True:
        rows = post_json("/saas/cc/openapi/cdr/page",
                         {"startTime": lo, "endTime": hi, "size": size, "page": page},
                         auth)["data"]
        emit(name, rows, shape)
        if len(rows) < size:
            return
        page += 1


def sms() -> None:
    name = "sms_cdrs"
    shape, size = shaper(name), BY_NAME[name].paging.size
    keys = {"appkey": config["sms_app_key"], "secretkey": config["sms_app_secret"]}
    pacer = Pacer(1 / 20)  # the double allows 20 requests a second (the vendor names no number)
    for day in days(name):
        page = 1
        while True:
            info = form(name, "/api/sms/getSmsCdr", "0", {
                **keys, "date": day.strftime("%Y%m%d"), "page_size": size, "page": page},
                pacer)["info"]
            emit(name, info["rows"], shape)
            if not info["rows"] or page * size >= info["total"]:
                break
            page += 1


def did() -> None:
    name = "did_cdrs"
    shape, size = shaper(name), BY_NAME[name].paging.size
    auth = SignedAuth(config["did_access_key"], config["did_access_secret"], "4", "cdr")
    for day in days(name):
        page = 1
        while True:
            data = post_json("/api/did/cdr",
                             {"date": day.isoformat(), "page": page, "pageSize": size},
                             auth)["data"]
            emit(name, data["list"], shape)
            if not data["list"] or page * size >= data["totalRow"]:
                break
            page += 1


def calls(name: str, path: str, product: str) -> None:
    """Voice and SIP: ranges of at most 24 h (both bounds inclusive), paced."""
    spec = BY_NAME[name]
    shape, size, pacer = shaper(name), spec.paging.size, Pacer(spec.min_interval)
    keys = {"appkey": config[f"{product}_app_key"], "secretkey": config[f"{product}_app_secret"]}
    first, last = span(name)
    for variant in spec.queries:
        start = first
        while start <= last:
            end = min(start + dt.timedelta(seconds=86399), last)
            page = 1
            while True:
                info = form(name, path, "1", {
                    **keys, **variant.params, "start_time": start.strftime(WALL),
                    "end_time": end.strftime(WALL), "page_size": size, "page": page},
                    pacer)["info"]
                emit(name, info["rows"], shape, variant.columns)
                if not info["rows"] or page * size >= info["total"]:
                    break
                page += 1
            start = end + dt.timedelta(seconds=1)


def email() -> None:
    """Email: the keys in the JSON body, pages of 100 (newest first) until the total."""
    name = "email_cdrs"
    shape, size = shaper(name), BY_NAME[name].paging.size
    keys = {"appKey": config["email_app_key"], "secretKey": config["email_app_secret"]}
    first, last = span(name)
    page = 1
    while True:
        reply = post_json("/api/email/dr", {
            **keys, "startTime": first.strftime(WALL), "endTime": last.strftime(WALL),
            "current": page, "size": size})
        if reply["code"] not in (0, 200):
            sys.exit(f"{name}: {reply}")
        rows, total = reply["result"]["records"], reply["result"]["total"]
        emit(name, rows, shape)
        if not rows or page * size >= total:
            return
        page += 1


def sms_reports() -> None:
    """The SMS daily statement: one request a day, its one row stamped with the day."""
    name = "sms_daily_reports"
    shape = shaper(name)
    keys = {"appkey": config["sms_app_key"], "secretkey": config["sms_app_secret"]}
    for day in days(name):
        rows = form(name, "/api/sms/getSmsReport", "0", {
            **keys, "start_date": day.isoformat(), "end_date": day.isoformat()})["row"]
        for row in rows:
            row["date"] = f"{day} 00:00:00"
        emit(name, rows, shape)


def balance() -> None:
    """The balance: one request, the answer (without code and message) its one row."""
    name = "balances"
    drop = ("code", *BY_NAME[name].envelope.message)
    reply = form(name, "/api/common/getBalance", "0",
                 {"appkey": config["sms_app_key"], "secretkey": config["sms_app_secret"]})
    row = {k: v for k, v in reply.items() if k not in drop}
    row["fetched_at"] = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    emit(name, [row], shaper(name))


def directory(name: str, path: str) -> None:
    """Contact-center agents or agent groups: the whole table, signed, until the total."""
    shape, size = shaper(name), BY_NAME[name].paging.size
    auth = SignedAuth(config["cc_access_key"], config["cc_access_secret"])
    page = 1
    while True:
        reply = post_json(path, {"tenantId": config["cc_tenant_id"], "page": page,
                                 "size": size}, auth)
        emit(name, reply["data"], shape)
        if not reply["data"] or page * size >= reply["total"]:
            return
        page += 1


def ai_pages(name: str, path: str, fields: dict) -> Iterator[list]:
    """An AI-agent list (signed, bizType 100, action nxai), page by page until the total."""
    size = BY_NAME[name].paging.size
    auth = SignedAuth(config["ai_agent_access_key"], config["ai_agent_access_secret"], "100",
                      "nxai")
    page = 1
    while True:
        reply = post_json(path, {**fields, "pageNumber": page, "pageSize": size}, auth)
        if reply["code"] != 0:
            sys.exit(f"{name}: {reply}")
        yield reply["list"]
        if not reply["list"] or page * size >= reply["total"]:
            return
        page += 1


tasks: list[tuple[str, int]] = []  # (taskId, createTs) of the tasks read: the calls' parents


def ai_tasks(emitting: bool = True) -> None:
    name = "ai_agent_tasks"
    shape = shaper(name)
    lo, hi = epochs(name)
    for rows in ai_pages(name, "/openapi/aiagent/task/list",
                         {"createStartTs": lo, "createEndTs": hi}):
        tasks.extend((r["taskId"], r["createTs"]) for r in rows)  # before the shaper's rewrite
        if emitting:
            emit(name, rows, shape)


def ai_calls() -> None:
    """Each task's calls, from the task's creation to the range's end."""
    name = "ai_agent_calls"
    if not tasks:
        ai_tasks(emitting=False)
    shape = shaper(name)
    lo, hi = epochs(name)
    for task, created in tasks:
        for rows in ai_pages(name, "/openapi/aiagent/call/list",
                             {"taskId": task, "startTs": max(lo, created), "endTs": hi}):
            emit(name, rows, shape)


READERS = {
    "flash_call_cdrs": flash, "cc_cdrs": cc, "sms_cdrs": sms, "did_cdrs": did,
    "voice_cdrs": lambda: calls("voice_cdrs", "/api/voiceSms/getVoiceCdr", "voice"),
    "sip_cdrs": lambda: calls("sip_cdrs", "/api/voiceSms/getSipCdr", "sip"),
    "email_cdrs": email, "sms_daily_reports": sms_reports, "balances": balance,
    "cc_agents": lambda: directory("cc_agents", "/saas/cc/openapi/agent/page"),
    "cc_agent_groups": lambda: directory("cc_agent_groups", "/saas/cc/openapi/agentGroup/page"),
    "ai_agent_tasks": ai_tasks, "ai_agent_calls": ai_calls,
}
for stream in config["floor_ranges"]:
    READERS[stream]()
sys.stdout.flush()
print(json.dumps(counts), file=sys.stderr)
