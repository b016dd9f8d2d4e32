"""Contact-center CDRs: POST /saas/cc/openapi/cdr/page, signed JSON, pages until a short one."""

from ..auth import CC_ACTION, CC_BIZ_TYPE, SignedHeaders
from ..spec import Envelope, Offset, StreamSpec

SPEC = StreamSpec(
    name="cc_cdrs", product="cc", label="contact-center",
    credentials=("cc_access_key", "cc_access_secret"),
    host="https://api2.nxcloud.com", path="/saas/cc/openapi/cdr/page", method="POST",
    encoding="json", auth=SignedHeaders(CC_BIZ_TYPE, CC_ACTION), nxlink=True,
    clock="epoch", row_time="epoch_ms", paging=Offset(100, size_param="size", totals=False),
    envelope=Envelope(
        success=0, rows=("data",), transient={88: "request failed", 99: "system error"},
        skew_code=1004,
        fatal={1001: "a required header is missing (a bug in the tap: please report it)",
               1002: "a parameter was refused; check cc_direction and cc_answered",
               1003: "check cc_access_secret",
               1005: "check cc_access_key and its permission for the voice (bizType 8) business",
               41000: "the request was refused (a bug in the tap: please report it)"}),
    # request bounds are epoch seconds, rows milliseconds (docs/nxcloud-api/time-and-limits.md)
    query=lambda b: {"startTime": b.lo, "endTime": b.hi},
    filters={"cc_direction": "direction", "cc_answered": "answered"},
    primary_keys=("callId",), replication_key="startTime",
    lookback_setting="lookback_minutes", lookback_minutes=120,
)
