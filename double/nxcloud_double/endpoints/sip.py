"""SIP records: POST /api/voiceSms/getSipCdr. Optional filters `username` (one phone; an unknown
one is "mobile no exist") and `direction` (0 incoming, 1 outgoing). Limits: last 15 days, one
request every 2 seconds (docs/nxcloud-api/time-and-limits.md#rate-limits)."""

from __future__ import annotations

import random

from ..data import COUNTRIES, clock, hard, later, remark, unset, wall
from ..table import Table
from ..wire import Wire
from .calls import CallRecords

HANGUPS = ["NO_ANSWER", "USER_BUSY", "CALL_REJECTED", "ORIGINATOR_CANCEL", "UNALLOCATED_NUMBER",
           "NORMAL_TEMPORARY_FAILURE", "RECOVERY_ON_TIMER_EXPIRE"]


def rows(n: int, *, seed: int, start: str, span_seconds: int, first_id: int = 1, **_,
         ) -> list[dict]:
    """n SIP rows: direction 0 incoming / 1 outgoing, record_url only when someone talked."""
    rng = random.Random(f"sip-{seed}")
    phones = [(f"62822156998{k:02d}", name) for k, name in enumerate(
        ["name", "前台", "Zoë's desk", "Sales 01", None, "José Ñúñez", 'Front "desk" \\ 2'])]
    out = []
    for i, started in enumerate(clock(rng, n, start, span_seconds)):
        cc, _ = rng.choice(COUNTRIES)
        answered = rng.random() < 0.65
        ring = rng.randrange(1, 30)
        talk = rng.randrange(1, 900) if answered else 0
        username, nickname = rng.choice(phones)
        phone = f"{rng.randrange(10**8, 10**10)}"
        sid = first_id + i
        out.append(remark(rng, {
            "id": sid, "start_time": wall(started),
            "answer_time": wall(later(started, ring)) if answered else unset(rng),
            "end_time": wall(later(started, ring + talk)), "sipid": 1_055_000 + sid,
            "username": username, "mobile_name": hard(rng, nickname), "duration": talk,
            "phone": phone, "orderid": f"FLNK-{rng.getrandbits(64):016x}-{rng.getrandbits(40)}",
            "show_phone": username, "record_url": f"https://sip-records.example/{sid}.wav"
            if talk else None, "direction": rng.choice([0, 1]),
            "effective_called_number": cc + phone,
            "hangup_cause": "NORMAL_CLEARING" if answered else rng.choice(HANGUPS),
            "country_code": cc,
        }))
    return out


class Sip(CallRecords):
    stream = "sip_cdrs"
    alias = "sip"
    path = "/api/voiceSms/getSipCdr"
    rows = staticmethod(rows)
    rate = (1, 2.0)  # "once every 2 seconds"

    def table(self) -> Table:
        wire = Wire(self.stream, {"id": int, "sipid": int, "duration": int, "direction": int})
        return Table("start_time", "id", identity=("id",), wire=wire)
    keys = ("sip_app_key", "sip_app_secret")
    retention_days = 15
    keyless = b'{"phone":"a row without id","start_time":null}'

    def filters(self, f: dict[str, str]) -> dict | None:
        if f.get("direction", "") not in ("", "0", "1"):
            return None
        return {k: f[k] for k in ("username", "direction") if f.get(k)}

    def check(self, double, filters: dict) -> str | None:
        name = filters.get("username")
        return "mobile" if name and name not in self._usernames(double) else None

    def _usernames(self, double) -> set[str]:
        table = self.of(double)
        with table.lock:
            version, names = double.cache.get(self.stream, (-1, set()))
            if version != table.version:
                names = {table.decode(i).get("username") for i in range(len(table))}
                double.cache[self.stream] = (table.version, names)
            return names



ENDPOINT = Sip()
