"""Clocks and times (tap_nxcloud/clock.py): wall clocks, their offsets, setting dates, bookmarks."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tap_nxcloud.clock import (
    UTC,
    EpochMillis,
    SettingError,
    WallClock,
    parse_bookmark,
    parse_instant,
)

pytestmark = pytest.mark.unit


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
