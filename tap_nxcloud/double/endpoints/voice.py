"""Voice records: POST /api/voiceSms/getVoiceCdr. Group calls (`voiceType` 0) and
OTP/notification calls (1) are separate sets whose ids may coincide: the table keeps each row's
request voiceType as an internal field (not sent), and a request sees only its voiceType's rows.
Limits: last 7 days, one request a second (MORE-STREAMS.md, newer vendor page)."""

from __future__ import annotations

from ..table import Table
from ..wire import Wire
from .calls import CallRecords


def table() -> Table:
    wire = Wire("voice_cdrs", {"customer_price": float, "basic_price": float, "size": int,
                               "messageid": str, "second": int, "cycle": int})
    return Table(("voiceType", "start_time"), "id", identity=("voiceType", "id"),
                 internal=("voiceType",), wire=wire)


class Voice(CallRecords):
    stream = "voice_cdrs"
    path = "/api/voiceSms/getVoiceCdr"
    keys = ("voice_app_key", "voice_app_secret")
    required = ("voiceType", *CallRecords.required)
    retention_days = 7
    keyless = b'{"result":"a row without id","start_time":null}'

    def filters(self, f: dict[str, str]) -> dict | None:
        if f["voiceType"] not in ("0", "1"):
            return None
        return {"messageid": f["messageid"]} if f.get("messageid") else {}

    def table(self, double) -> Table:
        return double.voice

    def bounds(self, f: dict[str, str], start: str, end: str) -> tuple:
        kind = int(f["voiceType"])
        return (kind, start), (kind, end)
