"""Unit tests of the sharp parts: signing, paging, window planning, time zones."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from zoneinfo import ZoneInfo

import pytest
import requests

from tap_nxcloud.auth import CCSignedAuth, cc_signature
from tap_nxcloud.clock import (
    UTC,
    EpochMillis,
    SettingError,
    WallClock,
    parse_bookmark,
    parse_instant,
)
from tap_nxcloud.paging import Count, PagingError, keyset_pages, offset_pages
from tap_nxcloud.rows import Shaper
from tap_nxcloud.windows import DayPlanner, Window, WindowPlanner

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


def _when(row):
    return row["gmtCreate"]


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
    got = [r["id"] for page in keyset_pages(fetch, "2026-10-01 00:00:00", "2026-10-01 00:00:59",
                                           pytest.fail, 100, _when) for r in page]
    assert sorted(got) == list(range(350)) and len(got) == 350
    assert len(calls) == 4  # ceil(350 / (100 - rows of the repeated second)) and no more


def test_flash_paging_warns_and_moves_on_past_a_crowded_second():
    rows = [{"id": i, "gmtCreate": "2026-10-01 00:00:05"} for i in range(130)]
    rows += [{"id": 1000 + i, "gmtCreate": "2026-10-01 00:00:06"} for i in range(3)]
    fetch, calls = _flash_api(rows)
    warnings = []
    got = [r["id"] for page in keyset_pages(fetch, "2026-10-01 00:00:00", "2026-10-01 00:00:59",
                                           warnings.append, 100, _when) for r in page]
    assert len(got) == len(set(got)) == 103
    assert len(warnings) == 1 and "2026-10-01 00:00:05" in warnings[0]
    assert calls == ["2026-10-01 00:00:00", "2026-10-01 00:00:05", "2026-10-01 00:00:06"]


def _offset_api(rows, size, totals=True):
    """An in-memory offset-paged endpoint over a list that a test may change between calls."""
    calls = []

    def fetch(page):
        calls.append(page)
        return rows[(page - 1) * size: page * size], (len(rows) if totals else None)
    return fetch, calls


def _ident(row):
    return row["id"]


def test_offset_paging_reads_every_row_once_by_totals_or_short_page():
    for totals in (True, False):
        rows = [{"id": i} for i in range(250)]
        fetch, calls = _offset_api(rows, 100, totals)
        got = [r["id"] for p in offset_pages(fetch, 100, _ident, pytest.fail) for r in p]
        assert got == list(range(250)) and calls == [1, 2, 3]
    rows = [{"id": i} for i in range(200)]  # an exact multiple: totals spare the empty page
    fetch, calls = _offset_api(rows, 100)
    assert sum(len(p) for p in offset_pages(fetch, 100, _ident, pytest.fail)) == 200
    assert calls == [1, 2]


@pytest.mark.parametrize("totals", [True, False])
def test_offset_paging_survives_an_insert_before_the_offset(totals):
    rows = [{"id": i} for i in range(250)]
    fetch, calls = _offset_api(rows, 100, totals)

    def shifting(page):
        if calls == [1]:  # after page 1 was read, a row lands at the front
            rows.insert(0, {"id": "new"})
        return fetch(page)
    got = [r["id"] for p in offset_pages(shifting, 100, _ident, pytest.fail) for r in p]
    assert sorted(map(str, got)) == sorted(map(str, [*range(250), "new"]))
    assert len(got) == len(set(got)) == 251  # the shifted row was not emitted twice
    assert calls[:3] == [1, 2, 3] and calls[3:] == [1, 2, 3]  # one clean second pass


def test_offset_paging_survives_a_delete_before_the_offset():
    rows = [{"id": i} for i in range(250)]
    fetch, calls = _offset_api(rows, 100)

    def shifting(page):
        if calls == [1]:  # a row already read disappears: row 100 slides onto page 1
            del rows[0]
        return fetch(page)
    got = [r["id"] for p in offset_pages(shifting, 100, _ident, pytest.fail) for r in p]
    assert sorted(got) == list(range(250))  # 100 was caught by the second pass
    assert len(calls) == 6


def test_offset_paging_gives_up_on_endless_shifting_with_a_warning():
    rows = [{"id": i} for i in range(150)]
    fetch, calls = _offset_api(rows, 100)
    warnings = []

    def shifting(page):
        rows.insert(0, {"id": f"n{len(calls)}"})
        return fetch(page)
    got = [r["id"] for p in offset_pages(shifting, 100, _ident, warnings.append) for r in p]
    assert len(got) == len(set(got)) and len(warnings) == 1 and "next run" in warnings[0]


def test_offset_paging_emits_a_row_the_api_sends_twice_in_one_page_once():
    rows = [{"id": i} for i in range(150)]
    rows[120] = {"id": 119}  # the API's own duplicate: a total of 150, 149 distinct rows
    fetch, calls = _offset_api(rows, 100)
    warnings, count = [], Count()
    got = [r["id"] for p in offset_pages(fetch, 100, _ident, warnings.append, count) for r in p]
    assert sorted(got) == [i for i in range(150) if i != 120]
    assert calls == [1, 2] * 3  # never clean: read three times
    # nothing moved: the difference is the API's, for the caller's reconciliation to report
    assert not warnings and count.differs and (count.api_total, count.rows) == (150, 149)


def test_offset_paging_repairs_are_never_a_difference():
    rows = [{"id": i} for i in range(150)]
    fetch, calls = _offset_api(rows, 100)
    count = Count()

    def once_shifted(page):  # a row arrives while the first read is between its pages
        if len(calls) == 1:
            rows.insert(0, {"id": "new"})
        return fetch(page)
    got = [r["id"] for p in offset_pages(once_shifted, 100, _ident, pytest.fail, count) for r in p]
    assert sorted(map(str, got)) == sorted(map(str, [*range(150), "new"]))
    assert not count.differs and (count.api_total, count.rows) == (151, 151)


def test_offset_paging_refuses_a_server_that_ignores_page():
    rows = [{"id": i} for i in range(100)]
    with pytest.raises(PagingError, match="ignores the page number"):
        list(offset_pages(lambda page: (rows, 1000), 100, _ident, pytest.fail))


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
    assert parse_bookmark(shanghai.bookmark(tick)) == instant
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


def test_bookmarks_of_every_form_and_the_v01_epoch_ms():
    instant = dt.datetime(2026, 10, 3, 16, tzinfo=UTC)
    for value in ("2026-10-03T16:00:00Z", "2026-10-04T00:00:00+08:00", 1791043200000,
                  "1791043200000"):
        assert parse_bookmark(value) == instant, value
    for value in (True, {"a": 1}, 1.5, None):
        with pytest.raises(TypeError):
            parse_bookmark(value)
    for value in ("yesterday", "2026-10-04T00:00:00"):
        with pytest.raises(ValueError):
            parse_bookmark(value)


def test_epoch_millis_to_rfc3339():
    conv = EpochMillis()
    assert conv(1791043200123) == "2026-10-03T16:00:00.123Z"
    assert conv(1791043259007) == "2026-10-03T16:00:59.007Z"
    assert conv(0) is None


def test_day_windows_follow_the_wall_clock_even_over_dst():
    clock = WallClock(ZoneInfo("America/New_York"))
    start = clock.from_instant(dt.datetime(2026, 3, 7, 15, tzinfo=UTC))  # 10:00 local, Mar 7
    end = clock.from_instant(dt.datetime(2026, 3, 9, 16, tzinfo=UTC))  # 12:00 local, Mar 9
    planner, days = DayPlanner(start, end), []
    while (w := planner.next()) is not None:
        days.append((clock.wall(w.start), clock.wall(w.end), clock.day(w.start)))
    assert days == [("2026-03-07 10:00:00", "2026-03-08 00:00:00", dt.date(2026, 3, 7)),
                    ("2026-03-08 00:00:00", "2026-03-09 00:00:00", dt.date(2026, 3, 8)),
                    ("2026-03-09 00:00:00", "2026-03-09 12:00:00", dt.date(2026, 3, 9))]


SHAPE_SCHEMA = {"properties": {
    "id": {"type": "integer"}, "price": {"type": ["number", "null"]},
    "network": {"type": ["string", "null"]}, "size": {"type": ["integer", "null"]},
    "ok": {"type": ["boolean", "null"]},
    "at": {"type": ["string", "null"], "format": "date-time"}}}


def test_shaper_converts_lossless_values_and_keeps_the_rest_visible():
    warnings = []
    shape = Shaper("s", SHAPE_SCHEMA, {"at": "wall"},
                   {"wall": WallClock(ZoneInfo("Asia/Shanghai")).rfc3339}, ("id",),
                   lambda msg, *args: warnings.append(msg % args), account="acme")
    row = shape({"id": "7", "price": "0.05", "network": 893, "size": "2", "ok": 1,
                 "at": "2026-10-01 08:00:00", "brandNew": [1]})
    assert row == {"id": 7, "price": 0.05, "network": "893", "size": 2, "ok": True,
                   "at": "2026-10-01T08:00:00+08:00", "extra_fields": {"brandNew": [1]},
                   "account": "acme"}
    assert len(warnings) == 1 and "brandNew" in warnings[0]
    row = shape({"id": 8, "price": "n/a", "size": "", "at": "", "brandNew": 2},
                {"request_voice_type": 1})
    assert row == {"id": 8, "price": None, "size": None, "at": None, "request_voice_type": 1,
                   "extra_fields": {"price": "n/a", "brandNew": 2}, "account": "acme"}
    assert len(warnings) == 2 and "price" in warnings[1] and "{'id': 8}" in warnings[1]
    row = shape({"id": 9, "at": "0000-00-00 00:00:00"})  # not a time: kept visible, warned
    assert row["at"] is None and row["extra_fields"] == {"at": "0000-00-00 00:00:00"}
    assert "valid time" in warnings[2]


def test_the_tap_registers_every_products_secret_for_scrubbing():
    from urllib.parse import quote, quote_plus

    from tap_nxcloud import redact
    from tap_nxcloud.settings import SECRETS
    from tap_nxcloud.streams import STREAMS
    from tap_nxcloud.tap import TapNXCloud
    config = {"start_date": "2026-10-01"}
    for i, name in enumerate(SECRETS):
        config[name] = f"s3cret-{i}/+&"
        config[name.replace("secret", "key")] = f"key-{i}"
    TapNXCloud(config=config, validate_config=True)
    assert set(SECRETS) == {s.secret_setting for s in STREAMS}
    for name in SECRETS:
        secret = config[name]
        line = redact.scrub(f"raw {secret}, form body secretkey={quote_plus(secret)}, "
                            f"query {quote(secret, safe='')}")
        assert "s3cret" not in line, (name, line)


def test_state_writer_skips_only_the_state_last_written():
    """STATE lines compared as encoded (the SDK's msgspec writer reuses one buffer for every
    message, so the line must be copied before it is kept)."""
    import io
    import sys

    from tap_nxcloud.writer import BufferedWriter, StateWriter

    out = io.BytesIO()
    stdout = sys.stdout
    sys.stdout = io.TextIOWrapper(out)
    try:
        writer = StateWriter(BufferedWriter())
        state = {"bookmarks": {"sip_cdrs": {"replication_key_value": "a"}}}
        writer.write_state(state)
        writer.write_state(state)  # the same: skipped
        state["bookmarks"]["sip_cdrs"]["replication_key_value"] = "b"  # moved in place
        writer.write_state(state)
        writer.write_state({"bookmarks": {}})
        writer.write_state({"bookmarks": {}})
        sys.stdout.flush()
    finally:
        sys.stdout = stdout
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [m["value"] for m in lines] == [
        {"bookmarks": {"sip_cdrs": {"replication_key_value": "a"}}},
        {"bookmarks": {"sip_cdrs": {"replication_key_value": "b"}}}, {"bookmarks": {}}]
