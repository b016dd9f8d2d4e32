"""Cutting a time range into windows, sized to the data.

A window is [start, end) in whole seconds of a stream's clock. It is the unit of concurrency and of
checkpointing: the bookmark moves to a window's end once all its rows are out, so a killed run
refetches at most the window it was in. Windows aim at `target_rows` rows: big enough that the one
partial page each window costs stays a small share of the requests, small enough to bound the work
a restart repeats. The density of the last completed window sizes the next one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    start: int
    end: int  # exclusive

    @property
    def seconds(self) -> int:
        return self.end - self.start


class WindowPlanner:
    def __init__(self, start: int, end: int, *, initial: int, minimum: int, maximum: int,
                 target_rows: int) -> None:
        self._next = start
        self._end = end
        self._size = max(minimum, min(initial, maximum))
        self._min, self._max = minimum, maximum
        self._target = target_rows
        self.observed = 0

    @property
    def size(self) -> int:
        return self._size

    def next(self) -> Window | None:
        if self._next >= self._end:
            return None
        window = Window(self._next, min(self._next + self._size, self._end))
        self._next = window.end
        return window

    def observe(self, window: Window, rows: int) -> None:
        """Resize later windows from the rows this one held (growth capped at 8x a step)."""
        self.observed += 1
        if window.seconds < self._size and rows < self._target:
            return  # the range's clipped last window says little about density
        ideal = window.seconds * self._target / rows if rows else window.seconds * 8
        self._size = int(max(self._min, min(ideal, window.seconds * 8, self._max)))


class DayPlanner:
    """Calendar-day windows on a wall clock (SMS and DID take one `date` a request): each window is
    one day of the zone, cut to the range at both ends; the first is clipped to the range start."""

    DAY = 86400
    observed = 1  # sizes never adapt: every window may be fetched at once
    size = DAY

    def __init__(self, start: int, end: int) -> None:
        self._next, self._end = start, end

    def next(self) -> Window | None:
        if self._next >= self._end:
            return None
        midnight = self._next - self._next % self.DAY + self.DAY
        window = Window(self._next, min(midnight, self._end))
        self._next = window.end
        return window

    def observe(self, window: Window, rows: int) -> None:
        pass
