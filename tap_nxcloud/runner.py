"""Fetching windows concurrently while handing them out strictly in order.

Workers fetch up to `max_pending` windows ahead. Their pages wait in per-window queues under one
row budget for the whole stream, so memory is bounded by the budget, not by the range, the page
size or the rows of a window (a day of SMS can hold tens of thousands).
The executor is FIFO and the consumer drains the oldest window (the head) first, and the head may
always fetch while fewer than two of its pages wait: the window being consumed always has a
worker, and producers behind it, waiting on a spent budget, cannot deadlock it. Until the first
window is done only one is in flight, so the planner sizes the rest from real density rather than
a guess.

Stopping is prompt: on `cancel` (a signal, a failed window, the end) producers stop putting, the
Client aborts their requests in flight and wakes their pauses, and the pool's threads end within
a second, so the interpreter does not wait for them at exit.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from .windows import Window, WindowPlanner
from .writer import check_output

_DONE = object()


class Cancelled(BaseException):
    """The cancel event was set while windows were being handed out (a termination signal)."""


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def iter_windows(planner: WindowPlanner, pages_of: Callable[[Window], Iterator[list[dict]]],
                 *, workers: int, cancel: threading.Event, budget_rows: int = 4000,
                 page_rows: int = 100) -> Iterator[tuple[Window, Iterator[list[dict]]]]:
    """Yield (window, pages) oldest first; exhaust `pages` before asking for the next.

    A producer fetches its next page (`page_rows` at most) only while fewer than `budget_rows`
    rows are queued or being fetched in all windows, or when its window is the head and fewer
    than two of the head's pages wait: a producer that waits holds no page.
    """
    max_pending = max(1, 2 * workers)
    pending: deque[tuple[int, Window, queue.Queue]] = deque()
    ready = threading.Condition()
    held = [0]  # rows queued or being fetched, all windows
    head = [0]  # index of the window being consumed
    serial = [0]

    def room(index: int, q: queue.Queue) -> bool:
        """Wait until this window may fetch a page, and reserve its rows; False: cancelled."""
        with ready:
            while not cancel.is_set():
                if held[0] < budget_rows or (index == head[0] and q.qsize() < 2):
                    held[0] += page_rows
                    return True
                ready.wait(0.2)
        return False

    def produce(index: int, window: Window, q: queue.Queue) -> None:
        pages = pages_of(window)
        try:
            while room(index, q):
                page = None
                try:
                    page = next(pages, None)
                finally:  # the reservation becomes the page's rows (none at the end, or failed)
                    with ready:
                        held[0] += (len(page) if page else 0) - page_rows
                        ready.notify_all()
                if page is None:
                    q.put(_DONE)
                    return
                q.put(page)
        except BaseException as exc:  # handed to the consumer, which raises it in order
            q.put(_Failed(exc))

    def fill(pool: ThreadPoolExecutor) -> None:
        limit = max_pending if planner.observed else 1
        while len(pending) < limit:
            window = planner.next()
            if window is None:
                return
            q: queue.Queue = queue.Queue()
            pool.submit(produce, serial[0], window, q)
            pending.append((serial[0], window, q))
            serial[0] += 1

    def drain(q: queue.Queue, counter: list[int]) -> Iterator[list[dict]]:
        while True:
            try:
                item = q.get(timeout=0.2)
            except queue.Empty:
                item = None
            if cancel.is_set():  # cancelled producers put nothing more: stop at a page boundary
                raise Cancelled
            if item is None:
                check_output()  # nothing to write for now: is anyone still reading?
                continue
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            with ready:
                held[0] -= len(item)
                ready.notify_all()
            counter[0] += len(item)
            yield item

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nxcloud-window")
    try:
        fill(pool)
        while pending:
            index, window, q = pending.popleft()
            with ready:
                head[0] = index
                ready.notify_all()
            counter = [0]
            yield window, drain(q, counter)
            planner.observe(window, counter[0])
            fill(pool)
    finally:
        cancel.set()  # wakes producers waiting for the budget or a throttle pause
        pool.shutdown(wait=False, cancel_futures=True)
