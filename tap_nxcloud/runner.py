"""Fetching windows concurrently while handing them out strictly in order.

Workers fetch up to `max_pending` windows ahead; each window's pages travel through a small bounded
queue, so memory stays flat however large the range (at most max_pending x queue_pages pages
held; the stream sizes queue_pages to its page size).
The executor is FIFO and the consumer drains the oldest window first, so the window being consumed
always has a worker and the blocked producers behind it cannot deadlock. Until the first window is
done only one is in flight, so the planner sizes the rest from real density rather than a guess.

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
                 *, workers: int, cancel: threading.Event, queue_pages: int = 4,
                 ) -> Iterator[tuple[Window, Iterator[list[dict]]]]:
    """Yield (window, pages) oldest first; exhaust `pages` before asking for the next."""
    max_pending = max(1, 2 * workers)
    pending: deque[tuple[Window, queue.Queue]] = deque()

    def put(q: queue.Queue, item: object) -> bool:
        while not cancel.is_set():
            try:
                q.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce(window: Window, q: queue.Queue) -> None:
        try:
            for page in pages_of(window):
                if not put(q, page):
                    return
            put(q, _DONE)
        except BaseException as exc:  # handed to the consumer, which raises it in order
            put(q, _Failed(exc))

    def fill(pool: ThreadPoolExecutor) -> None:
        limit = max_pending if planner.observed else 1
        while len(pending) < limit:
            window = planner.next()
            if window is None:
                return
            q: queue.Queue = queue.Queue(maxsize=queue_pages)
            pool.submit(produce, window, q)
            pending.append((window, q))

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
            counter[0] += len(item)
            yield item

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nxcloud-window")
    try:
        fill(pool)
        while pending:
            window, q = pending.popleft()
            counter = [0]
            yield window, drain(q, counter)
            planner.observe(window, counter[0])
            fill(pool)
    finally:
        cancel.set()  # wakes producers blocked on a full queue or a throttle pause
        pool.shutdown(wait=False, cancel_futures=True)
