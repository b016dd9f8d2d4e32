"""Window planning (tap_nxcloud/windows.py): ranges covered without gaps, sizes adapted, days."""

from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from tap_nxcloud.clock import (
    UTC,
    WallClock,
)
from tap_nxcloud.windows import DayPlanner, Window, WindowPlanner

pytestmark = pytest.mark.unit


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
