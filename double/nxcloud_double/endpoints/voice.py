"""Voice records: POST /api/voiceSms/getVoiceCdr. Group calls (`voiceType` 0) and
OTP/notification calls (1) are separate sets whose ids may coincide: the table keeps each row's
request voiceType as an internal field (not sent), and a request sees only its voiceType's rows.
Limits: last 7 days, one request a second (the 2025 vendor page:
docs/nxcloud-api/time-and-limits.md#rate-limits)."""

from __future__ import annotations

import math
import random

from ..data import COUNTRIES, clock, hard, later, number, remark, unset, wall
from ..table import Table
from ..wire import Wire
from .calls import CallRecords


def rows(n: int, *, seed: int, start: str, span_seconds: int, voice_type: int | None = None,
         first_id: int = 1, **_) -> list[dict]:
    """n voice rows of one request voiceType (0 group call, 1 OTP/notification), carried as the
    internal field "voiceType"; without `voice_type`, n rows of both (half each, ids repeating
    across them, as they may). Group rows have basic_price and ivr_result, the others voice_type
    (1 verification, 2 notification), as in the vendor's two examples."""
    if voice_type is None:
        return [*rows(n - n // 2, seed=seed, start=start, span_seconds=span_seconds,
                      voice_type=0, first_id=first_id),
                *rows(n // 2, seed=seed, start=start, span_seconds=span_seconds,
                      voice_type=1, first_id=first_id)]
    rng = random.Random(f"voice-{seed}-{voice_type}")
    out = []
    campaign = str(rng.randrange(10**4, 10**6))
    for i, started in enumerate(clock(rng, n, start, span_seconds)):
        if voice_type == 1 or rng.random() < 0.05:
            campaign = str(rng.randrange(10**4, 10**6))  # OTP: one messageid a call
        cc, _ = rng.choice(COUNTRIES)
        connected = rng.random() < 0.7
        ring = rng.randrange(2, 30)
        second = rng.randrange(1, 240) if connected else 0
        cycle = rng.choice([1, 6, 20, 60])
        row = {
            "voiceType": voice_type, "id": first_id + i,
            "result": hard(rng, "Successful connection" if connected else rng.choice(
                ["No answer", "Busy", "Rejected", "Empty number"])),
            "cycle": cycle, "time": wall(later(started, ring)) if connected else unset(rng),
            "start_time": wall(started), "end_time": wall(later(started, ring + second)),
            "phone": number(rng, cc), "second": second, "countryCode": cc,
            "messageid": campaign, "customer_price": rng.choice([0.012, 0.05, 0.0835, 0.1]),
            "show_phone": f"{rng.randrange(10**8, 10**10)}", "size": math.ceil(second / cycle),
        }
        if voice_type == 0:
            row["basic_price"] = rng.choice([0.0, 0.005, 0.01])
            row["ivr_result"] = str(rng.randrange(1, 4)) if connected and rng.random() < 0.5 \
                else None
        else:
            row["voice_type"] = rng.choice([1, 2])
        out.append(remark(rng, row))
    return out


class Voice(CallRecords):
    stream = "voice_cdrs"
    alias = "voice"
    path = "/api/voiceSms/getVoiceCdr"
    rows = staticmethod(rows)
    rate = (1, 1.0)  # "one request a second"
    internal = {"voiceType": "request_voice_type"}  # noqa: RUF012 (read only)

    def table(self) -> Table:
        wire = Wire(self.stream, {"customer_price": float, "basic_price": float, "size": int,
                                  "messageid": str, "second": int, "cycle": int})
        return Table(("voiceType", "start_time"), "id", identity=("voiceType", "id"),
                     internal=("voiceType",), wire=wire)
    keys = ("voice_app_key", "voice_app_secret")
    required = ("voiceType", *CallRecords.required)
    retention_days = 7
    keyless = b'{"result":"a row without id","start_time":null}'

    def filters(self, f: dict[str, str]) -> dict | None:
        if f["voiceType"] not in ("0", "1"):
            return None
        return {"messageid": f["messageid"]} if f.get("messageid") else {}


    def bounds(self, f: dict[str, str], start: str, end: str) -> tuple:
        kind = int(f["voiceType"])
        return (kind, start), (kind, end)


ENDPOINT = Voice()
