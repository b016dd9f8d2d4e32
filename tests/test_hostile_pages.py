"""The second hostile round, on pages, keys and state: a server that ignores the page size, a
total that changes between pages, rows of another window, rows twice or under another spelling
of their key, bookmarks out of range, a state full of accounts no longer configured, a full
disk under the read-ahead spool. Through the real CLI, against the double and tests/hostile.py."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from nxcloud_double import ApiDouble
from tap_nxcloud.schemas import load as load_schema
from tap_nxcloud.spec import Keyset, Offset
from tap_nxcloud.streams import BY_NAME, STREAMS

from .conftest import (
    STREAM_NAMES,
    assert_rows_exact,
    key_of,
    load_stream,
    recent_range,
    run_tap,
    stream_config,
    want_records,
)
from .hostile import Hostile, Reply, is_data, rows_of, set_rows, set_total, wire_path


def _check(run, code: int = 0) -> list[str]:
    assert run.returncode == code, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    errors = [line for line in run.stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == (1 if code else 0), errors
    return [line for line in run.stderr.splitlines() if "| WARNING" in line]


def _tamper(stream: str, change):
    spec = BY_NAME[stream]

    def rule(req):
        if req.path != wire_path(spec):
            return None
        reply = req.forward()
        if not is_data(spec, reply):
            return reply
        return reply.with_json(change(req, reply.json()))
    return rule


def test_pages_bigger_than_the_whole_budget_never_stall_the_run(tmp_path):
    """A server that ignores page_size and sends pages of 10 000 SMS rows (the tap asks 999;
    the row budget of default settings holds about 12 000): read to the end, exactly."""
    end = recent_range()[1]
    span = (end - dt.timedelta(days=2), end)
    with ApiDouble() as double:
        load_stream(double, "sms_cdrs", 36_000, seed=71, span=span)
        double.serve_page_size["sms_cdrs"] = 10_000
        run = run_tap(stream_config(double.url, double, "sms_cdrs", span=span), tmp_path,
                      timeout=300)
        _check(run)
        assert_rows_exact(run, double, "sms_cdrs", span)


@pytest.mark.parametrize("stream", [s.name for s in STREAMS if isinstance(s.paging, Offset)
                                    and s.envelope.total and not s.min_interval])
def test_a_total_that_falls_after_page_one_loses_no_row(double, tmp_path, stream):
    """The API says N on page 1 and far fewer on later pages: every row is read anyway, and no
    WARNING promises a re-read."""
    spec = BY_NAME[stream]
    load_stream(double, stream, 60 * spec.paging.size // 20 + 30, seed=73)
    pages = {}

    def change(req, payload):
        key = json.dumps(sorted((k, v) for k, v in req.query.items()), default=str) + \
            str(len(pages))
        first = "page=1" in req.raw_query or b'"page":1' in req.body or b"page=1&" in req.body \
            or b"pageNumber\":1" in req.body or b"current\":1" in req.body
        pages[key] = first
        total = payload_total(spec, payload)
        return set_total(spec, payload, total if first else max(1, total // 3))
    run = run_tap(stream_config(double.url, double, stream, window_target_rows=100000),
                  tmp_path)
    warnings = _check(run)
    assert_rows_exact(run, double, stream)
    assert not any("next run" in w for w in warnings), warnings


def payload_total(spec, payload) -> int:
    holder = payload
    base = payload.get(spec.envelope.wrapper) if spec.envelope.wrapper else None
    if isinstance(base, dict) and spec.envelope.rows[0] not in payload:
        holder = base
    for part in spec.envelope.total:
        holder = holder[part]
    return int(holder)


# keyset paging (flash) refuses a row before the range at once: it cannot page on (test_hostile)
WINDOWED = [s.name for s in STREAMS if s.windowed and not s.stamp and not s.child
            and not isinstance(s.paging, Keyset)]


@pytest.mark.parametrize("stream", WINDOWED)
def test_rows_of_another_range_are_counted_and_named_never_dropped_in_silence(
        double, tmp_path, stream):
    spec = BY_NAME[stream]
    load_stream(double, stream, 30, seed=79)
    far = {"wall": "2020-01-01 00:00:00", "epoch_ms": 1577836800000,
           "epoch_s": 1577836800}[spec.row_time]

    def change(req, payload):
        rows = rows_of(spec, payload)
        if rows:
            stranger = {**rows[0], spec.replication_key: far}
            for k in spec.primary_keys:
                if k in stranger and isinstance(stranger[k], int):
                    stranger[k] += 10**9
                elif k in stranger and str(stranger[k]).isdigit():
                    stranger[k] = str(int(stranger[k]) + 10**9)
                elif k in stranger:
                    stranger[k] = f"stranger-{stranger[k]}"
            set_rows(spec, payload, [*rows, stranger])
        return payload
    with Hostile(double.url, _tamper(stream, change)) as hostile:
        config = stream_config(hostile.url, double, stream)
        config["_select"] = [stream, "sync_audit"]
        run = run_tap(config, tmp_path)
    warnings = _check(run)
    assert_rows_exact(run, double, stream)
    assert any("outside the range asked" in w for w in warnings), warnings
    audit = [r for r in run.records("sync_audit") if r["stream"] == stream]
    assert any(r["reconciled"] is False and "outside the range" in (r["mismatch"] or "")
               for r in audit), audit


KEYED_INT = [s.name for s in STREAMS if s.windowed and not s.child and not s.stamp
             and len([k for k in s.primary_keys if k not in s.added_columns]) == 1]


@pytest.mark.parametrize("stream", KEYED_INT)
def test_a_row_repeated_or_respelled_is_one_record(double, tmp_path, stream):
    """Every page holds its first row twice more: once as sent, and once more as sent or, for an
    integer key, spelled as a float or a padded string: one record each, under every paging
    kind (a string key is a string: " 7" is not "7")."""
    spec = BY_NAME[stream]
    key = next(k for k in spec.primary_keys if k not in spec.added_columns)
    integer = "integer" in str(load_schema(stream)["properties"][key].get("type"))
    load_stream(double, stream, 40, seed=83)

    def change(req, payload):
        rows = rows_of(spec, payload)
        if rows and (len(rows) < spec.paging.size or isinstance(spec.paging, Keyset)):
            twin = dict(rows[0])
            value = twin[key]
            if integer:
                twin[key] = float(value) if isinstance(value, int) else f" {value} "
            extra = [dict(rows[0]), twin]
            if isinstance(spec.paging, Keyset):  # a full page would page on: stay under it
                rows = rows[: spec.paging.size - 2]
            set_rows(spec, payload, [*rows, *extra])
        return payload
    with Hostile(double.url, _tamper(stream, change)) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
    _check(run)
    keys = [key_of(stream, r) for r in run.records(stream)]
    assert len(keys) == len(set(keys)), f"{stream}: a row emitted twice"
    assert_rows_exact(run, double, stream)


@pytest.mark.parametrize("value", ["abc", True, "1.5"])
def test_a_key_that_cannot_be_converted_stops_the_stream_with_one_line(double, tmp_path,
                                                                        value):
    spec = BY_NAME["flash_call_cdrs"]
    load_stream(double, spec.name, 10, seed=89)

    def change(req, payload):
        rows = rows_of(spec, payload)
        if rows:
            rows[0]["id"] = value
        return payload
    with Hostile(double.url, _tamper(spec.name, change)) as hostile:
        run = run_tap(stream_config(hostile.url, double, spec.name), tmp_path)
    _check(run, code=1)
    assert "cannot be keyed" in run.stderr and "flash_call_cdrs" in run.stderr
    assert not any(r.get("id") is None for r in run.records(spec.name))


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00Z", "NaN", "9999-12-31T00:00:00Z",
                                   "1999-01-01T00:00:00Z"])
def test_a_bookmark_out_of_range_ends_in_one_line_naming_the_state(double, tmp_path, value):
    state = {"bookmarks": {"sms_cdrs": {"replication_key": "date",
                                        "replication_key_value": value}}}
    run = run_tap(stream_config(double.url, double, "sms_cdrs"), tmp_path, state=state)
    _check(run, code=1)
    line = next(line for line in run.stderr.splitlines() if "| ERROR" in line)
    assert "sms_cdrs" in line and "bookmark" in line and "state" in line, line
    assert "a bug" not in line and not double.requests("sms_cdrs")


def test_partitions_of_accounts_no_longer_configured_leave_the_state(double, tmp_path):
    load_stream(double, "sms_cdrs", 20, seed=97)
    config = stream_config(double.url, double, "sms_cdrs")
    keys = {k: config.pop(k) for k in ("sms_app_key", "sms_app_secret")}
    config["accounts"] = [{"name": "acme", **keys}]
    mark = (recent_range()[0] - dt.timedelta(hours=1)).isoformat()
    stale = [{"context": {"account": f"gone{i}"}, "replication_key": "date",
              "replication_key_value": mark} for i in range(5000)]
    state = {"bookmarks": {"sms_cdrs": {"partitions": stale}}}
    run = run_tap(config, tmp_path, state=state)
    _check(run)
    assert "Dropping 5000 state partitions of accounts no longer configured" in run.stderr
    final = run.states[-1]["bookmarks"]["sms_cdrs"]["partitions"]
    assert [p["context"]["account"] for p in final] == ["acme"]
    assert max(len(json.dumps(s)) for s in run.states) < 20_000  # not 5 000 partitions each


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB filesystem for TMPDIR: a disk that fills while the spool is written."""
    place = tmp_path / "tiny"
    place.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(place)],
                          capture_output=True, text=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({made.stderr.strip()[:80]}): "
                    "the full-disk case needs root")
    try:
        yield place
    finally:
        subprocess.run(["umount", "-l", str(place)], check=False)


@pytest.mark.parametrize("stream", [s.name for s in STREAMS if s.min_interval])
def test_a_spool_that_cannot_be_written_loses_no_row(double, tmp_path, full_disk, stream):
    """The read-ahead spool's disk fills at 64 KiB: what the paced stream read waits in
    memory, the rest is read at its turn: exact, exit 0, the bookmark at the end."""
    load_stream(double, stream, 1200, seed=101)
    run = run_tap(stream_config(double.url, double, stream), tmp_path,
                  env={"TMPDIR": str(full_disk)})
    _check(run)
    assert_rows_exact(run, double, stream)
    assert "reading ahead paused" in run.stderr


def test_everything_listed_runs_here():
    assert set(WINDOWED) <= set(STREAM_NAMES) and KEYED_INT and want_records


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_a_captive_portal_is_named_and_not_retried(double, tmp_path, stream):
    """Every answer a 200 HTML page (a proxy's login page): one line naming what answered,
    after one request of each stream's check, not 84 s of retries."""
    portal = b"<html><body>Please sign in to the hotel Wi-Fi</body></html>"
    with Hostile(double.url, lambda req: Reply(200, {"Content-Type": "text/html"}, portal)) \
            as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
        sent = len(hostile.requests())
    _check(run, code=1)
    line = next(line for line in run.stderr.splitlines() if "| ERROR" in line)
    assert "text/html" in line and "captive portal" in line and stream in line, line
    assert "retry" not in run.stderr and sent <= 2, (sent, run.stderr[-1500:])


@pytest.mark.parametrize("value", ["-5", "0", "nan"])
def test_a_retry_after_of_no_time_falls_back_to_the_backoff(double, tmp_path, value):
    spec = BY_NAME["cc_cdrs"]
    load_stream(double, spec.name, 20, seed=131)
    refused = [0]

    def rule(req):
        if req.path == wire_path(spec) and refused[0] < 1:
            refused[0] += 1
            return Reply(429, {"Retry-After": value}, b"slow down")
        return None
    with Hostile(double.url, rule) as hostile:
        run = run_tap(stream_config(hostile.url, double, spec.name, backoff_base_seconds=0.5),
                      tmp_path)
    _check(run)
    waits = [float(line.split(" in ")[-1].split(" s")[0]) for line in run.stderr.splitlines()
             if "retry 1 of" in line]
    assert waits and waits[0] >= 0.2, waits  # the backoff (0.25 s at least, shown to 0.1 s)
    assert_rows_exact(run, double, spec.name)
