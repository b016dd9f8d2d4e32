"""SIP phone call records: POST /api/voiceSms/getSipCdr (form) on api.nxcloud.com."""

from ..auth import KeyFields
from ..spec import Offset, StreamSpec
from .voice import VOICE_FORM

SPEC = StreamSpec(
    name="sip_cdrs", product="sip", label="SIP",
    credentials=("sip_app_key", "sip_app_secret"),
    host="https://api.nxcloud.com", path="/api/voiceSms/getSipCdr", method="POST",
    encoding="form", auth=KeyFields(), paging=Offset(1000),
    envelope=VOICE_FORM,
    query=lambda b: {"start_time": b.lo, "end_time": b.hi},
    primary_keys=("id",), replication_key="start_time",
    lookback_setting="sip_lookback_minutes", lookback_minutes=120,
    max_window_seconds=86400, retention_days=15, min_interval=2.0,  # "once every 2 seconds"
    rate_scope="ip",  # "per IP" (docs/nxcloud-api/time-and-limits.md#rate-limits)
)
