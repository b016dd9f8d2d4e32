"""The scheduler (tap_nxcloud/scheduler.py) on its own: windows of one lane and of many, the
budget in bytes, progress whatever a page weighs, rounds, failures. Fetches are plain
generators; nothing here times anything: concurrency is proven by threads meeting."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from tap_nxcloud.errors import ApiError
from tap_nxcloud.scheduler import (
    ROW_BYTES,
    LaneFailed,
    LaneWork,
    RoundDone,
    Rows,
    WindowDone,
    iter_lanes,
    iter_windows,
)
from tap_nxcloud.windows import DayPlanner, Window, WindowPlanner

pytestmark = pytest.mark.unit


def test_windows_fetched_ahead_share_one_row_budget():
    """Dense day windows (a day of SMS can hold tens of thousands of rows) read by four workers
    for a consumer slower than they are: rows fetched and not yet consumed stay within the
    stream's row budget plus four pages (one admitted at the edge, two of the head's, one being
    consumed), whatever a window holds or the workers; every page comes once, in order."""
    page, budget, workers, pages_a_day = 100, 1000, 4, 20
    lock, out, peak = threading.Lock(), [0], [0]

    def pages_of(window: Window):
        for i in range(pages_a_day):
            with lock:
                out[0] += page
                peak[0] = max(peak[0], out[0])
            yield [{"day": window.start // 86400, "page": i}] * page

    seen = []
    lane = LaneWork("sms", DayPlanner(0, 12 * 86400), pages_of, workers)
    for event in iter_lanes([lane], threads=workers, parallel_lanes=1,
                            cancel=threading.Event(), budget=budget * ROW_BYTES,
                            page_bytes=page * ROW_BYTES):
        if isinstance(event, Rows):
            rows = event.page
            time.sleep(0.002)
            with lock:
                out[0] -= len(rows)
            seen.append((rows[0]["day"], rows[0]["page"]))
    assert seen == [(d, i) for d in range(12) for i in range(pages_a_day)]
    assert peak[0] <= budget + 4 * page  # unbudgeted: up to 8 days, 16 000 rows


def _lanes_run(lanes: int, days: int, *, parallel: int, fail: set | None = None,
               budget: int = 600):
    """Lanes of day windows, 3 pages of 10 rows a day (lane `fail` raises on its day 2)."""
    lock, state = threading.Lock(), {"busy": set(), "most": 0, "out": 0, "peak": 0}

    def pages_of_lane(name):
        def pages_of(window: Window):
            day = window.start // 86400
            for i in range(3):
                with lock:  # a page being fetched: the lane is busy until it is handed over
                    state["busy"].add(name)
                    state["most"] = max(state["most"], len(state["busy"]))
                time.sleep(0.001)
                with lock:
                    state["busy"].discard(name)
                if fail and name in fail and day == 2:
                    raise ApiError(f"{name}: refused")
                with lock:
                    state["out"] += 10
                    state["peak"] = max(state["peak"], state["out"])
                yield [{"lane": name, "day": day, "page": i}] * 10
        return pages_of
    works = [LaneWork(f"L{n}", DayPlanner(0, days * 86400), pages_of_lane(f"L{n}"), 2)
             for n in range(lanes)]
    events = []
    for event in iter_lanes(works, threads=8, parallel_lanes=parallel,
                            cancel=threading.Event(), budget=budget * ROW_BYTES,
                            page_bytes=10 * ROW_BYTES):
        if isinstance(event, Rows):
            with lock:
                state["out"] -= len(event.page)
        events.append(event)
    return events, state


def test_lanes_go_in_rounds_one_state_covering_each_round():
    """Five accounts of four days: every lane's day k is out before any lane's day k+1, a ROUND
    after each; each window's rows all come before its WINDOW; nothing lost or twice."""
    events, state = _lanes_run(5, 4, parallel=2)
    day_of_round, rounds, got = 0, 0, []
    for event in events:
        if isinstance(event, Rows):
            assert {r["day"] for r in event.page} == {day_of_round}
            got += [(r["lane"], r["day"], r["page"]) for r in event.page[:1]]
        elif isinstance(event, RoundDone):
            rounds += 1
            day_of_round += 1
    assert rounds == 4  # one a day (the last one also ends the run)
    assert sorted(got) == sorted((f"L{n}", d, i) for n in range(5) for d in range(4)
                                 for i in range(3))
    windows = [e for e in events if isinstance(e, WindowDone)]
    assert len(windows) == 20
    assert state["most"] <= 2  # never more accounts at once than allowed
    assert state["peak"] <= 600 + 10 * 8  # the budget, plus what threads had reserved


def test_a_failing_lane_stops_alone():
    events, _ = _lanes_run(3, 4, parallel=3, fail={"L1"})
    failed = [e for e in events if isinstance(e, LaneFailed)]
    assert [e.lane for e in failed] == ["L1"] and "refused" in str(failed[0].error)
    days = {(r["lane"], r["day"]) for e in events if isinstance(e, Rows) for r in e.page}
    assert {d for lane, d in days if lane != "L1"} == {0, 1, 2, 3}
    assert {d for lane, d in days if lane == "L1"} <= {0, 1, 2}
    assert sum(isinstance(e, WindowDone) and e.lane == "L1" for e in events) == 2  # days 0, 1


def test_one_lane_fetches_windows_ahead_up_to_its_workers():
    """One account, many windows: while the current window is read, later windows are fetched
    too. Three fetches must meet at a barrier: with fewer at once it breaks (after a guard
    that only a broken scheduler waits for) and the count says so."""
    meet = threading.Barrier(3)
    lock, inflight, most = threading.Lock(), [0], [0]

    def pages_of(window: Window):
        for i in range(4):
            with lock:
                inflight[0] += 1
                most[0] = max(most[0], inflight[0])
            if window.start > 0 and not meet.broken:  # past the first window (sized alone)
                with contextlib.suppress(threading.BrokenBarrierError):
                    meet.wait(timeout=30)
                meet.abort()  # one meeting proves it; later fetches go straight on
            with lock:
                inflight[0] -= 1
            yield [{"w": window.start, "p": i}] * 10

    planner = WindowPlanner(0, 40 * 3600, initial=3600, minimum=60, maximum=3600,
                            target_rows=40)
    got = [(w, [p[0]["p"] for p in pages]) for w, pages in iter_windows(
        planner, pages_of, workers=4, cancel=threading.Event())]
    assert [w.start for w, _ in got] == [h * 3600 for h in range(40)]  # in order, each once
    assert all(pages == [0, 1, 2, 3] for _, pages in got)
    assert most[0] >= 3


def test_a_page_bigger_than_the_whole_budget_never_stalls_the_run():
    """A server that ignores the page size: pages of later windows outweigh the whole budget.
    The current round's windows still fetch (the consumer waits on them), so every page comes
    out once, in order; and after such a page fewer fetches start at once."""
    budget, big = 1_000 * ROW_BYTES, 5_000

    def pages_of(window: Window):
        for i in range(3):
            yield [{"d": window.start // 86400, "p": i}] * big

    cancel = threading.Event()
    done = []

    def run():
        for w, pages in iter_windows(DayPlanner(0, 6 * 86400), pages_of, workers=4,
                                     cancel=cancel, budget=budget, page_bytes=100 * ROW_BYTES):
            done.append((w.start // 86400, [p[0]["p"] for p in pages]))

    t = threading.Thread(target=run)
    t.start()
    t.join(120)  # a guard: a stalled scheduler never ends
    stalled = t.is_alive()
    cancel.set()
    assert not stalled, f"stalled after {done}"
    assert done == [(d, [0, 1, 2]) for d in range(6)]


def test_a_failing_page_fetch_stops_its_lane_with_its_error():
    def pages_of(window: Window):
        yield [{"n": 1}]
        raise ApiError("refused")

    with pytest.raises(ApiError, match="refused"):
        for _ in iter_windows(DayPlanner(0, 3 * 86400), pages_of, workers=2,
                              cancel=threading.Event()):
            pass


def test_the_consumer_is_never_ahead_of_a_window_it_has_not_finished():
    """Rows of round k never follow a WindowDone of round k+1, whatever the fetch order."""
    def pages_of(window: Window):
        day = window.start // 86400
        if day == 0:
            time.sleep(0.01)  # the first day is slow: later days are fetched meanwhile
        yield [{"d": day}]
        yield [{"d": day}]

    events = list(iter_lanes([LaneWork("L", DayPlanner(0, 5 * 86400), pages_of, 4)],
                             threads=4, parallel_lanes=1, cancel=threading.Event(),
                             budget=100 * ROW_BYTES, page_bytes=ROW_BYTES))
    order = [("rows", e.page[0]["d"]) if isinstance(e, Rows) else
             ("window", e.window.start // 86400) for e in events
             if isinstance(e, Rows | WindowDone)]
    assert order == [x for d in range(5) for x in (("rows", d), ("rows", d), ("window", d))]
    assert sum(isinstance(e, RoundDone) for e in events) == 5
    assert not any(isinstance(e, LaneFailed) for e in events)


def test_after_a_page_heavier_than_half_the_budget_one_fetch_at_a_time():
    """Pages of 5 000 rows against a budget of 1 000 rows' bytes, four workers, eight day
    windows: the first page is fetched alone (nothing is known of a page's weight), and every
    later fetch too (each reserves the heaviest page seen): counted, never more than one."""
    lock, inflight, most = threading.Lock(), [0], [0]

    def pages_of(window: Window):
        for i in range(2):
            with lock:
                inflight[0] += 1
                most[0] = max(most[0], inflight[0])
            # held open a moment: a second fetch, if the scheduler allowed one, would be seen
            # (a correct scheduler passes however slow the machine: this only widens the net)
            time.sleep(0.05)
            page = [{"d": window.start // 86400, "p": i}] * 5_000
            with lock:
                inflight[0] -= 1
            yield page

    got = [w.start // 86400 for w, _ in iter_windows(
        DayPlanner(0, 8 * 86400), pages_of, workers=4, cancel=threading.Event(),
        budget=1_000 * ROW_BYTES, page_bytes=100 * ROW_BYTES)]
    assert got == list(range(8)) and most[0] == 1
