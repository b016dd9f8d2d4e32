"""SMS records: POST /api/sms/getSmsCdr (form), one calendar day a request, 31 days kept."""

from ..auth import KeyFields
from ..spec import Envelope, Offset, StreamSpec

SPEC = StreamSpec(
    name="sms_cdrs", product="sms", label="SMS",
    credentials=("sms_app_key", "sms_app_secret"),
    host="https://api2.nxcloud.com", path="/api/sms/getSmsCdr", method="POST", encoding="form",
    auth=KeyFields(), window="day", order="ascending",  # sort_type 0
    paging=Offset(999),  # "less than 1000"
    envelope=Envelope(
        success="0", rows=("info", "rows"), total=("info", "total"),
        too_frequent={"5": "too many requests"},
        fatal={"2": "check sms_app_key and sms_app_secret",
               "1": "the request was refused (a bug in the tap: please report it)",
               "3": "the page size was refused (a bug in the tap: please report it)",
               "4": "the page size was refused (a bug in the tap: please report it)"}),
    query=lambda b: {"date": b.day.strftime("%Y%m%d"), "sort_type": "0"},
    primary_keys=("msgid", "phone"), replication_key="date",
    # delivery reports (dr, dr_status, dr_time) arrive minutes to days after the send
    lookback_setting="sms_lookback_minutes", lookback_minutes=72 * 60,
    retention_days=31,
    # the app's own count of each day's messages: every completed day is checked against it
    statement=("sms_daily_reports", "submit_size"),
)
