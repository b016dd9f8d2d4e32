"""Reconciliation end to end through the CLI: every window checked against NXCloud's own counts
(the API's totals, the SMS app's statement), the `sync_audit` stream, `fail_on_mismatch`. The
double's knobs make the vendor disagree with itself: `cache["phantoms"]` (rows counted in a
total, never returned) and `cache["sms_report_offsets"]` (a statement counting more)."""

from __future__ import annotations

import datetime as dt
import itertools

import jsonschema
import pytest

from nxcloud_double.endpoints.core import PHANTOMS
from nxcloud_double.endpoints.sms_daily_reports import OFFSETS
from tap_nxcloud.schemas import load as load_schema
from tap_nxcloud.spec import Offset
from tap_nxcloud.streams import BY_NAME

from .conftest import (
    STREAM_NAMES,
    ZONE,
    assert_rows_exact,
    key_of,
    load_stream,
    recent_range,
    run_tap,
    stream_config,
)
from .hostile import Hostile, Reply, wire_path

AUDIT = "sync_audit"
VALIDATOR = jsonschema.Draft202012Validator(load_schema(AUDIT),
                                            format_checker=jsonschema.FormatChecker())
# streams whose API states a total for each query, and whose double can miscount it
COUNTED = ("sms_cdrs", "sip_cdrs", "did_cdrs", "email_cdrs", "ai_agent_tasks")
MISMATCH = "NXCloud counts"


def _audit(run, stream: str) -> list[dict]:
    rows = [r for r in run.records(AUDIT) if r["stream"] == stream]
    for row in rows:
        VALIDATOR.validate(row)
    return rows


def _warnings(run, needle: str) -> list[str]:
    return [line for line in run.stderr.splitlines() if "WARNING" in line and needle in line]


def _days(n: int) -> tuple[dt.datetime, dt.datetime]:
    """n whole days of the platform's zone, the last ending at today's midnight: days that are
    over, so the SMS statement of each is compared."""
    midnight = dt.datetime.now(ZONE).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - dt.timedelta(days=n), midnight


def _sms_days(double, n: int = 3, rows: int = 240):
    span = _days(n)
    load_stream(double, "sms_cdrs", rows, seed=41, span=span)
    return span, stream_config(double.url, double, "sms_cdrs", span=span,
                               _select=["sms_cdrs", AUDIT])


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_a_clean_sync_reconciles_and_its_audit_is_what_was_emitted(double, tmp_path, stream):
    spec = BY_NAME[stream]
    load_stream(double, stream, 150, seed=40)
    run = run_tap(stream_config(double.url, double, stream, _select=[stream, AUDIT]), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not _warnings(run, MISMATCH) and not _warnings(run, "statement")
    audit = _audit(run, stream)
    assert audit and {r["run_id"] for r in audit} == {audit[0]["run_id"]}
    assert sum(r["rows"] for r in audit) == len(run.records(stream))
    # every request the double answered for the stream is some window's
    statements = len(double.requests(spec.statement[0])) if spec.statement else 0
    assert sum(r["requests"] for r in audit) == len(double.requests(stream)) + statements
    assert {r["retries"] for r in audit} == {0} and {r["rate_refusals"] for r in audit} == {0}
    counted = bool(spec.envelope.total) and isinstance(spec.paging, Offset)
    for row in audit:
        assert row["reconciled"] is (True if counted else None), row
        if counted:
            assert row["api_count"] == row["api_rows"] >= row["rows"]
        assert row["mismatch"] is None
    if spec.windowed and not spec.child:  # the windows tile the range, in order
        ends = [(r["window_start"], r["window_end"]) for r in audit]
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ends)), ends


@pytest.mark.parametrize("stream", COUNTED)
def test_a_row_counted_but_never_returned_is_one_warning_with_both_counts(double, tmp_path,
                                                                         stream):
    spec = BY_NAME[stream]
    rows = load_stream(double, stream, 150, seed=42)
    double.cache[PHANTOMS] = {stream: [rows[len(rows) // 2][spec.replication_key]]}
    run = run_tap(stream_config(double.url, double, stream, _select=[stream, AUDIT]), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert_rows_exact(run, double, stream)  # every row there is emitted all the same
    wrong = [r for r in _audit(run, stream) if r["reconciled"] is False]
    assert len(wrong) == 1, wrong
    row = wrong[0]
    assert row["api_count"] == row["api_rows"] + 1 and row["mismatch"].startswith(MISMATCH)
    warnings = _warnings(run, MISMATCH)
    assert len(warnings) == 1, run.stderr[-3000:]
    for needle in (stream, "window", f"counts {row['api_count']} rows",
                   f"it returned {row['api_rows']}"):
        assert needle in warnings[0], (needle, warnings[0])
    if spec.still_open:  # tasks still calling hold it back, mismatch or not
        return
    # a warning only: the bookmark moves on to the range's end
    last = run.states[-1]["bookmarks"][stream]["replication_key_value"]
    assert dt.datetime.fromisoformat(last) == dt.datetime.fromisoformat(
        stream_config(double.url, double, stream)["end_date"])


def test_a_statement_that_counts_one_more_is_one_warning_naming_the_day(double, tmp_path):
    (start, _), config = _sms_days(double)
    day = (start + dt.timedelta(days=1)).date()
    double.cache[OFFSETS] = {day.isoformat(): 1}
    run = run_tap(config, tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    audit = {r["window_start"][:10]: r for r in _audit(run, "sms_cdrs")}
    assert set(audit) == {(start + dt.timedelta(days=i)).date().isoformat() for i in range(3)}
    for name, row in audit.items():
        assert row["statement_count"] == row["api_rows"] + (name == day.isoformat()), row
        assert row["reconciled"] is (name != day.isoformat())
        assert row["requests"] == 2  # the day's page and its statement
    warnings = _warnings(run, "statement")
    assert len(warnings) == 1 and "sms_cdrs" in warnings[0] and day.isoformat() in warnings[0]
    wrong = audit[day.isoformat()]
    assert (f"counts {wrong['statement_count']} messages" in warnings[0]
            and f"number {wrong['api_rows']}" in warnings[0])
    # within the tolerance: no warning, reconciled
    calm = run_tap({**config, "reconcile_tolerance": 1}, tmp_path)
    assert calm.returncode == 0 and not _warnings(calm, "statement")
    assert all(r["reconciled"] is True for r in _audit(calm, "sms_cdrs"))


def test_fail_on_mismatch_reads_everything_then_holds_the_bookmark_and_exits_1(double,
                                                                              tmp_path):
    (start, end), config = _sms_days(double)
    day = start + dt.timedelta(days=1)
    double.cache[OFFSETS] = {day.date().isoformat(): 1}
    config = {**config, "fail_on_mismatch": True, "sms_lookback_minutes": 0}
    run = run_tap(config, tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert_rows_exact(run, double, "sms_cdrs", span=(start, end))  # the days after it too
    final = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    assert len(final) == 1, run.stderr[-3000:]
    assert "sms_cdrs" in final[0] and "fail_on_mismatch" in final[0] and "window" in final[0]
    mark = run.states[-1]["bookmarks"]["sms_cdrs"]["replication_key_value"]
    assert dt.datetime.fromisoformat(mark) == day  # before the day that did not reconcile
    assert len(_audit(run, "sms_cdrs")) == 3  # its audit still says what happened

    double.cache[OFFSETS] = {}  # the vendor's statement corrected: the day is read again
    before = len(double.requests("sms_cdrs"))
    again = run_tap(config, tmp_path, state=run.states[-1])
    assert again.returncode == 0, again.stderr[-3000:]
    asked = {e["params"]["date"] for e in double.requests("sms_cdrs")[before:]}
    assert asked == {(day + dt.timedelta(days=i)).strftime("%Y%m%d") for i in range(2)}
    mark = again.states[-1]["bookmarks"]["sms_cdrs"]["replication_key_value"]
    assert dt.datetime.fromisoformat(mark) == end
    assert {key_of("sms_cdrs", r) for r in again.records("sms_cdrs")} >= {
        key_of("sms_cdrs", r) for r in run.records("sms_cdrs")
        if dt.datetime.fromisoformat(r["date"]) >= day}


def test_pages_that_shift_while_read_are_repaired_never_reported(double, tmp_path):
    """A row arrives while a window's pages are read (email: newest first, pages of 100): the
    pages shift, the window is read again, and that repair is not a mismatch."""
    stream = "email_cdrs"
    rows = load_stream(double, stream, 1200, seed=43)
    endpoint_rows = double.tables[stream]
    start, _ = recent_range()  # the first window is the first hour: a row at its newest end
    cutoff = (start + dt.timedelta(minutes=50)).strftime("%Y-%m-%dT%H:%M:%S")  # moves them all
    late = dict(rows[0], messageId="arrived-while-paging",
                sendTime=max(r["sendTime"] for r in rows if r["sendTime"] < cutoff))

    def arrive(name, params, n):
        if name == stream and n == 2:  # between the first window's first and second pages
            endpoint_rows.add([late])
    double.on_request = arrive
    run = run_tap(stream_config(double.url, double, stream, _select=[stream, AUDIT]), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not _warnings(run, MISMATCH), run.stderr[-3000:]
    assert all(r["reconciled"] is True for r in _audit(run, stream))
    assert "arrived-while-paging" in {r["messageId"] for r in run.records(stream)}
    assert len(double.requests(stream)) > sum(  # it was read again
        -(-r["api_rows"] // 100) for r in _audit(run, stream))


def test_a_statement_that_cannot_be_read_leaves_the_records_alone(double, tmp_path):
    """An SMS app that may not read its statement (a refusal on getSmsReport only): every record
    is read all the same, one WARNING says the days are not reconciled, exit 0."""
    span, config = _sms_days(double)
    refused = Reply(200, {"Content-Type": "application/json"},
                    b'{"code":"1","info":"no permission for this api"}')

    def rule(req):
        return refused if req.path == wire_path(BY_NAME["sms_daily_reports"]) else None
    with Hostile(double.url, rule) as hostile:
        run = run_tap({**config, "api_url": hostile.url}, tmp_path)
        asked = len(hostile.requests(wire_path(BY_NAME["sms_daily_reports"])))
    assert run.returncode == 0 and "Traceback" not in run.stderr, run.stderr[-3000:]
    assert_rows_exact(run, double, "sms_cdrs", span=span)
    warnings = _warnings(run, "could not be read")
    assert len(warnings) == 1 and "no permission" in warnings[0], run.stderr[-3000:]
    assert asked <= 4  # given up at the first refusal (windows in flight at most)
    assert all(r["statement_count"] is None for r in _audit(run, "sms_cdrs"))
