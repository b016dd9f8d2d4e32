"""The CPU floor for the benchmark: plain requests + json, one session, no SDK, no windows, no
threads.

Reads every row of the six streams the way each API demands, over the data's whole range:
flash calls by keyset on `gmtCreate` (100 rows a call, the repeated second de-duplicated by id);
contact center page/size with signed headers until a short page, over one range; SMS and DID one
day a request, paging until the page totals say the day is done; voice (voiceType 0 and 1) and
SIP in ranges of at most 24 h, paced at the vendor's one request a second (voice) or every two
seconds (SIP). Pacing waits cost no CPU.

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


def form(name: str, path: str, success: str, fields: dict) -> dict:
    """POST a form (SMS, voice, SIP); the `info` of a success, else stop with the answer."""
    reply = session.post(f"{url}{path}", data=fields).json()
    if reply["code"] != success:
        sys.exit(f"{name}: {reply}")
    return reply["info"]


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
    first, last = (dt.datetime.fromisoformat(t) for t in config["floor_ranges"][name])
    lo, hi = int(first.timestamp()), int(last.timestamp()) - 1
    page = 1
    while True:
        body = json.dumps({"startTime": lo, "endTime": hi, "size": size, "page": page},
                          separators=(",", ":")).encode()
        rows = session.post(f"{url}/saas/cc/openapi/cdr/page", data=body, auth=auth,
                            headers={"Content-Type": "application/json"}).json()["data"]
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
            pacer.wait()
            info = form(name, "/api/sms/getSmsCdr", "0", {
                **keys, "date": day.strftime("%Y%m%d"), "page_size": size, "page": page})
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
            body = json.dumps({"date": day.isoformat(), "page": page, "pageSize": size},
                              separators=(",", ":")).encode()
            data = session.post(f"{url}/api/did/cdr", data=body, auth=auth,
                                headers={"Content-Type": "application/json"}).json()["data"]
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
                pacer.wait()
                info = form(name, path, "1", {
                    **keys, **variant.params, "start_time": start.strftime(WALL),
                    "end_time": end.strftime(WALL), "page_size": size, "page": page})
                emit(name, info["rows"], shape, variant.columns)
                if not info["rows"] or page * size >= info["total"]:
                    break
                page += 1
            start = end + dt.timedelta(seconds=1)


READERS = {
    "flash_call_cdrs": flash, "cc_cdrs": cc, "sms_cdrs": sms, "did_cdrs": did,
    "voice_cdrs": lambda: calls("voice_cdrs", "/api/voiceSms/getVoiceCdr", "voice"),
    "sip_cdrs": lambda: calls("sip_cdrs", "/api/voiceSms/getSipCdr", "sip"),
}
for stream in config["floor_ranges"]:
    READERS[stream]()
sys.stdout.flush()
print(json.dumps(counts), file=sys.stderr)
