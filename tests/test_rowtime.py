"""Row-time kinds (tap_nxcloud/rowtime.py): each reads, compares and encodes its form of a time,
and a window's edges in the same form."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from tap_nxcloud.clock import WallClock
from tap_nxcloud.rowtime import KINDS, row_time
from tap_nxcloud.spec import StreamSpec
from tap_nxcloud.streams import STREAMS
from tap_nxcloud.windows import Window

pytestmark = pytest.mark.unit

CLOCK = WallClock(ZoneInfo("Asia/Shanghai"))


def test_every_registered_stream_names_a_known_kind():
    assert {s.row_time for s in STREAMS} <= set(KINDS)
    with pytest.raises(ValueError, match="not a kind of row time"):
        row_time("epoch_us", CLOCK)
    assert "row_time" in StreamSpec.__dataclass_fields__


def test_wall_times_compare_as_text_within_the_window_and_tick_on_the_clock():
    kind = row_time("wall", CLOCK)
    tick = CLOCK.from_instant(CLOCK.parse("2026-03-01 10:00:00"))
    lo, hi = kind.window_range(Window(tick, tick + 3600))
    t = kind.comparable("2026-03-01 10:30:00")
    assert lo <= t < hi and kind.tick(t) == tick + 1800
    assert kind.comparable("not a time") is None
    assert kind.converter()("2026-03-01 10:30:00") == "2026-03-01T10:30:00+08:00"
    assert kind.shows_zone


@pytest.mark.parametrize(("kind", "raw", "seconds"), [
    ("epoch_ms", 1_772_330_400_123, 1_772_330_400), ("epoch_ms", "1772330400123", 1_772_330_400),
    ("epoch_s", 1_772_330_400, 1_772_330_400)])
def test_epoch_times_compare_as_numbers_and_tick_in_seconds(kind, raw, seconds):
    rt = row_time(kind, CLOCK)
    t = rt.comparable(raw)
    lo, hi = rt.window_range(Window(seconds, seconds + 1))
    assert lo <= t < hi and rt.tick(t) == seconds
    assert rt.converter()(int(raw)).startswith("2026-03-01T02:00:00")
    assert rt.comparable(-5) is None and not rt.shows_zone
