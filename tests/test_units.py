"""Unit tests of the sharp parts: signing, paging, window planning, time zones."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from zoneinfo import ZoneInfo

import pytest
import requests

from tap_nxcloud.auth import CCSignedAuth, cc_signature
from tap_nxcloud.clock import UTC, SettingError, WallClock, parse_instant
from tap_nxcloud.errors import ApiError
from tap_nxcloud.paging import cc_pages, flash_pages
from tap_nxcloud.windows import Window, WindowPlanner

VECTORS = [  # shared/nxcloud-api/NOTES.md
    ('{"name":"牛小信","id":10001}', "87c3560d3331ae23f1021e2025722354"),
    ('{"id":10001,"name":"牛小信"}', "7750759da06333f20d0640be09355e34"),
    ('{"id": 10001, "name": "牛小信"}', "d0c24a9886c629330d7f3f2056c65bc2"),
]


@pytest.mark.parametrize(("body", "sign"), VECTORS)
def test_signature_vectors(body, sign):
    assert cc_signature("fme2na3kdi3ki", "abciiiko2k3", "1655710885431", body.encode(),
                        biz_type="1", action="send") == sign


def test_auth_signs_the_bytes_sent_with_a_fresh_ts_each_time():
    times = iter([1655710885.431, 1655710890.0])
    auth = CCSignedAuth("fme2na3kdi3ki", "abciiiko2k3", clock=lambda: next(times))
    body = VECTORS[0][0].encode()
    req = requests.Request("POST", "http://127.0.0.1/x", data=body, auth=auth)
    first = requests.Session().prepare_request(req)
    second = requests.Session().prepare_request(req)
    assert first.body == body
    assert first.headers["ts"] == "1655710885431" and second.headers["ts"] == "1655710890000"
    assert first.headers["sign"] == cc_signature("fme2na3kdi3ki", "abciiiko2k3",
                                                 "1655710885431", body)
    assert first.headers["sign"] != second.headers["sign"]
    assert "abciiiko2k3" not in json.dumps(dict(first.headers))


def _flash_api(rows):
    """An in-memory flash endpoint: inclusive bounds, ordered by gmtCreate then id, 100 max."""
    calls = []

    def fetch(start, end):
        calls.append(start)
        hits = sorted((r for r in rows if start <= r["gmtCreate"] <= end),
                      key=lambda r: (r["gmtCreate"], r["id"]))
        return [dict(r) for r in hits[:100]]
    return fetch, calls


def test_flash_keyset_paging_dedupes_the_repeated_second():
    rows = [{"id": i, "gmtCreate": f"2026-10-01 00:00:{i // 7:02d}"} for i in range(350)]
    fetch, calls = _flash_api(rows)
    got = [r["id"] for page in flash_pages(fetch, "2026-10-01 00:00:00", "2026-10-01 00:00:59",
                                           warn=pytest.fail) for r in page]
    assert sorted(got) == list(range(350)) and len(got) == 350
    assert len(calls) == 4  # ceil(350 / (100 - rows of the repeated second)) and no more


def test_flash_paging_warns_and_moves_on_past_a_crowded_second():
    rows = [{"id": i, "gmtCreate": "2026-10-01 00:00:05"} for i in range(130)]
    rows += [{"id": 1000 + i, "gmtCreate": "2026-10-01 00:00:06"} for i in range(3)]
    fetch, calls = _flash_api(rows)
    warnings = []
    got = [r["id"] for page in flash_pages(fetch, "2026-10-01 00:00:00", "2026-10-01 00:00:59",
                                           warn=warnings.append) for r in page]
    assert len(got) == len(set(got)) == 103
    assert len(warnings) == 1 and "2026-10-01 00:00:05" in warnings[0]
    assert calls == ["2026-10-01 00:00:00", "2026-10-01 00:00:05", "2026-10-01 00:00:06"]


def test_cc_paging_keeps_the_window_once_whatever_the_order():
    rows = [{"callId": f"c{i:03d}", "startTime": 1000 * i + 500} for i in range(250)]
    shuffled = sorted(rows, key=lambda r: r["callId"][::-1])

    def fetch(page):
        return shuffled[(page - 1) * 100: page * 100]
    got = [r["callId"] for p in cc_pages(fetch, 100, 10_000, 200_000) for r in p]
    assert sorted(got) == [f"c{i:03d}" for i in range(10, 200)]


def test_cc_paging_refuses_a_server_that_ignores_page():
    rows = [{"callId": f"c{i}", "startTime": 1} for i in range(100)]
    with pytest.raises(ApiError, match="no progress"):
        list(cc_pages(lambda page: rows, 100, 0, 10))


def test_planner_covers_the_range_without_gaps_and_adapts():
    planner = WindowPlanner(0, 100_000, initial=3600, minimum=60, maximum=50_000,
                            target_rows=1000)
    windows, w = [], planner.next()
    while w:
        windows.append(w)
        planner.observe(w, rows=w.seconds // 36)  # 100 rows an hour
        w = planner.next()
    assert windows[0] == Window(0, 3600)
    assert all(a.end == b.start for a, b in itertools.pairwise(windows))
    assert windows[-1].end == 100_000
    assert windows[1].seconds == 8 * 3600  # growth is capped at 8x a step
    assert windows[2].seconds == 36_000  # then sized to ~1000 rows


def test_planner_grows_on_empty_windows_up_to_the_cap():
    planner = WindowPlanner(0, 10**7, initial=60, minimum=60, maximum=7200, target_rows=1000)
    sizes = []
    for _ in range(4):
        w = planner.next()
        sizes.append(w.seconds)
        planner.observe(w, 0)
    assert sizes == [60, 480, 3840, 7200]


def test_wall_clock_round_trip_and_offsets():
    shanghai = WallClock(ZoneInfo("Asia/Shanghai"))
    assert shanghai.rfc3339("2021-04-27 17:02:22") == "2021-04-27T17:02:22+08:00"
    instant = dt.datetime(2021, 4, 27, 9, 2, 22, tzinfo=UTC)
    tick = shanghai.from_instant(instant)
    assert shanghai.wall(tick) == "2021-04-27 17:02:22"
    assert shanghai.to_instant(tick) == instant
    assert shanghai.bookmark(tick) == "2021-04-27T17:02:22+08:00"
    assert shanghai.parse_bookmark(shanghai.bookmark(tick)) == instant
    ny = WallClock(ZoneInfo("America/New_York"))
    assert ny.rfc3339("2026-07-01 12:00:00") == "2026-07-01T12:00:00-04:00"
    assert ny.rfc3339("2026-01-01 12:00:00") == "2026-01-01T12:00:00-05:00"


def test_setting_dates():
    zone = ZoneInfo("Asia/Shanghai")
    assert parse_instant("start_date", "2026-10-01", zone) == dt.datetime(
        2026, 9, 30, 16, tzinfo=UTC)
    assert parse_instant("start_date", "2026-10-01T00:00:00Z", zone) == dt.datetime(
        2026, 10, 1, tzinfo=UTC)
    with pytest.raises(SettingError, match=r"start_date.*offset"):
        parse_instant("start_date", "2026-10-01T00:00:00", zone)
    with pytest.raises(SettingError, match="end_date: cannot read"):
        parse_instant("end_date", "yesterday", zone)
