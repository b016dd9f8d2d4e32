"""The CPU floor for the benchmark: plain requests + json, no SDK, no windows, no threads.

Fetches every row of both streams the way the APIs demand (flash-call keyset paging on
`gmtCreate`, contact-center page/size with signed headers) over the whole range in one go, and
writes one Singer RECORD line per row with the standard json module.
Usage: python scripts/floor.py CONFIG.json > /dev/null
"""

import json
import sys
import time

import requests

from tap_nxcloud.auth import CCSignedAuth, flash_call_params

config = json.load(open(sys.argv[1]))  # noqa: SIM115
session = requests.Session()
out = sys.stdout
write = out.write
dumps = json.dumps


def emit(stream: str, rows: list) -> None:
    for row in rows:
        write(dumps({"type": "RECORD", "stream": stream, "record": row}) + "\n")


# flash calls: keyset on gmtCreate, 100 rows a call, de-duplicated by id on the repeated second
params = flash_call_params(config["flash_call_app_key"], config["flash_call_app_secret"])
start, end = config["floor_flash_start"], config["floor_flash_end"]
seen_second, seen = None, set()
while True:
    rows = session.get(f"{config['api_url']}/otp/call/list",
                       params={"start": start, "end": end, **params}).json()["cdrs"]
    emit("flash_call_cdrs",
         [r for r in rows if r["gmtCreate"] != seen_second or r["id"] not in seen])
    if len(rows) < 100:
        break
    last = rows[-1]["gmtCreate"]
    seen_second, seen = last, {r["id"] for r in rows if r["gmtCreate"] == last}
    start = last

# contact center: signed POST, page/size until a short page
auth = CCSignedAuth(config["cc_access_key"], config["cc_access_secret"], clock=time.time)
page = 1
while True:
    body = json.dumps({"startTime": config["floor_cc_start"], "endTime": config["floor_cc_end"],
                       "size": 100, "page": page}, separators=(",", ":")).encode()
    rows = session.post(f"{config['api_url']}/saas/cc/openapi/cdr/page", data=body, auth=auth,
                        headers={"Content-Type": "application/json"}).json()["data"]
    emit("cc_cdrs", rows)
    if len(rows) < 100:
        break
    page += 1
out.flush()
