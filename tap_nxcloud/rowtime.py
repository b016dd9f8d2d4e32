"""How a stream's rows state their time, as a kind that knows how to read, compare and encode it.

NXCloud sends a row's time in one of three forms (docs/nxcloud-api/time-and-limits.md): wall-clock
strings of the account's zone (most products), epoch milliseconds (contact center), epoch seconds
(AI agent). A window is [start, end) in seconds of its stream's clock; each kind turns a row's
raw value into a value comparable with the window's edges (`comparable`, `window_range`), into a
clock second (`tick`: an open row holds the bookmark there), and into the RFC 3339 text of the
record (`converter`, used by rows.Shaper). A new form is one new class here.
"""

from __future__ import annotations

from typing import Any

from .clock import UTC, EpochMillis, EpochSeconds, WallClock, epoch_ms, epoch_s
from .windows import Window


class RowTime:
    name: str
    shows_zone = False  # messages about windows name the zone (wall times are the zone's)

    def comparable(self, value: Any) -> Any:
        """The row's raw time in the form windows compare it in; None when unreadable."""
        raise NotImplementedError

    def window_range(self, window: Window) -> tuple[Any, Any]:
        """[lo, hi) of a window in `comparable`'s form."""
        raise NotImplementedError

    def tick(self, t: Any) -> int:
        """A comparable time as a second of the stream's clock."""
        raise NotImplementedError

    def converter(self):
        """value -> RFC 3339 text (None for the API's "never"); ValueError when unreadable."""
        raise NotImplementedError


class Wall(RowTime):
    """'2021-04-27 17:02:22' in the zone; compared as canonical wall strings (text order)."""

    name, shows_zone = "wall", True

    def __init__(self, clock) -> None:
        self.clock = clock  # the stream's WallClock (an epoch-clock stream reads UTC walls)
        self.comparable = clock.comparable

    def window_range(self, window: Window) -> tuple[str, str]:
        return self.clock.wall(window.start), self.clock.wall(window.end)

    def tick(self, t: str) -> int:
        return self.clock.from_instant(self.clock.parse(t))

    def converter(self):
        rfc3339 = getattr(self.clock, "rfc3339", None)
        return rfc3339 or WallClock(UTC).rfc3339


class Epoch(RowTime):
    """Integers (or digit strings) of 1/`scale` seconds; compared as numbers."""

    def __init__(self, name: str, scale: int, read, convert) -> None:
        self.name, self.scale = name, scale
        self.comparable = read
        self._convert = convert

    def window_range(self, window: Window) -> tuple[int, int]:
        return window.start * self.scale, window.end * self.scale

    def tick(self, t: int) -> int:
        return t // self.scale

    def converter(self):
        return self._convert()


def row_time(kind: str, clock) -> RowTime:
    """The kind a spec's `row_time` names."""
    if kind == "wall":
        return Wall(clock)
    if kind == "epoch_ms":
        return Epoch("epoch_ms", 1000, epoch_ms, EpochMillis)
    if kind == "epoch_s":
        return Epoch("epoch_s", 1, epoch_s, EpochSeconds)
    raise ValueError(f"row_time: {kind!r} is not a kind of row time")


KINDS = ("wall", "epoch_ms", "epoch_s")
