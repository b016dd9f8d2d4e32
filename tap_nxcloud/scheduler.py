"""Reading many lanes (a stream's accounts) side by side, window by window, in rounds.

Each lane's range is cut into windows (windows.py); its k-th window belongs to round k. Records of
a round's windows go out as their pages arrive, whatever the lane; a window is committed (its
lane's bookmark moves to its end) once all its pages are out; and when every lane has committed
its window of the round, the round ends: one STATE covers all of them. So a killed run re-reads
at most one window per lane, and a run of many accounts writes a STATE per round, not one per
window per account: STATE bytes grow with accounts x rounds, not with accounts x windows x
accounts.

Threads fetch pages, one page of one window at a time (a window's pages come in sequence), never
more than:
- `workers` windows of one lane at once, and `parallel_lanes` lanes at once;
- `budget` bytes of pages queued or being fetched, in all windows of all lanes (memory is bounded
  by bytes held, whatever the range, the page size, the rows' shape or the number of accounts);
  windows of later rounds (fetched ahead: what keeps `workers` requests in flight for one account)
  may use half of it, so the current round always has room;
- half the budget in pages being fetched (at least one page).
A fetch reserves the heaviest page seen so far (at least `page_bytes`; before any page, half the
budget: the first page is fetched alone): after a page bigger than expected, fewer pages are
fetched at once, one when a page outweighs half the budget.

Progress is guaranteed whatever a page weighs: when the consumer has nothing to emit, the current
round's windows may fetch their next page beyond every budget (a server that ignores the page size
and sends a page bigger than the whole budget cannot stall the run). So memory is at most the
budget plus about two pages (one being fetched, one being emitted), each at most
`max_response_mb` as received and several times that decoded (docs/performance.md).

Stopping is prompt: on `cancel` (a signal, the end) threads stop taking pages, the Clients abort
requests in flight and wake their pauses, and the threads end within a second.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .windows import Window
from .writer import check_output

ROW_BYTES = 1024  # a dict row's assumed weight (rows encoded as lines weigh their bytes)
LINE_OVERHEAD = 48  # a bytes object and its list slot, beyond its characters


class Cancelled(BaseException):
    """The cancel event was set while windows were being handed out (a termination signal)."""


# --- events handed to the consumer -----------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Rows:
    """A page of a window of the current round, in order."""

    lane: Any
    page: list


@dataclass(frozen=True, slots=True)
class WindowDone:
    """Every row of `window` is out: its lane's bookmark may move to its end."""

    lane: Any
    window: Window
    rows: int


@dataclass(frozen=True, slots=True)
class RoundDone:
    """Every lane's window of the round is out (also sent once at the end): one STATE."""


@dataclass(frozen=True, slots=True)
class LaneFailed:
    """The lane stopped on `error`; its later windows are dropped."""

    lane: Any
    error: BaseException


@dataclass(frozen=True, slots=True)
class LaneDone:
    """The lane's last window is out."""

    lane: Any


Event = Rows | WindowDone | RoundDone | LaneFailed | LaneDone
ROUND_DONE = RoundDone()


@dataclass
class LaneWork:
    """What the scheduler needs of a lane."""

    key: Any  # the lane itself, handed back in events
    planner: Any  # WindowPlanner, DayPlanner or OnePlanner
    pages_of: Callable[[Window], Iterator[list]]
    workers: int  # windows of this lane fetched at once


def weigh(page: list) -> int:
    """A page's weight in bytes: rows encoded as lines weigh what they hold; dict rows are
    assumed to weigh ROW_BYTES each (weighing them would cost an encoding)."""
    if page and isinstance(page[0], bytes):
        return sum(map(len, page)) + LINE_OVERHEAD * len(page)
    return ROW_BYTES * len(page)


class _Window:
    __slots__ = ("busy", "done", "failure", "lane", "pages", "reserved", "round", "rows",
                 "source", "weights", "window")

    def __init__(self, lane: _Lane, window: Window, round_: int) -> None:
        self.lane, self.window, self.round = lane, window, round_
        self.pages: deque[list] = deque()
        self.weights: deque[int] = deque()
        self.source: Iterator[list] | None = None
        self.busy = self.done = False
        self.failure: BaseException | None = None
        self.rows = self.reserved = 0


class _Lane:
    __slots__ = ("busy", "failed", "finished", "order", "rounds", "windows", "work")

    def __init__(self, work: LaneWork, order: int) -> None:
        self.work, self.order = work, order
        self.windows: deque[_Window] = deque()  # planned, not yet committed, in order
        self.rounds = 0  # windows planned so far
        self.busy = 0  # its windows being fetched now
        self.finished = False  # planner exhausted
        self.failed = False

    @property
    def spent(self) -> bool:
        """No window left to fetch or to hand out."""
        return self.failed or (self.finished and not self.windows)

    @property
    def workers(self) -> int:
        return max(1, self.work.workers)


class Scheduler:
    """The state of one stream's reading: its lanes, their windows and the shared budgets. One
    lock guards it all; `events()` is the consumer's side, `_work` each thread's."""

    def __init__(self, lanes: list[LaneWork], *, threads: int, parallel_lanes: int,
                 cancel: threading.Event, budget: int, page_bytes: int,
                 idle: Callable[[], None] = check_output,
                 weigh: Callable[[list], int] = weigh) -> None:
        self.lanes = [_Lane(work, i) for i, work in enumerate(lanes)]
        self.live = list(self.lanes)  # lanes that may still have windows to fetch (pick's scan)
        self.busy_lanes: set[_Lane] = set()  # lanes with a window being fetched now
        self.threads, self.parallel_lanes = max(1, threads), parallel_lanes
        self.cancel, self.idle, self.weigh = cancel, idle, weigh
        self.budget = budget
        self.page_bytes = max(1, page_bytes)
        self.largest = 0  # the heaviest page seen so far
        self.held = 0  # bytes queued, or reserved by fetches in flight
        self.flying = 0  # bytes reserved by fetches in flight
        self.current = 0  # the round being emitted
        self.waiting = False  # the consumer has nothing to emit: the round's heads may fetch
        self.stopped = False
        self.finished: list = []  # lanes whose last window was just handed out
        self.cv = threading.Condition()

    @property
    def reserve(self) -> int:
        """What a fetch reserves: the heaviest page seen (at least `page_bytes`); before any
        page is seen, half the budget, so that one fetch at a time finds out what a page weighs
        (a server that ignores the page size would otherwise be asked for `workers` such pages
        at once)."""
        if not self.largest:
            return max(self.page_bytes, self.budget // 2)
        return max(self.page_bytes, self.largest)

    # --- planning ----------------------------------------------------------------------------
    def _fill(self, lane: _Lane) -> None:
        """Plan the lane's next windows: one until its density is known, then a few ahead."""
        limit = 2 * lane.workers if lane.work.planner.observed else 1
        while not lane.finished and not lane.failed and len(lane.windows) < limit:
            window = lane.work.planner.next()
            if window is None:
                lane.finished = True
                return
            lane.windows.append(_Window(lane, window, lane.rounds))
            lane.rounds += 1

    # --- the threads' side -------------------------------------------------------------------
    def _lane_may_start(self, lane: _Lane) -> bool:
        if lane.busy >= lane.workers:
            return False
        return lane.busy > 0 or len(self.busy_lanes) < self.parallel_lanes

    def _runnable(self, w: _Window) -> bool:
        if w.busy or w.done or w.failure is not None:
            return False
        if (self.waiting and not self.flying and w.round <= self.current
                and w is w.lane.windows[0]):
            return True  # the consumer waits on this round, nothing is coming: never stall it
        if self.flying and self.flying + self.reserve > self.budget // 2:
            return False  # enough being fetched already
        limit = self.budget if w.round <= self.current else self.budget // 2
        return self.held + self.reserve <= limit

    def _pick(self) -> _Window | None:
        """The runnable window of the lowest (round, lane order). A window of the current
        round in lane order is the best there can be (no window of an earlier round is left),
        so the scan stops there: with a thousand lanes (a child's tasks) every worker's pick
        would otherwise look at all of them."""
        best, dead = None, 0
        # at the limit of lanes at once, only the busy ones may take another window
        full = len(self.busy_lanes) >= self.parallel_lanes
        for lane in sorted(self.busy_lanes, key=_order) if full else self.live:
            if lane.spent:
                dead += 1
                continue
            if not self._lane_may_start(lane):
                continue
            for w in lane.windows:
                if self._runnable(w):
                    if best is None or (w.round, lane.order) < (best.round, best.lane.order):
                        best = w
                    break  # a lane's windows are in round order: its first runnable is its best
            if best is not None and best.round <= self.current:
                break
        if not full and dead > len(self.live) // 4:  # spent lanes leave the scan
            self.live[:] = [lane for lane in self.live if not lane.spent]
        return best

    def _take(self) -> _Window | None:
        """Under the lock: a window to fetch a page of, marked busy; None when stopping."""
        while not self.stopped and not self.cancel.is_set():
            w = self._pick()
            if w is not None:
                w.busy = True
                w.lane.busy += 1
                self.busy_lanes.add(w.lane)
                w.reserved = self.reserve
                self.held += w.reserved
                self.flying += w.reserved
                return w
            self.cv.wait(0.2)
        return None

    def _work(self) -> None:
        while True:
            with self.cv:
                w = self._take()
            if w is None:
                return
            page, failure, weight = None, None, 0
            try:
                if w.source is None:
                    w.source = w.lane.work.pages_of(w.window)
                page = next(w.source, None)
                if page is not None:
                    weight = self.weigh(page)
            except BaseException as exc:  # handed to the consumer, which reports it in order
                failure = exc.with_traceback(None)  # no frames (and their pages) kept alive
            with self.cv:
                w.busy = False
                w.lane.busy -= 1
                if w.lane.busy == 0:
                    self.busy_lanes.discard(w.lane)
                self.held += weight - w.reserved
                self.flying -= w.reserved
                self.largest = max(self.largest, weight)
                if failure is not None:
                    w.failure = failure
                elif page is None:
                    w.done = True
                else:
                    w.pages.append(page)
                    w.weights.append(weight)
                self.cv.notify_all()

    # --- the consumer's side -----------------------------------------------------------------
    def _next_event(self) -> Event | None:
        """Under the lock: the next thing the current round has to say, or None (wait)."""
        if self.finished:
            return LaneDone(self.finished.pop())
        open_lanes = False
        for lane in self.lanes:
            if lane.failed or not lane.windows:
                continue
            head = lane.windows[0]
            if head.round != self.current:
                continue
            open_lanes = True
            if head.pages:
                page = head.pages.popleft()
                self.held -= head.weights.popleft()
                head.rows += len(page)
                self.cv.notify_all()
                return Rows(lane.work.key, page)
            if head.failure is not None:
                lane.failed = True
                for w in lane.windows:
                    self.held -= sum(w.weights)
                lane.windows.clear()
                self.cv.notify_all()
                return LaneFailed(lane.work.key, head.failure)
            if head.done:
                lane.windows.popleft()
                lane.work.planner.observe(head.window, head.rows)
                self._fill(lane)
                self.cv.notify_all()
                if lane.spent:
                    self.finished.append(lane.work.key)
                return WindowDone(lane.work.key, head.window, head.rows)
        if open_lanes:
            return None
        if all(lane.spent for lane in self.lanes):
            return _END
        self.current += 1
        return ROUND_DONE

    def _wait_event(self) -> Event:
        with self.cv:
            event = self._next_event()
            while event is None:
                if not self.waiting:
                    self.waiting = True
                    self.cv.notify_all()  # the round's heads may now fetch beyond the budget
                if self.cancel.is_set():
                    raise Cancelled
                if not self.cv.wait(0.2):
                    self.idle()  # nothing to write for now: is anyone still reading?
                if self.cancel.is_set():
                    raise Cancelled
                event = self._next_event()
            self.waiting = False
            return event

    def events(self) -> Iterator[Event]:
        """Yield, in a safe order: Rows of the current round's windows, WindowDone once a
        window's rows are all out, LaneDone after a lane's last window, RoundDone when every
        lane's window of the round is out (and once at the end), LaneFailed when a lane stops
        on an error (its later windows are dropped)."""
        for lane in self.lanes:
            self._fill(lane)
        pool = [threading.Thread(target=self._work, daemon=True, name=f"nxcloud-worker-{i}")
                for i in range(self.threads)]
        for t in pool:
            t.start()
        try:
            while True:
                event = self._wait_event()
                if event is _END:
                    yield ROUND_DONE
                    return
                if event is not ROUND_DONE and self.cancel.is_set():
                    raise Cancelled
                yield event
        finally:
            with self.cv:
                self.stopped = True
                self.cv.notify_all()
            self.cancel.set()  # wakes throttle pauses and aborts requests in flight


_END = RoundDone()  # internal: every lane is spent (a distinct object from ROUND_DONE)


def _order(lane: _Lane) -> int:
    return lane.order


def iter_lanes(lanes: list[LaneWork], **options) -> Iterator[Event]:
    """The events of a Scheduler over `lanes` (see Scheduler.events)."""
    return Scheduler(lanes, **options).events()


def iter_windows(planner, pages_of: Callable[[Window], Iterator[list]], *, workers: int,
                 cancel: threading.Event, budget: int = 4_000 * ROW_BYTES,
                 page_bytes: int = 100 * ROW_BYTES) -> Iterator[tuple[Window, list[list]]]:
    """One lane: (window, its pages) in order, for tests and the benchmark's tools."""
    pages: list[list] = []
    for event in iter_lanes([LaneWork(None, planner, pages_of, workers)], threads=workers,
                            parallel_lanes=1, cancel=cancel, budget=budget,
                            page_bytes=page_bytes):
        if isinstance(event, Rows):
            pages.append(event.page)
        elif isinstance(event, WindowDone):
            yield event.window, pages
            pages = []
        elif isinstance(event, LaneFailed):
            raise event.error
