"""DID number call records: POST /api/did/cdr, signed JSON (bizType 4), one day a request."""

from ..auth import SignedHeaders
from ..spec import Envelope, Offset, StreamSpec

SPEC = StreamSpec(
    name="did_cdrs", product="did", label="DID",
    credentials=("did_access_key", "did_access_secret"),
    host="https://api2.nxcloud.com", path="/api/did/cdr", method="POST", encoding="json",
    auth=SignedHeaders("4", "cdr"), window="day",
    paging=Offset(999, size_param="pageSize"),  # "less than 1000"
    envelope=Envelope(
        success=0, rows=("data", "list"), total=("data", "totalRow"),
        transient={-1: "request failed"}, skew_code=1004,
        fatal={1001: "a required header is missing (a bug in the tap: please report it)",
               1002: "a parameter was refused (a bug in the tap: please report it)",
               1003: "check did_access_secret",
               1005: "check did_access_key and its permission for the DID (bizType 4) business"}),
    query=lambda b: {"date": b.day.isoformat()},
    primary_keys=("id",), replication_key="startTime",
    lookback_setting="did_lookback_minutes", lookback_minutes=120,
)
