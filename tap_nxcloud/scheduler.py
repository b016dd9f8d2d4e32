"""Reading many lanes (a stream's accounts) side by side, window by window, in rounds.

Each lane's range is cut into windows (windows.py); its k-th window belongs to round k. Records of
a round's windows go out as their pages arrive, whatever the lane; a window is committed (its
lane's bookmark moves to its end) once all its pages are out; and when every lane has committed
its window of the round, the round ends: one STATE covers all of them. So a killed run re-reads
at most one window per lane, and a run of many accounts writes a STATE per round, not one per
window per account: STATE bytes grow with accounts x rounds, not with accounts x windows x
accounts.

Threads fetch pages, never more than:
- `budget_rows` rows queued or being fetched, in all windows of all lanes (memory is bounded by
  the budget, not by the range, the page size, the rows of a window or the number of accounts);
  windows of later rounds (fetched ahead) may use half of it, so the current round always has
  room and the consumer, which drains the current round, can never wait on itself;
- two waiting pages per window;
- half the budget in pages being fetched (at least one page);
- `workers` windows of one lane at once, and `parallel_lanes` lanes at once.
A thread fetches one page and lets go, so no thread ever waits holding a window: the current
round's windows always find one (they come first).

Stopping is prompt: on `cancel` (a signal, the end) threads stop taking pages, the Clients abort
requests in flight and wake their pauses, and the threads end within a second.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .windows import Window
from .writer import check_output


class Cancelled(BaseException):
    """The cancel event was set while windows were being handed out (a termination signal)."""


@dataclass
class LaneWork:
    """What the scheduler needs of a lane."""

    key: Any  # the lane itself, handed back in events
    planner: Any  # WindowPlanner or DayPlanner
    pages_of: Callable[[Window], Iterator[list[dict]]]
    workers: int  # windows of this lane fetched at once


@dataclass(eq=False)
class _Window:
    lane: _Lane
    window: Window
    round: int
    pages: deque = field(default_factory=deque)
    source: Iterator[list[dict]] | None = None
    busy: bool = False
    done: bool = False
    failure: BaseException | None = None
    rows: int = 0


@dataclass(eq=False)
class _Lane:
    work: LaneWork
    order: int
    windows: deque = field(default_factory=deque)  # planned, not yet committed, in order
    rounds: int = 0  # windows planned so far
    busy: int = 0  # its windows being fetched now
    finished: bool = False  # planner exhausted
    failed: bool = False


def _order(lane: _Lane) -> int:
    return lane.order


# events handed to the consumer
ROWS, WINDOW, ROUND, FAILED, DONE = "rows", "window", "round", "failed", "done"


def iter_lanes(lanes: list[LaneWork], *, threads: int, parallel_lanes: int,
               cancel: threading.Event, budget_rows: int, page_rows: int,
               idle: Callable[[], None] = check_output) -> Iterator[tuple]:
    """Yield, in a safe order: (ROWS, key, rows), (WINDOW, key, window, rows) once a window's
    rows are all out, (DONE, key) after a lane's last window, (ROUND,) when every lane's window
    of the round is out, and (FAILED, key, error) when a lane stops on an error (its later
    windows are dropped). `idle` is called when nothing came for a while."""
    cv = threading.Condition()
    state = [_Lane(work, i) for i, work in enumerate(lanes)]
    live = list(state)  # lanes that may still have windows to fetch (pick's scan)
    busy_set: set[_Lane] = set()  # lanes with a window being fetched now
    held = [0]  # rows queued or reserved for fetches in flight, all lanes
    flying = [0]  # rows reserved for fetches in flight
    current = [0]  # the round being emitted
    busy_lanes = [0]
    stop = [False]
    finished: list = []  # lanes whose last window was just handed out

    def fill(lane: _Lane) -> None:
        """Plan the lane's next windows: one until its density is known, then a few ahead."""
        limit = 2 * max(1, lane.work.workers) if lane.work.planner.observed else 1
        while not lane.finished and not lane.failed and len(lane.windows) < limit:
            window = lane.work.planner.next()
            if window is None:
                lane.finished = True
                return
            lane.windows.append(_Window(lane, window, lane.rounds))
            lane.rounds += 1

    def runnable(w: _Window) -> bool:
        lane = w.lane
        if w.busy or w.done or w.failure is not None or lane.failed or len(w.pages) >= 2:
            return False
        if lane.busy >= max(1, lane.work.workers):
            return False
        if lane.busy == 0 and busy_lanes[0] >= parallel_lanes:
            return False
        limit = budget_rows if w.round <= current[0] else budget_rows // 2
        # pages being fetched: at most half the budget (one at least). Each is decoded and
        # shaped at once, several times its rows' final size: 8 accounts' SMS pages of 999
        # rows at once cost 11 MB more than 4 (one account's 4 workers are within it)
        if flying[0] and flying[0] + page_rows > budget_rows // 2:
            return False
        return held[0] < limit

    def pick() -> _Window | None:
        """The runnable window of the lowest (round, lane order). A window of the current
        round in lane order is the best there can be (no window of an earlier round is left),
        so the scan stops there: with a thousand lanes (a child's tasks) every worker's pick
        would otherwise look at all of them."""
        if flying[0] and flying[0] + page_rows > budget_rows // 2:
            return None  # no window may start now: do not scan the lanes for one
        best, dead = None, 0
        # at the limit of lanes at once, only the busy ones may take another window
        full = busy_lanes[0] >= parallel_lanes
        for lane in sorted(busy_set, key=_order) if full else live:
            if lane.failed or (lane.finished and not lane.windows):
                dead += 1
                continue
            if lane.busy >= max(1, lane.work.workers) or (
                    lane.busy == 0 and busy_lanes[0] >= parallel_lanes):
                continue
            for w in lane.windows:
                if runnable(w):
                    if w.round <= current[0]:
                        best = w
                        break
                    if best is None or (w.round, lane.order) < (best.round, best.lane.order):
                        best = w
                    break  # a lane's windows are in round order: its first runnable is its best
            if best is not None and best.round <= current[0]:
                break
        if not full and dead > len(live) // 4:  # lanes that can give no more work leave the scan
            live[:] = [lane for lane in live
                       if not (lane.failed or (lane.finished and not lane.windows))]
        return best

    def work() -> None:
        while True:
            with cv:
                w = None
                while not stop[0] and not cancel.is_set():
                    w = pick()
                    if w is not None:
                        break
                    cv.wait(0.2)
                if w is None:
                    return
                w.busy = True
                w.lane.busy += 1
                if w.lane.busy == 1:
                    busy_lanes[0] += 1
                    busy_set.add(w.lane)
                held[0] += page_rows
                flying[0] += page_rows
            page, failure = None, None
            try:
                if w.source is None:
                    w.source = w.lane.work.pages_of(w.window)
                page = next(w.source, None)
            except BaseException as exc:  # handed to the consumer, which reports it in order
                failure = exc.with_traceback(None)  # no frames (and their pages) kept alive
            with cv:
                w.busy = False
                w.lane.busy -= 1
                if w.lane.busy == 0:
                    busy_lanes[0] -= 1
                    busy_set.discard(w.lane)
                held[0] += (len(page) if page else 0) - page_rows
                flying[0] -= page_rows
                if failure is not None:
                    w.failure = failure
                elif page is None:
                    w.done = True
                else:
                    w.pages.append(page)
                cv.notify_all()

    def next_event() -> tuple | None:
        """Under the lock: the next thing the current round has to say, or None (wait)."""
        if finished:
            return (DONE, finished.pop())
        open_lanes = False
        for lane in state:
            if lane.failed or not lane.windows:
                continue
            head = lane.windows[0]
            if head.round != current[0]:
                continue
            open_lanes = True
            if head.pages:
                page = head.pages.popleft()
                held[0] -= len(page)
                head.rows += len(page)
                cv.notify_all()
                return (ROWS, lane.work.key, page)
            if head.failure is not None:
                lane.failed = True
                for w in lane.windows:
                    held[0] -= sum(len(p) for p in w.pages)
                lane.windows.clear()
                cv.notify_all()
                return (FAILED, lane.work.key, head.failure)
            if head.done:
                lane.windows.popleft()
                lane.work.planner.observe(head.window, head.rows)
                fill(lane)
                cv.notify_all()
                if lane.finished and not lane.windows:
                    finished.append(lane.work.key)
                return (WINDOW, lane.work.key, head.window, head.rows)
        if open_lanes:
            return None
        if all(lane.failed or (lane.finished and not lane.windows) for lane in state):
            return ("end",)
        current[0] += 1
        return (ROUND,)

    for lane in state:
        fill(lane)
    pool = [threading.Thread(target=work, daemon=True, name=f"nxcloud-worker-{i}")
            for i in range(max(1, threads))]
    for t in pool:
        t.start()
    try:
        while True:
            with cv:
                event = next_event()
                while event is None:
                    if cancel.is_set():
                        raise Cancelled
                    if not cv.wait(0.2):
                        idle()  # nothing to write for now: is anyone still reading?
                    if cancel.is_set():
                        raise Cancelled
                    event = next_event()
            if event[0] == "end":
                yield (ROUND,)
                return
            if event[0] != ROUND and cancel.is_set():
                raise Cancelled
            yield event
    finally:
        with cv:
            stop[0] = True
            cv.notify_all()
        cancel.set()  # wakes throttle pauses and aborts requests in flight


def iter_windows(planner, pages_of: Callable[[Window], Iterator[list[dict]]], *, workers: int,
                 cancel: threading.Event, budget_rows: int = 4000, page_rows: int = 100,
                 ) -> Iterator[tuple[Window, list[list[dict]]]]:
    """One lane: (window, its pages) in order, for tests and the benchmark's tools."""
    pages: list[list[dict]] = []
    for event in iter_lanes([LaneWork(None, planner, pages_of, workers)], threads=workers,
                            parallel_lanes=1, cancel=cancel, budget_rows=budget_rows,
                            page_rows=page_rows):
        if event[0] == ROWS:
            pages.append(event[2])
        elif event[0] == WINDOW:
            yield event[2], pages
            pages = []
        elif event[0] == FAILED:
            raise event[2]
