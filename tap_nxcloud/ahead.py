"""Reading a paced stream ahead of its turn.

singer-sdk syncs streams one after another, and SIP may send one request per 2 s for the whole
IP: 200 accounts are 400 s of pauses that nothing else could overlap. So a paced stream starts
reading when the run starts, and what it reads waits in an anonymous temporary file (deleted by
the system when the process ends, however it ends) until its turn; records still go out stream
by stream, in the SDK's order. At its turn the stream replays the file, then reads the rest
itself, as if it had read it all then.

Nothing of it is committed before its turn: a run killed before then leaves the stream's bookmark
where it was, and the rows read ahead were never emitted, so nothing is lost or doubled.

Memory stays flat: pages go to the file as they arrive (the scheduler's budget holds the rest).
The file is bounded too: at `limit` bytes the reading pauses until the stream's turn.
"""

from __future__ import annotations

import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import msgspec

from .scheduler import Cancelled, Event, Rows

LIMIT_BYTES = 256 << 20  # rows read ahead kept on disk, at most; then the reading waits

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


@dataclass(frozen=True, slots=True)
class _Spooled:
    """A page waiting in the spool file: where, how long, and whether its rows are lines."""

    lane: object
    offset: int
    length: int
    lines: bool


class Ahead:
    """Pulls `events` (a stream's scheduler events) in a thread of its own into a spool; `take()`
    hands them back in order, then the rest of `events`, pulled by the caller.

    A spool that cannot be written (a full disk, a quota) loses nothing: the page that failed
    stays in memory, the reading pauses there, and the stream's turn reads on from it."""

    def __init__(self, name: str, events: Iterator[Event], interrupted: Callable[[], bool],
                 limit: int = LIMIT_BYTES, logger=None) -> None:
        self._name = name
        self._events = events
        self._interrupted = interrupted
        self._limit = limit
        self._log_to = logger
        # unbuffered: a page is on disk whole, or not referenced at all (a full disk)
        self._file = tempfile.TemporaryFile(prefix="tap-nxcloud-", buffering=0)  # noqa: SIM115 (closed by take/close)
        self._log: deque[Event | _Spooled] = deque()
        self._size = 0
        self._error: BaseException | None = None
        self._ended = False  # `events` is exhausted
        self._full = False  # the spool could not be written: reading waits for the turn
        self._stop = False
        self._cv = threading.Condition()
        self._thread = threading.Thread(target=self._pump, daemon=True,
                                        name=f"nxcloud-ahead-{name}")
        self._thread.start()

    @property
    def spooled_bytes(self) -> int:
        return self._size

    def _pump(self) -> None:
        while True:
            with self._cv:
                while (self._size >= self._limit or self._full) and not self._stop:
                    self._cv.wait()
                if self._stop:
                    return
            try:
                event = next(self._events)
            except StopIteration:
                self._ended = True
                return
            except BaseException as exc:  # raised at the stream's turn, in its place
                self._error = exc.with_traceback(None)
                return
            if isinstance(event, Rows):
                self._spool(event)
            else:
                self._log.append(event)

    def _spool(self, event: Rows) -> None:
        page = event.page
        lines = bool(page) and isinstance(page[0], bytes)  # rows encoded already
        data = b"\n".join(page) if lines else _encode(page)  # JSON has no raw newline
        try:
            view = memoryview(data)
            while view:  # a raw write may write part of it
                view = view[self._file.write(view):]
        except OSError as exc:
            # kept in memory, in its place; what was spooled before it is whole on disk (its
            # part written of this page is never read): the turn replays it, then this page,
            # then reads on
            self._log.append(event)
            self._full = True
            if self._log_to is not None:
                self._log_to.info("%s: reading ahead paused, its spool file cannot be written "
                                  "(%s); the rest is read at the stream's turn", self._name,
                                  exc.strerror or exc)
            return
        self._log.append(_Spooled(event.lane, self._size, len(data), lines))
        self._size += len(data)

    def _halt(self) -> None:
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        # the pump returns after its current event: at most as long as that event would have
        # taken the caller (a cancel makes the scheduler raise within a fraction of a second)
        self._thread.join()

    def take(self) -> Iterator[Event]:
        """The stream's turn: every event read ahead, in order, then the rest of them."""
        self._halt()
        try:
            self._file.seek(0)
            while self._log:
                if self._interrupted():  # a signal: stop at a page, as the scheduler does
                    raise Cancelled
                event = self._log.popleft()
                if isinstance(event, _Spooled):
                    data = self._file.read(event.length)
                    if len(data) != event.length:  # the file was cut under us: never go on
                        raise OSError(f"{self._name}: its read-ahead spool lost data")
                    yield Rows(event.lane, data.split(b"\n") if event.lines else _decode(data))
                else:
                    yield event
        finally:
            self._file.close()
        if self._error is not None:
            raise self._error
        if not self._ended:
            yield from self._events

    def close(self) -> None:
        """The run ends before the stream's turn (a failure, a signal): stop reading. The
        caller has set the stream's cancel event, which ends the scheduler's threads."""
        self._halt()
        self._file.close()
