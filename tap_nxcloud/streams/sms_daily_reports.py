"""The SMS app's daily statement: POST /api/sms/getSmsReport (form), one day a request."""

from ..auth import KeyFields
from ..spec import Envelope, Single, StreamSpec

SPEC = StreamSpec(
    name="sms_daily_reports", product="sms", label="SMS",
    credentials=("sms_app_key", "sms_app_secret"),
    host="https://api2.nxcloud.com", path="/api/sms/getSmsReport", method="POST",
    encoding="form", auth=KeyFields(),
    envelope=Envelope(
        success="0", rows=("row",), too_frequent={"5": "too many requests"},
        fatal={"2": "check sms_app_key and sms_app_secret",
               "1": "the request was refused (a bug in the tap: please report it)"}),
    paging=Single(), window="day",
    # one aggregate for the range: asked one day at a time, it is that day's statement
    query=lambda b: {"start_date": b.day.isoformat(), "end_date": b.day.isoformat()},
    stamp=lambda b: {"date": f"{b.day.isoformat()} 00:00:00"},  # the day's start, its key
    primary_keys=("date",), replication_key="date",
    # costs settle over days: every run reads the last three again
    lookback_setting="sms_report_lookback_minutes", lookback_minutes=3 * 24 * 60,
)
