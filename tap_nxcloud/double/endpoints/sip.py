"""SIP records: POST /api/voiceSms/getSipCdr. Optional filters `username` (one phone; an unknown
one is "mobile no exist") and `direction` (0 incoming, 1 outgoing). Limits: last 15 days, one
request every 2 seconds (vendor `sip-cdr-query.md`)."""

from __future__ import annotations

from ..table import Table
from ..wire import Wire
from .calls import CallRecords


def table() -> Table:
    wire = Wire("sip_cdrs", {"id": int, "sipid": int, "duration": int, "direction": int})
    return Table("start_time", "id", identity=("id",), wire=wire)


class Sip(CallRecords):
    stream = "sip_cdrs"
    path = "/api/voiceSms/getSipCdr"
    keys = ("sip_app_key", "sip_app_secret")
    retention_days = 15
    keyless = b'{"phone":"a row without id","start_time":null}'

    def filters(self, f: dict[str, str]) -> dict | None:
        if f.get("direction", "") not in ("", "0", "1"):
            return None
        return {k: f[k] for k in ("username", "direction") if f.get(k)}

    def check(self, double, filters: dict) -> str | None:
        name = filters.get("username")
        return "mobile" if name and name not in double.sip_usernames() else None

    def table(self, double) -> Table:
        return double.sip
