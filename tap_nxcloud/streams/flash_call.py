"""Flash-call (OTP) CDRs: GET /otp/call/list, keyset paging on a one-second wall clock."""

from ..auth import FLASH_KEYS
from ..spec import Envelope, Keyset, StreamSpec

SPEC = StreamSpec(
    name="flash_call_cdrs", product="flash_call", label="flash-call",
    credentials=("flash_call_app_key", "flash_call_app_secret"),
    host="https://api2.nxcloud.com", path="/otp/call/list", method="GET", encoding="query",
    auth=FLASH_KEYS, paging=Keyset(100), bounds="inclusive", order="ascending",
    envelope=Envelope(
        success="0", rows=("cdrs",), too_frequent={"3": "too many requests"},
        fatal={"1": "check flash_call_app_key and flash_call_app_secret"},
        default_hint="check the request settings (start_date, end_date, timezone)"),
    query=lambda b: {"start": b.lo, "end": b.hi},
    primary_keys=("id",), replication_key="gmtCreate",
    lookback_setting="lookback_minutes", lookback_minutes=120,
)
