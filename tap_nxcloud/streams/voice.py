"""Voice group-call and OTP/notification records: POST /api/voiceSms/getVoiceCdr (form)."""

from ..auth import KeyFields
from ..spec import Envelope, Offset, StreamSpec, Variant

VOICE_FORM = Envelope(  # voice and SIP: "1" is success, "0" a failure with a text
    success="1", rows=("info", "rows"), total=("info", "total"),
    # "appkey access rate limit": the SIP family's text (docs/nxcloud-api/codes.md#voice-and-sip)
    too_frequent_texts=("frequent", "too many", "busy", "rate limit"),
    fatal_texts={"appkey": "check {key} and {secret}", "secretkey": "check {key} and {secret}",
                 "days": "the range is older than NXCloud keeps; check start_date"},
    default_hint="the request was refused (a bug in the tap: please report it)")

SPEC = StreamSpec(
    name="voice_cdrs", product="voice", label="voice",
    credentials=("voice_app_key", "voice_app_secret"),
    host="https://api2.nxcloud.com", path="/api/voiceSms/getVoiceCdr", method="POST",
    encoding="form", auth=KeyFields(), paging=Offset(1000),
    envelope=VOICE_FORM,
    query=lambda b: {"start_time": b.lo, "end_time": b.hi},
    # group calls (0) and OTP/notification calls (1) are separate sets with their own ids; the
    # column is not named voiceType: snake-cased, it would collide with the rows' voice_type
    variants=(Variant({"voiceType": 0}, {"request_voice_type": 0}),
              Variant({"voiceType": 1}, {"request_voice_type": 1})),
    primary_keys=("request_voice_type", "id"), replication_key="start_time",
    # costs are computed late ("the cost calculation has a certain delay")
    lookback_setting="voice_lookback_minutes", lookback_minutes=24 * 60,
    max_window_seconds=86400, retention_days=7, min_interval=1.0,
)
