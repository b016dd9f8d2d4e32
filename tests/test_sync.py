"""End-to-end syncs through the real CLI against the API double."""

from __future__ import annotations

import datetime as dt
import math

import jsonschema
import pytest

from .conftest import (
    START_MS,
    START_WALL,
    assert_exact,
    cc_rows,
    config_for,
    expected_flash,
    flash_rows,
    run_tap,
)


def test_full_sync_is_exact_and_valid(loaded, tmp_path):
    run = run_tap(config_for(loaded), tmp_path)
    assert run.returncode == 0, run.stderr
    assert_exact(run, loaded)
    for stream in ("flash_call_cdrs", "cc_cdrs"):
        schema = run.schemas[stream]["schema"]
        validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
        for record in run.records(stream):
            validator.validate(record)
        assert run.schemas[stream]["key_properties"] == (
            ["id"] if stream == "flash_call_cdrs" else ["callId"])
    # the bookmark is the end of the range, in each stream's own replication-key format
    final = run.states[-1]["bookmarks"]
    assert final["flash_call_cdrs"]["replication_key_value"] == "2026-10-04T00:00:00+08:00"
    assert final["cc_cdrs"]["replication_key_value"] == "2026-10-03T16:00:00Z"
    # requests stay near the floor: one partial page per window at most (99 new flash rows a
    # full page, as that page's last second comes again)
    for stream in ("flash_call_cdrs", "cc_cdrs"):
        sent = len(loaded.requests(stream))
        windows = len({st["bookmarks"][stream]["replication_key_value"] for st in run.states
                       if "replication_key_value" in st.get("bookmarks", {}).get(stream, {})})
        assert windows >= 2
        assert 15 <= sent <= math.ceil(1500 / 99) + windows, (stream, sent, windows)


def test_state_after_every_window_and_bookmarks_increase(loaded, tmp_path):
    run = run_tap(config_for(loaded, window_target_rows=300), tmp_path)
    assert run.returncode == 0, run.stderr
    marks = {"flash_call_cdrs": [], "cc_cdrs": []}
    emitted = {"flash_call_cdrs": 0, "cc_cdrs": 0}
    for m in run.messages:
        if m["type"] == "RECORD" and m["stream"] in emitted:
            emitted[m["stream"]] += 1
        elif m["type"] == "STATE":
            for stream, bm in m["value"].get("bookmarks", {}).items():
                value = bm.get("replication_key_value")
                if value is not None and (not marks[stream] or marks[stream][-1][0] != value):
                    marks[stream].append((value, emitted[stream]))
    flash = [(dt.datetime.fromisoformat(v), n) for v, n in marks["flash_call_cdrs"]]
    assert len(flash) >= 5 and len(marks["cc_cdrs"]) >= 5  # one STATE per window
    assert flash == sorted(flash) and marks["cc_cdrs"] == sorted(marks["cc_cdrs"])
    # every row before a bookmark was emitted before that STATE message
    for value, count in flash:
        due = [r for r in loaded.flash.rows()
               if dt.datetime.fromisoformat(expected_flash(r)["gmtCreate"]) < value]
        assert count >= len(due)


def test_incremental_run_gets_new_and_late_rows_and_no_older(loaded, tmp_path):
    first = run_tap(config_for(loaded, end_date="2026-10-03T00:00:00+08:00"), tmp_path)
    assert first.returncode == 0, first.stderr
    state = first.states[-1]
    # late rows: started an hour before the bookmark (inside the 120 min lookback); new rows after
    late_flash = flash_rows(5, seed=99, start="2026-10-02 23:00:00", span_seconds=600,
                            first_id=900_000)
    new_flash = flash_rows(5, seed=98, start="2026-10-03 06:00:00", span_seconds=600,
                           first_id=910_000)
    bookmark_ms = START_MS + 2 * 86400 * 1000
    late_cc = cc_rows(5, seed=99, start_ms=bookmark_ms - 3600_000, span_ms=600_000, prefix="late")
    new_cc = cc_rows(5, seed=98, start_ms=bookmark_ms + 6 * 3600_000, span_ms=600_000,
                     prefix="new")
    loaded.flash.add(late_flash + new_flash)
    loaded.cc.add(late_cc + new_cc)
    loaded.log.clear()
    second = run_tap(config_for(loaded), tmp_path, state=state)
    assert second.returncode == 0, second.stderr
    lookback_wall = "2026-10-02 22:00:00"
    assert_exact(second, loaded, flash_from=lookback_wall, cc_from=bookmark_ms - 7200_000)
    got_ids = {r["id"] for r in second.records("flash_call_cdrs")}
    assert {r["id"] for r in late_flash + new_flash} <= got_ids
    got_calls = {r["callId"] for r in second.records("cc_cdrs")}
    assert {r["callId"] for r in late_cc + new_cc} <= got_calls
    # nothing older than bookmark - lookback was asked for
    assert min(e["params"]["start"] for e in loaded.requests("flash_call_cdrs")) == lookback_wall
    assert min(e["params"]["startTime"] for e in loaded.requests("cc_cdrs")) >= (
        bookmark_ms - 7200_000) // 1000 - 1


def test_more_than_100_rows_in_one_second(double, tmp_path):
    crowded = [{**r, "gmtCreate": "2026-10-01 12:00:00"}
               for r in flash_rows(150, seed=5, start="2026-10-01 12:00:00", span_seconds=1)]
    around = flash_rows(300, seed=6, start="2026-10-01 11:00:00", span_seconds=7200,
                        first_id=1000)
    double.flash.add(crowded + around)
    config = config_for(double, cc_access_key=None, cc_access_secret=None)
    run = run_tap(config, tmp_path, timeout=60)
    assert run.returncode == 0, run.stderr
    flash = run.records("flash_call_cdrs")
    ids = [r["id"] for r in flash]
    assert len(ids) == len(set(ids))
    # every row outside the crowded second arrives; of the crowded second, the 100 the API gives
    want = {r["id"] for r in around}
    assert want <= set(ids)
    assert len([i for i in ids if i < 1000]) == 100
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line]
    assert any("2026-10-01 12:00:00" in w and "100" in w for w in warnings), run.stderr


@pytest.mark.parametrize("bounds", ["inclusive", "exclusive-end", "exclusive", "seconds"])
def test_window_boundaries_lose_nothing_whatever_the_server_bounds(double, tmp_path, bounds):
    """Rows exactly on window edges (to the millisecond) and one ms either side, in every window."""
    double.cc_bounds = bounds
    window = 3600  # window_minutes=60 with a target too high to resize
    rows = []
    for k, edge in enumerate(range(START_MS, START_MS + 6 * window * 1000 + 1, window * 1000)):
        for j, delta in enumerate((-1, 0, 1, 999, 1000)):
            row = cc_rows(1, seed=k * 10 + j, start_ms=edge + delta, span_ms=1,
                          prefix=f"e{k}d{j}")[0]
            rows.append(row)
    double.cc.add(rows)
    double.flash.add([{**r, "gmtCreate": g} for r, g in zip(
        flash_rows(4, seed=1, start=START_WALL, span_seconds=1),
        ["2026-10-01 00:59:59", "2026-10-01 01:00:00", "2026-10-01 01:59:59",
         "2026-10-01 02:00:00"], strict=True)])
    config = config_for(double, window_minutes=60, max_window_minutes=60,
                        end_date="2026-10-01T06:00:01+08:00")
    run = run_tap(config, tmp_path)
    assert run.returncode == 0, run.stderr
    end_ms = START_MS + (6 * window + 1) * 1000
    want = sorted(r["callId"] for r in rows if START_MS <= r["startTime"] < end_ms)
    got = sorted(r["callId"] for r in run.records("cc_cdrs"))
    assert got == want
    assert sorted(r["id"] for r in run.records("flash_call_cdrs")) == [1, 2, 3, 4]


def test_unicode_survives_signing_and_output(double, tmp_path):
    rows = cc_rows(40, seed=3, start_ms=START_MS, span_ms=3600_000)
    names = ["牛小信", "Zoë Müller-Łukasiewicz", "李雷 🎧", "José Ñúñez"]
    for row, name in zip(rows, names * 10, strict=True):
        row["agentNickName"] = name
    double.cc.add(rows)
    config = config_for(double, flash_call_app_key=None, flash_call_app_secret=None,
                        cc_direction=0, cc_answered=0)
    run = run_tap(config, tmp_path)
    assert run.returncode == 0, run.stderr
    got = {r["callId"]: r["agentNickName"] for r in run.records("cc_cdrs")}
    assert got == {r["callId"]: r["agentNickName"] for r in rows}
    assert "牛小信" in run.stdout  # as UTF-8 text, byte-exact, not only after JSON decoding


def test_cc_filters_are_passed_through(double, tmp_path):
    rows = cc_rows(300, seed=4, start_ms=START_MS, span_ms=86400_000)
    double.cc.add(rows)
    config = config_for(double, flash_call_app_key=None, flash_call_app_secret=None,
                        cc_direction=2, cc_answered=2)
    run = run_tap(config, tmp_path)
    assert run.returncode == 0, run.stderr
    want = sorted(r["callId"] for r in rows if r["direction"] == 1 and r["answered"])
    assert sorted(r["callId"] for r in run.records("cc_cdrs")) == want
    assert all(e["params"]["direction"] == 2 and e["params"]["answered"] == 2
               for e in double.requests("cc_cdrs"))


def test_flash_times_follow_dst_in_zones_that_have_it(double, tmp_path):
    walls = ["2026-03-08 01:59:59", "2026-03-08 03:00:00", "2026-11-01 00:30:00",
             "2026-11-01 03:00:00"]
    double.flash.add([{**r, "gmtCreate": w} for r, w in zip(
        flash_rows(4, seed=2, start=START_WALL, span_seconds=1), walls, strict=True)])
    config = config_for(double, timezone="America/New_York", start_date="2026-03-01",
                        end_date="2026-11-02", cc_access_key=None, cc_access_secret=None)
    run = run_tap(config, tmp_path)
    assert run.returncode == 0, run.stderr
    got = sorted(r["gmtCreate"] for r in run.records("flash_call_cdrs"))
    assert got == ["2026-03-08T01:59:59-05:00", "2026-03-08T03:00:00-04:00",
                   "2026-11-01T00:30:00-04:00", "2026-11-01T03:00:00-05:00"]
