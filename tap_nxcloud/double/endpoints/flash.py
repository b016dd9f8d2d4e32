"""Flash-call CDRs: GET /otp/call/list, credentials in the query, at most 100 rows a call by
`gmtCreate` with inclusive bounds, no paging (shared NOTES.md)."""

from __future__ import annotations

import re

from .base import Endpoint, Reply, Request, legacy_json

WALL_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


class FlashCalls(Endpoint):
    stream = "flash_call_cdrs"
    method = "GET"
    path = "/otp/call/list"

    def params(self, req: Request) -> dict:
        return {k: v[0] for k, v in req.query.items() if k in ("start", "end")}

    def answer(self, double, req: Request) -> Reply:
        one = {k: v[0] for k, v in req.query.items()}
        c = double.credentials
        secrets = [one[k] for k in ("appsecret", "secretkey") if k in one]
        if one.get("appkey") != c.flash_app_key or not secrets or any(
                s != c.flash_app_secret for s in secrets):
            return legacy_json({"code": "1", "msg": "appkey or appsecret error"})
        start, end = one.get("start", ""), one.get("end", "")
        if not WALL_RE.match(start) or not WALL_RE.match(end):
            return legacy_json({"code": "2", "msg": "start and end must be yyyy-MM-dd HH:mm:ss"})
        with double.flash.lock:
            lo, hi = double.flash.span(start, end)
            blobs = double.flash.blobs[lo:min(hi, lo + 100)]
        return Reply("0", b'{"cdrs":[' + b",".join(blobs) + b'],"code":"0"}')

    def busy(self, double) -> Reply:
        return legacy_json({"code": "3", "msg": "too many requests"})

    def badrow(self) -> Reply:
        return legacy_json({"code": "0", "cdrs": [{"id": 1, "gmtCreate": None}]})

    def code(self, code: str) -> Reply:
        return legacy_json({"code": code, "msg": f"injected error {code}"})
