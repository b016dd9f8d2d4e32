"""Email OTP records: POST /api/email/dr, JSON body with the keys, pages of 100, newest first."""

from ..auth import KeyFields
from ..spec import Envelope, Offset, StreamSpec

SPEC = StreamSpec(
    name="email_cdrs", product="email", label="email",
    credentials=("email_app_key", "email_app_secret"),
    host="https://api2.nxcloud.com", path="/api/email/dr", method="POST", encoding="json",
    auth=KeyFields(key="appKey", secrets=("secretKey",)),  # in the JSON body
    envelope=Envelope(
        # the error table says 0 is success, the example answers 200: both are
        success=(0, 200), rows=("result", "records"), total=("result", "total"),
        fatal={601001: "the NXCloud account is not in service; check it in the console",
               601002: "the NXCloud account's balance is insufficient",
               601101: "check email_app_key and email_app_secret"}),
    paging=Offset(100, page_param="current", size_param="size"), order="descending",
    query=lambda b: {"startTime": b.lo, "endTime": b.hi},  # yyyy-MM-dd HH:mm:ss
    primary_keys=("messageId",), replication_key="sendTime",  # "2021-02-23T15:39:51"
    lookback_setting="email_lookback_minutes", lookback_minutes=120,
)
