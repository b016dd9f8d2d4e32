"""A deadline on each whole HTTP attempt (connect, headers, body).

The timeout requests takes bounds each wait for a byte, not an attempt: a gateway that sends
headers and then dribbles the body would hold a worker for ever. So one watchdog thread knows
every attempt in flight, its connection and its deadline, and shuts the socket down when the
deadline passes or the attempt's `cancel` is set: the blocked read returns at once.
It learns the connection from a urllib3 connection class that records itself, for the calling
thread's attempt, when it connects or sends.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class _Attempt:
    __slots__ = ("before_send", "cancel", "conn", "cut", "deadline", "stopped")

    def __init__(self, deadline: float, cancel: threading.Event) -> None:
        self.deadline = deadline
        self.cancel = cancel
        self.before_send: Callable[[], None] | None = None  # called as the request goes out
        self.conn: HTTPConnection | None = None
        self.stopped: str | None = None  # "deadline" or "cancel", once the watchdog stops it
        self.cut = False


_current = threading.local()  # .attempt: the attempt this thread is making


def _claim(conn: HTTPConnection) -> _Attempt | None:
    attempt = getattr(_current, "attempt", None)
    conn.nxcloud_attempt = attempt  # type: ignore[attr-defined]
    if attempt is not None:
        attempt.conn = conn
    return attempt


class _Tracked:
    """A urllib3 connection that tells the calling thread's attempt which socket it uses."""

    def connect(self) -> None:
        _claim(self)  # type: ignore[arg-type]
        super().connect()  # type: ignore[misc]

    def request(self, *args, **kwargs) -> None:
        attempt = _claim(self)  # type: ignore[arg-type]
        if attempt is not None and attempt.before_send is not None:
            if self.sock is None:  # type: ignore[attr-defined]
                self.connect()  # plain HTTP connects lazily: connect first, then pace the send
            attempt.before_send()
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Tracked, HTTPConnection):
    pass


class _HTTPSConnection(_Tracked, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class Adapter(HTTPAdapter):
    """requests' adapter with pools of tracked connections (SOCKS proxies keep their own pools;
    through one, only the per-read timeout bounds an attempt)."""

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _POOLS

    def proxy_manager_for(self, proxy: str, **kwargs):
        manager = super().proxy_manager_for(proxy, **kwargs)
        if manager.pool_classes_by_scheme.get("http") in (HTTPConnectionPool, _HTTPPool):
            manager.pool_classes_by_scheme = _POOLS
        return manager


def _shut(attempt: _Attempt) -> bool:
    """Shut the attempt's socket down; False while it has none yet (connecting: the connect
    timeout bounds that part)."""
    conn = attempt.conn
    if conn is None or getattr(conn, "nxcloud_attempt", None) is not attempt:
        return conn is not None  # None: not connected yet; another owner: already handed on
    sock = conn.sock
    if sock is None:
        return False
    with contextlib.suppress(OSError):  # already closed by its thread
        # the plain socket's method: ssl.SSLSocket.shutdown would drop its TLS object under the
        # thread that is reading from it
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    return True


class Watchdog:
    """One thread (started by the first attempt, ended after IDLE seconds with none, so a
    finished sync leaves no thread behind) that stops attempts past their deadline, and every
    attempt whose cancel event is set. The Clients of a run share one (`SHARED`): a thread per
    client made hundreds of threads for hundreds of accounts."""

    POLL = 0.1  # seconds: how late a deadline or a cancel may be noticed

    def __init__(self, name: str, cancel: threading.Event) -> None:
        self._name = name
        self._cancel = cancel
        self._cond = threading.Condition()
        self._live: set[_Attempt] = set()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, seconds: float, cancel: threading.Event | None = None,
              ) -> Iterator[_Attempt]:
        """Watch one attempt; `cancel`: the attempt's own stop (default: the watchdog's)."""
        attempt = _Attempt(time.monotonic() + seconds, cancel or self._cancel)
        with self._cond:
            self._live.add(attempt)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name=f"nxcloud-watchdog-{self._name}")
                self._thread.start()
            self._cond.notify()
        _current.attempt = attempt
        try:
            yield attempt
        finally:
            _current.attempt = None
            with self._cond:  # after this the watchdog no longer touches the connection
                self._live.discard(attempt)

    IDLE = 2.0  # seconds without an attempt before the thread ends (a stream's sync is over)

    def _run(self) -> None:
        with self._cond:
            while True:
                if not self._live:
                    if not self._cond.wait(self.IDLE) and not self._live:
                        self._thread = None  # the next attempt starts a new one
                        return
                    continue
                now = time.monotonic()
                for attempt in self._live:
                    cancelled = attempt.cancel.is_set()
                    if attempt.stopped is None and (cancelled or now >= attempt.deadline):
                        attempt.stopped = "cancel" if cancelled else "deadline"
                    if attempt.stopped and not attempt.cut:
                        attempt.cut = _shut(attempt)
                self._cond.wait(self.POLL)


SHARED = Watchdog("shared", threading.Event())
