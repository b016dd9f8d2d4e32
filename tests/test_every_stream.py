"""Every registered stream, end to end through the real CLI against the API double: the
properties a user relies on, whatever the stream's kind (incremental, full table, snapshot,
child). A stream added to the registry is tested here without a line of test code.

Each test reads one stream over recent_range() (inside every API's retention, few windows for
the paced ones); streams that share credentials (SMS's keys read the records, the daily
statements and the balance) are selected one at a time through a catalog.
"""

from __future__ import annotations

import datetime as dt
import json
import signal

import jsonschema
import pytest

from tap_nxcloud.streams import BY_NAME

from .conftest import (
    STREAM_NAMES,
    WINDOWED,
    ZONE,
    assert_rows_exact,
    interrupt,
    key_of,
    load_stream,
    recent_range,
    run_tap,
    stream_config,
    want_records,
)

VALIDATOR = jsonschema.Draft202012Validator


def _valid(run, stream: str) -> None:
    message = run.schemas[stream]
    validator = VALIDATOR(message["schema"], format_checker=VALIDATOR.FORMAT_CHECKER)
    for record in run.records(stream):
        validator.validate(record)  # every value in its one declared type and format


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _partitions(state: dict, stream: str) -> list[dict]:
    return state.get("bookmarks", {}).get(stream, {}).get("partitions", [])


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_exact_rows_typed_as_declared_and_the_state_of_its_kind(double, tmp_path, stream):
    spec = BY_NAME[stream]
    load_stream(double, stream, 120, seed=31)
    _start, end = recent_range()
    run = run_tap(stream_config(double.url, double, stream), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| ERROR" not in run.stderr and "Traceback" not in run.stderr
    assert_rows_exact(run, double, stream)
    _valid(run, stream)
    assert run.schemas[stream]["key_properties"] == list(spec.primary_keys)
    assert {m.get("stream") for m in run.messages if m["type"] == "RECORD"} == {stream}
    final = run.states[-1]["bookmarks"].get(stream, {})
    if spec.child:  # a bookmark per parent row, each at the range's end
        marks = [p["replication_key_value"] for p in _partitions(run.states[-1], stream)]
        assert len(marks) == len({r[spec.child.key] for r in run.records(stream)}) > 0
        assert all(dt.datetime.fromisoformat(m) == end for m in marks), marks
    elif spec.windowed:  # RFC 3339, at the end of the range (the zone's offset for wall times),
        # or held at the oldest row still open (a task still calling: read again next run)
        mark = dt.datetime.fromisoformat(final["replication_key_value"])
        held = [dt.datetime.fromisoformat(r[spec.replication_key])
                for r in run.records(stream) if spec.still_open and spec.still_open(r)]
        assert mark == min([end, *held]) and mark.utcoffset() is not None
    else:  # read whole every run: nothing to remember
        assert "replication_key_value" not in json.dumps(final)
    if "fetched_at" in spec.added_columns:  # a snapshot says when it was taken
        for record in run.records(stream):
            taken = dt.datetime.fromisoformat(record["fetched_at"])
            assert abs(taken - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_a_wrong_secret_ends_in_one_line_naming_the_stream_and_the_setting(
        double, tmp_path, stream):
    spec = BY_NAME[stream]
    load_stream(double, stream, 20, seed=32)
    wrong = "not-the-secret-" + "7" * 8
    run = run_tap(stream_config(double.url, double, stream,
                                **{spec.secret_setting: wrong}), tmp_path)
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1, errors
    # a child read for itself names itself, and its parent when that is what was refused
    assert errors[0].split("| ")[-1].startswith(f"{stream}: "), errors[0]
    assert any(s in errors[0] for s in spec.credentials), errors[0]
    assert wrong not in run.stdout + run.stderr
    assert run.records(stream) == []
    assert len(double.requests(stream)) <= 2  # refused at the credential check, not retried


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_a_second_run_reads_new_rows_and_no_older_than_its_lookback(double, tmp_path, stream):
    """Run 1 over [a, b), rows then added over [b, c), run 2 from run 1's state up to c: every
    row of [a, c) once across both runs, field for field; run 2 reads nothing older than run
    1's bookmark minus the lookback (a stream without windows reads everything again)."""
    spec = BY_NAME[stream]
    lookback = dt.timedelta(minutes=spec.lookback_minutes)
    # a run starts right at its bookmark less the lookback; day windows at that day's start
    margin = dt.timedelta(days=1 if spec.window == "day" else 0)
    _, c = recent_range()
    b = c - dt.timedelta(hours=1)
    a = b - lookback - margin - dt.timedelta(hours=3)  # older than the lookback: never again
    load_stream(double, stream, 1000 if spec.child else 400, seed=33, span=(a, c))  # [b, c): news
    first = run_tap(stream_config(double.url, double, stream, span=(a, b)), tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert_rows_exact(first, double, stream, span=(a, b))
    double.reset_rate_limits()  # the first run's last request must not count against this one
    second = run_tap(stream_config(double.url, double, stream, span=(a, c)), tmp_path,
                     state=first.states[-1])
    assert second.returncode == 0, second.stderr[-3000:]
    if not spec.windowed:
        assert_rows_exact(second, double, stream, span=(a, c))
        return
    want = want_records(double, stream, span=(a, c))
    union = {key_of(stream, r): r for r in first.records(stream)}
    union |= {key_of(stream, r): r for r in second.records(stream)}
    assert union == want
    assert set(want_records(double, stream, span=(b, c))) <= {
        key_of(stream, r) for r in second.records(stream)}
    # the oldest bookmark run 1 left (an open row holds one back), less the lookback: run 2
    # reads nothing older
    marks = [dt.datetime.fromisoformat(v) for v in _values(first.states[-1], stream)]
    floor = min(marks) - lookback - margin
    settled = set(want_records(double, stream, span=(a, floor))) if floor > a else set()
    assert not settled & {key_of(stream, r) for r in second.records(stream)}
    if not spec.still_open:  # nothing holds the bookmark back: the old rows are not re-read
        assert settled


def _values(state: dict, stream: str) -> list[str]:
    mark = state["bookmarks"][stream]
    found = [p["replication_key_value"] for p in mark.get("partitions", [])]
    return found or [mark["replication_key_value"]]


@pytest.mark.parametrize("stream", WINDOWED)
def test_killed_mid_run_a_resume_loses_nothing(double, tmp_path, stream):
    """SIGKILL at the first STATE after rows (the messages up to then are what a
    target got), then a run from the last STATE: every row at least once across both, and a row
    twice only if the killed run sent it after that STATE."""
    spec = BY_NAME[stream]
    span = recent_range(hours=72 if spec.window == "day" else 3)
    load_stream(double, stream, 600, seed=35, span=span)
    double.latency_ms = 15
    config = stream_config(double.url, double, stream, span=span, window_minutes=30,
                           max_window_minutes=30, max_workers=1, **{spec.lookback_setting: 0})
    rows = [0]

    def first_state_after_rows(line: bytes) -> bool:  # a window done, more to come
        rows[0] += b'"type":"RECORD"' in line
        return rows[0] > 0 and b'"type":"STATE"' in line
    code, messages, _ = interrupt(config, tmp_path, first_state_after_rows)
    assert code == -signal.SIGKILL, "the run ended before it could be killed"
    last = max(i for i, m in enumerate(messages) if m["type"] == "STATE")
    before = {key_of(stream, m["record"]) for m in messages[:last] if m["type"] == "RECORD"}
    after = {key_of(stream, m["record"]) for m in messages[last:] if m["type"] == "RECORD"}
    want = want_records(double, stream, span=span)
    assert 0 < len(before) < len(want)  # killed inside the stream
    second = run_tap({**config, "_select": [stream]}, tmp_path, state=messages[last]["value"])
    assert second.returncode == 0, second.stderr[-3000:]
    resumed = {key_of(stream, r) for r in second.records(stream)}
    assert before | after | resumed == set(want)
    # read again: only what followed the last STATE, or what its bookmark says to read again
    # (a row still open holds it back)
    marks = {json.dumps(p.get("context"), sort_keys=True): p["replication_key_value"]
             for p in _partitions(messages[last]["value"], stream)}
    mark = messages[last]["value"]["bookmarks"][stream].get("replication_key_value")
    for record in second.records(stream):
        if key_of(stream, record) in before - after:
            context = {spec.child.key: record[spec.child.key]} if spec.child else None
            held = marks.get(json.dumps(context, sort_keys=True), mark)
            assert held and _moment(record[spec.replication_key]) >= _moment(held), record
    for record in second.records(stream):
        assert record == want[key_of(stream, record)]


def test_every_stream_in_one_run(double, tmp_path):
    """All the registered streams at once (shared SMS keys, a child after its parent, paced
    and unpaced side by side): each exact, and the SCHEMA of each before its first record."""
    config = {}
    for stream in STREAM_NAMES:
        load_stream(double, stream, 60, seed=36)
        config |= stream_config(double.url, double, stream)
    config.pop("_select")
    run = run_tap(config, tmp_path, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = set()
    for m in run.messages:
        if m["type"] == "SCHEMA":
            seen.add(m["stream"])
        elif m["type"] == "RECORD":
            assert m["stream"] in seen
    for stream in STREAM_NAMES:
        assert_rows_exact(run, double, stream)
    assert not any(double.rate_violations.values()), double.rate_violations
    assert ZONE.key == config["timezone"]
