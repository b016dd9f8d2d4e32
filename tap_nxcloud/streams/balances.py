"""The account balance: POST /api/common/getBalance (form, any SMS app's keys), one row a run."""

from ..auth import KeyFields
from ..spec import SNAPSHOT, Envelope, Single, StreamSpec

SPEC = StreamSpec(
    name="balances", product="sms", label="SMS", credentials=("sms_app_key", "sms_app_secret"),
    host="https://api.nxcloud.com", url_setting="balance_api_url",
    path="/api/common/getBalance", method="POST", encoding="form", auth=KeyFields(),
    envelope=Envelope(success="0", rows=(), fatal={"2": "check sms_app_key and sms_app_secret"},
                      too_frequent={"5": "too many requests"}),
    kind=SNAPSHOT, paging=Single(), primary_keys=("fetched_at",),
)
