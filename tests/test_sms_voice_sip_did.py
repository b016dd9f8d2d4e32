"""SMS, voice, SIP and DID end to end: the real CLI against the API double.

Their data lies in the last days (the APIs keep SMS 31 days, voice 7, SIP 15), so these tests
read "now"-relative ranges. Voice and SIP are paced at the vendor's rates (1 and 2 seconds a
request): their tests keep the number of windows small.
"""

from __future__ import annotations

import datetime as dt
import itertools

import jsonschema
import pytest

from nxcloud_double import Faults
from nxcloud_double.data import WALL

from .conftest import (
    AT_ONCE,
    SLOW_BACKOFF,
    ZONE,
    after_records,
    did_rows,
    expected,
    interrupt,
    run_tap,
    sip_rows,
    sms_rows,
    voice_rows,
)

NEW = ("sms_cdrs", "voice_cdrs", "sip_cdrs", "did_cdrs")
KEYS = {"sms_cdrs": ("msgid", "phone"), "voice_cdrs": ("request_voice_type", "id"),
        "sip_cdrs": ("id",),
        "did_cdrs": ("id",)}
TABLE = {"sms_cdrs": "sms", "voice_cdrs": "voice", "sip_cdrs": "sip", "did_cdrs": "did"}
CREDS = {"sms_cdrs": ("sms_app_key", "sms_app_secret"),
         "voice_cdrs": ("voice_app_key", "voice_app_secret"),
         "sip_cdrs": ("sip_app_key", "sip_app_secret"),
         "did_cdrs": ("did_access_key", "did_access_secret")}
FAST = {"request_timeout": 2, "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.3}


def _midnight(days_ago: int) -> dt.datetime:
    today = dt.datetime.now(ZONE).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=days_ago)


START = _midnight(2)  # data from two days ago, midnight, to a few minutes ago


def _span() -> int:
    return int((dt.datetime.now(ZONE) - START).total_seconds()) - 600


def new_config(double, streams=NEW, **extra) -> dict:
    c = double.credentials
    config = {"api_url": double.url, "start_date": START.date().isoformat(),
              "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.5}
    for stream in streams:
        for name in CREDS[stream]:
            config[name] = getattr(c, name)
    # just these streams: SMS's keys also read its statements and balance
    return {**config, "_select": tuple(streams), **extra}


def fill_new(double, rows: int, seed: int, streams=NEW):
    start, span = START.strftime(WALL), _span()
    if "sms_cdrs" in streams:
        double.sms.add(sms_rows(rows, seed=seed, start=start, span_seconds=span))
    if "voice_cdrs" in streams:
        for kind in (0, 1):
            double.voice.add(voice_rows(rows // 2, seed=seed, voice_type=kind, start=start,
                                        span_seconds=span))
    if "sip_cdrs" in streams:
        double.sip.add(sip_rows(rows, seed=seed, start=start, span_seconds=span))
    if "did_cdrs" in streams:
        double.did.add(did_rows(rows, seed=seed, start=start, span_seconds=span))
    return double


def key(stream: str, row: dict) -> tuple:
    return tuple(row[k] for k in KEYS[stream])


def want(double, stream: str, since: str = "") -> dict:
    rk = {"sms_cdrs": "date", "voice_cdrs": "start_time", "sip_cdrs": "start_time",
          "did_cdrs": "startTime"}[stream]
    rows = getattr(double, TABLE[stream]).rows()
    return {key(stream, e): e for e in (expected(stream, r) for r in rows if r[rk] >= since)}


def assert_exact(run, double, stream: str, since: str = "") -> None:
    got = run.records(stream)
    keys = [key(stream, r) for r in got]
    assert len(keys) == len(set(keys)), f"{stream}: a row was emitted twice"
    assert dict(zip(keys, got, strict=True)) == want(double, stream, since), stream


@pytest.fixture
def filled(double):
    return fill_new(double, 600, seed=7)


def test_every_new_stream_syncs_exactly_with_valid_types(filled, tmp_path):
    run = run_tap(new_config(filled, max_workers=4), tmp_path, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in NEW:
        assert_exact(run, filled, stream)
        message = run.schemas[stream]
        assert message["key_properties"] == list(KEYS[stream])
        validator = jsonschema.Draft202012Validator(
            message["schema"], format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        for record in run.records(stream):
            validator.validate(record)  # every value in its one declared type
    # numbers sent as strings on the wire came out typed (the double stringifies some)
    assert any(isinstance(r["network"], str) for r in run.records("sms_cdrs"))
    assert all(isinstance(r["customer_price"], float | int) for r in run.records("voice_cdrs"))
    assert {r["request_voice_type"] for r in run.records("voice_cdrs")} == {0, 1}
    # bookmarks: RFC 3339 with the zone's offset, at the end of the range
    final = run.states[-1]["bookmarks"]
    for stream in NEW:
        mark = dt.datetime.fromisoformat(final[stream]["replication_key_value"])
        assert mark.utcoffset() == dt.timedelta(hours=8)
        assert dt.datetime.now(ZONE) - mark < dt.timedelta(minutes=5)
    # the vendor's rates held with four workers: no refusal, and requests spaced as documented
    assert not any(filled.rate_violations.values()), filled.rate_violations
    for stream, gap in (("voice_cdrs", 1.0), ("sip_cdrs", 2.0)):
        at = sorted(e["at"] for e in filled.requests(stream))
        assert len(at) >= 3 and min(b - a for a, b in itertools.pairwise(at)) >= gap
    # the API's limits: one day a request for SMS and DID, at most 24 h for voice and SIP
    assert {e["params"]["date"] for e in filled.requests("sms_cdrs")} == {
        (START + dt.timedelta(days=d)).strftime("%Y%m%d") for d in range(3)}
    for e in filled.requests("voice_cdrs") + filled.requests("sip_cdrs"):
        lo, hi = (dt.datetime.strptime(e["params"][k], WALL) for k in ("start_time", "end_time"))
        assert dt.timedelta(0) < hi - lo <= dt.timedelta(hours=24)


def test_incremental_run_reads_late_delivery_reports_and_new_rows(double, tmp_path):
    streams = ("sms_cdrs", "did_cdrs")
    fill_new(double, 400, seed=3, streams=streams)
    first = run_tap(new_config(double, streams), tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    # SMS delivery reports arrive a day later for rows already loaded; new rows of both streams
    pending = [r for r in double.sms.rows() if r["dr"] is None]
    assert pending
    late = [{**r, "dr": "DELIVRD", "dr_status": "Successful", "billing_status": "Yes",
             "dr_time": (dt.datetime.strptime(r["date"], WALL) + dt.timedelta(hours=20)
                         ).strftime(WALL)} for r in pending]
    double.sms.add(late)
    recent = (dt.datetime.now(ZONE) - dt.timedelta(seconds=400)).strftime(WALL)
    double.sms.add(sms_rows(3, seed=90, start=recent, span_seconds=200, prefix="new"))
    double.did.add(did_rows(3, seed=90, start=recent, span_seconds=200, first_id=10**6))
    double.log.clear()
    second = run_tap(new_config(double, streams), tmp_path, state=first.states[-1])
    assert second.returncode == 0, second.stderr[-3000:]
    got = {key("sms_cdrs", r): r for r in second.records("sms_cdrs")}
    for row in late:  # every late report reached the target (72 h SMS lookback by default)
        assert got[key("sms_cdrs", row)]["dr"] == "DELIVRD"
    assert {r["id"] for r in second.records("did_cdrs")} >= set(range(10**6, 10**6 + 3))
    assert any(r["msgid"].startswith("new") for r in second.records("sms_cdrs"))
    # DID re-read only its 120-minute lookback (today, or yesterday too just after midnight)
    today = dt.datetime.now(ZONE).date()
    assert {e["params"]["date"] for e in double.requests("did_cdrs")} <= {
        today.isoformat(), (today - dt.timedelta(days=1)).isoformat()}


def test_retention_clamp_warns_once_and_never_asks_for_expired_days(double, tmp_path):
    # rows 14 days ago (SIP keeps 15 days, SMS 31); read from 60 days ago to 13 days ago
    old = (dt.datetime.now(ZONE) - dt.timedelta(days=14)).strftime(WALL)
    double.sms.add(sms_rows(300, seed=5, start=old, span_seconds=3600))
    double.sip.add(sip_rows(300, seed=5, start=old, span_seconds=3600))
    end = (dt.datetime.now(ZONE) - dt.timedelta(days=13)).isoformat(timespec="seconds")
    config = new_config(double, ("sms_cdrs", "sip_cdrs"),
                        start_date=_midnight(60).date().isoformat(), end_date=end)
    before = dt.datetime.now(ZONE)
    run = run_tap(config, tmp_path, timeout=120)
    after = dt.datetime.now(ZONE)
    assert run.returncode == 0, run.stderr[-3000:]
    for stream, days in (("sms_cdrs", 31), ("sip_cdrs", 15)):
        warnings = [line for line in run.stderr.splitlines()
                    if "WARNING" in line and f"{stream}: NXCloud keeps" in line]
        assert len(warnings) == 1 and f"for {days} days only" in warnings[0], run.stderr
        assert_exact(run, double, stream)
        assert len(run.records(stream)) == 300
    oldest_sms = min(e["params"]["date"] for e in double.requests("sms_cdrs"))
    # the first day NXCloud (today and the 30 before) still keeps 15 minutes on, the margin the
    # tap gives a run (tap_nxcloud/state.retention_edge): from 23:45 in Shanghai that is the
    # day after today's 30th before; taken before and after the run, which may cross midnight
    kept = {((t + dt.timedelta(minutes=15)).date() - dt.timedelta(days=30)).strftime("%Y%m%d")
            for t in (before, after)}
    assert oldest_sms in kept, (oldest_sms, kept)
    oldest_sip = min(dt.datetime.strptime(e["params"]["start_time"], WALL).replace(tzinfo=ZONE)
                     for e in double.requests("sip_cdrs"))
    assert dt.timedelta(days=14) < dt.datetime.now(ZONE) - oldest_sip < dt.timedelta(days=15)
    # no request reached into an expired range: all accepted, or SMS's "too frequent" (5),
    # which 31 days fetched four at a time can meet, and which is retried
    assert {e.get("code") for e in double.requests("sms_cdrs")} <= {"0", "5"}
    assert {e.get("code") for e in double.requests("sip_cdrs")} == {"1"}


REFUSALS = [
    ("sms_cdrs", {"sms_app_secret": "wrong"}, None,
     ["code 2", "check sms_app_key and sms_app_secret"]),
    ("voice_cdrs", {"voice_app_key": "wrong"}, None,
     ["code 0", "appkey or secretkey invalid", "check voice_app_key and voice_app_secret"]),
    ("sip_cdrs", {"sip_app_secret": "wrong"}, None,
     ["code 0", "check sip_app_key and sip_app_secret"]),
    ("did_cdrs", {"did_access_secret": "wrong"}, None, ["code 1003", "check did_access_secret"]),
    ("did_cdrs", {"did_access_key": "wrong"}, None, ["code 1005", "check did_access_key"]),
    ("did_cdrs", {}, "code:1002", ["code 1002"]),
    ("sms_cdrs", {}, "badrow", ["without a usable 'msgid' and 'phone'"]),
]


@pytest.mark.parametrize(("stream", "override", "fault", "needles"), REFUSALS)
def test_refusals_end_in_one_line_naming_the_setting(double, tmp_path, stream, override, fault,
                                                     needles):
    fill_new(double, 50, seed=1, streams=(stream,))
    if fault:
        double.set_faults(Faults(script=[fault]))
    run = run_tap(new_config(double, (stream,), **SLOW_BACKOFF, **override), tmp_path)
    assert run.seconds < AT_ONCE  # no backoff pause: one would be 60 s
    assert run.returncode == 1 and "Traceback" not in run.stderr
    final = [line for line in run.stderr.splitlines() if "| ERROR" in line][-1]
    for needle in (stream, *needles):
        assert needle in final, (needle, run.stderr[-2000:])
    assert len(double.requests(stream)) <= 4  # those in flight (max_workers): no retries
    for name in CREDS[stream][1:]:
        assert getattr(double.credentials, name) not in run.stderr + run.stdout


def test_transient_codes_are_retried(double, tmp_path):
    streams = ("sms_cdrs", "did_cdrs")
    fill_new(double, 300, seed=9, streams=streams)
    # sms code 5 ("too frequent") twice, did -1 and a 1004 (fresh ts), all recovered from
    double.set_faults(Faults(script=["busy", "busy", "busy", "skew"]))
    run = run_tap(new_config(double, streams, **FAST), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in streams:
        assert_exact(run, double, stream)
    assert "retry" in run.stderr


def test_rows_arriving_while_a_day_is_paged_come_once(double, tmp_path):
    """Rows land before the current offset while page 2 is read: nothing lost, nothing twice."""
    streams = ("sms_cdrs", "did_cdrs")
    fill_new(double, 2500, seed=4, streams=streams)
    day = START.strftime(WALL)
    # the first day holds several pages whatever the hour: 2 500 rows over the days so far
    # alone left it about 1 000 rows (one page of 999, or two) near noon in Shanghai
    double.sms.add(sms_rows(1200, seed=6, start=day, span_seconds=80_000, prefix="day1"))
    double.did.add(did_rows(1200, seed=6, start=day, span_seconds=80_000, first_id=4 * 10**6))
    inserted = {"sms_cdrs": [], "did_cdrs": []}
    first_day = {"sms_cdrs": START.strftime("%Y%m%d"), "did_cdrs": START.date().isoformat()}

    def on_request(stream, params, n):
        # rows land in the first day while its page 2 is asked for
        if stream in inserted and str(params.get("page")) == "2" and not inserted[stream] \
                and str(params.get("date")) == first_day[stream]:
            if stream == "sms_cdrs":
                rows = sms_rows(5, seed=77, start=day, span_seconds=60, prefix="mid")
                double.sms.add(rows)
            else:
                rows = did_rows(5, seed=77, start=day, span_seconds=60, first_id=5 * 10**6)
                double.did.add(rows)
            inserted[stream] = rows
    double.on_request = on_request
    run = run_tap(new_config(double, streams), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in streams:
        assert inserted[stream], f"{stream}: no page 2 was asked for"
        assert_exact(run, double, stream)
        # after the insert (at its page 2), the shifted day was read again from page 1, once
        log = double.requests(stream)
        insert = next(i for i, e in enumerate(log) if str(e["params"]["page"]) == "2"
                      and e["params"]["date"] == first_day[stream])
        again = [e for e in log[insert:] if str(e["params"]["page"]) == "1"
                 and e["params"]["date"] == first_day[stream]]
        assert len(again) == 1, stream


def test_kill_and_resume_loses_nothing_and_rereads_at_most_a_window(double, tmp_path):
    streams = ("sms_cdrs", "did_cdrs")
    fill_new(double, 3000, seed=8, streams=streams)
    double.latency_ms = 20
    config = new_config(double, streams, sms_lookback_minutes=0, did_lookback_minutes=0,
                        max_workers=1)
    # killed inside the DID stream, after SMS completed
    _, messages, _ = interrupt(config, tmp_path, after_records(3500))
    last = max(i for i, m in enumerate(messages) if m["type"] == "STATE")
    second = run_tap(config, tmp_path, state=messages[last]["value"])
    assert second.returncode == 0, second.stderr[-3000:]
    for stream in streams:
        first = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]
        union = {key(stream, r): r for r in first} | {key(stream, r): r
                                                      for r in second.records(stream)}
        assert union == want(double, stream), stream
        twice = {key(stream, r) for r in first} & {key(stream, r) for r in second.records(stream)}
        in_window = {key(stream, m["record"]) for m in messages[last:]
                     if m["type"] == "RECORD" and m["stream"] == stream}
        assert twice <= in_window, stream  # only the window the killed run was in


def test_incremental_voice_gets_late_costs_and_sip_new_calls(double, tmp_path):
    """Voice costs are computed late: a cost changed within the 24 h voice lookback reaches the
    target on the next run; new SIP calls too. Paced streams: a short range keeps this quick."""
    streams = ("voice_cdrs", "sip_cdrs")
    start = (dt.datetime.now(ZONE) - dt.timedelta(hours=20)).strftime(WALL)
    for kind in (0, 1):
        double.voice.add(voice_rows(100, seed=2, voice_type=kind, start=start,
                                    span_seconds=18 * 3600))
    double.sip.add(sip_rows(100, seed=2, start=start, span_seconds=18 * 3600))
    since = (dt.datetime.now(ZONE) - dt.timedelta(hours=21)).isoformat(timespec="seconds")
    config = new_config(double, streams, start_date=since)
    first = run_tap(config, tmp_path, timeout=120)
    assert first.returncode == 0, first.stderr[-3000:]
    for stream in streams:
        assert_exact(first, double, stream)
    repriced = [{**r, "customer_price": 0.777} for r in double.voice.rows()[:10]]
    double.voice.add(repriced)
    recent = (dt.datetime.now(ZONE) - dt.timedelta(seconds=300)).strftime(WALL)
    double.sip.add(sip_rows(4, seed=3, start=recent, span_seconds=100, first_id=10**6))
    double.reset_rate_limits()  # the previous run's last request must not count against this one
    second = run_tap(config, tmp_path, state=first.states[-1], timeout=120)
    assert second.returncode == 0, second.stderr[-3000:]
    got = {key("voice_cdrs", r): r for r in second.records("voice_cdrs")}
    assert all(got[(r["voiceType"], r["id"])]["customer_price"] == 0.777 for r in repriced)
    assert {r["id"] for r in second.records("sip_cdrs")} >= set(range(10**6, 10**6 + 4))
    assert not any(double.rate_violations.values()), double.rate_violations


def test_no_secret_of_any_product_in_any_output_at_debug(tmp_path):
    """The SMS, voice and SIP secrets travel in form bodies, DID's signs: none reaches stdout or
    stderr at DEBUG, through faults, raw or URL-encoded. (No log line holds a request body today;
    this guards that, and test_tap_object checks that every secret is registered for scrubbing.)"""
    from urllib.parse import quote, quote_plus

    from nxcloud_double import ApiDouble, Credentials
    special = Credentials(sms_app_secret="sms s3cr+t&=é/", voice_app_secret="v%ice=s3cr@t?",
                          sip_app_secret="sip&secr=t ü", did_access_secret="did/s3cr+t%")
    streams = ("sms_cdrs", "voice_cdrs", "sip_cdrs", "did_cdrs")
    with ApiDouble(credentials=special) as d:
        start = (dt.datetime.now(ZONE) - dt.timedelta(hours=6)).strftime(WALL)
        d.sms.add(sms_rows(300, seed=1, start=start, span_seconds=3600))
        d.voice.add(voice_rows(100, seed=1, voice_type=0, start=start, span_seconds=3600))
        d.sip.add(sip_rows(100, seed=1, start=start, span_seconds=3600))
        d.did.add(did_rows(300, seed=1, start=start, span_seconds=3600))
        d.set_faults(Faults(script=["500", "reset", "busy", "skew", "truncated"]))
        since = (dt.datetime.now(ZONE) - dt.timedelta(hours=7)).isoformat(timespec="seconds")
        run = run_tap(new_config(d, streams, start_date=since, **FAST), tmp_path,
                      env={"TAP_NXCLOUD_LOGLEVEL": "DEBUG"}, timeout=120)
        assert run.returncode == 0, run.stderr[-3000:]
        assert "DEBUG" in run.stderr and "retry" in run.stderr
        for stream in streams:
            assert_exact(run, d, stream)
    for secret in (special.sms_app_secret, special.voice_app_secret, special.sip_app_secret,
                   special.did_access_secret):
        for form in {secret, quote(secret, safe=""), quote_plus(secret), quote(secret)}:
            assert form not in run.stdout and form not in run.stderr, form
