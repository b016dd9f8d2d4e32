"""HTTP with retries shared by all workers of a stream: one throttle, one pacer, one watchdog.

Retries are a loop here rather than a `backoff` decorator because the pause must be shared: when
one worker meets a 429 or a failing server, every worker waits, and while failures last only one
request at a time goes out, so concurrency never multiplies the load on a struggling API.

The timeout requests takes bounds each wait for a byte, not an attempt: a gateway that sends
headers and then dribbles the body would hold a worker for ever. So each Client has one watchdog
thread that knows every attempt in flight, its connection and its deadline, and shuts the socket
down when the deadline passes or the stream's `cancel` is set: the blocked read returns at once.
It learns the connection from a urllib3 connection class that records itself, for the calling
thread's attempt, when it connects or sends.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import os
import random
import socket
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import msgspec
import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .errors import ApiError, TransientError

log = logging.getLogger("tap_nxcloud.http")
_decode = msgspec.json.decode


class Throttle:
    """When a worker may send: not during the shared pause after a failure, only one at a time
    while failures last, and at least `min_interval` after the previous send of any worker.
    Every wait ends at once when `cancel` is set.

    Pacing is enforced twice: a worker's turn is taken `min_interval` after the last one (so a
    pause that starts meanwhile still holds it back), and `before_send` makes the sends
    themselves that far apart, once each connection is made: a new connection (a TLS handshake)
    would otherwise put its request closer to the next one than the turns were.
    """

    def __init__(self, min_interval: float = 0.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._solo = threading.Lock()
        self._resume_at = 0.0
        self._failing = False
        self._min_interval = min_interval
        self._next_send = self._last_send = float("-inf")

    def wait_turn(self, cancel: threading.Event) -> bool:
        """Wait for this worker's turn to send; True when it holds the solo lock (`done` frees
        it). The turn is taken under the lock that checks the pause, so a pause that starts
        while a worker waits for the pacing slot (or the solo lock) still holds it back."""
        solo = False
        try:
            while True:
                if cancel.is_set():
                    raise InterruptedError("cancelled")
                with self._lock:
                    now = self._clock()
                    failing = self._failing
                    delay = max(self._resume_at, self._next_send) - now
                    if delay <= 0 and (solo or not failing):
                        self._next_send = now + self._min_interval
                        return solo
                if failing and not solo:
                    solo = self._solo.acquire(timeout=0.2)
                elif cancel.wait(min(delay, 1.0)):
                    raise InterruptedError("cancelled")
        except BaseException:
            if solo:
                self._solo.release()
            raise

    def before_send(self, cancel: threading.Event) -> None:
        if not self._min_interval:
            return
        with self._lock:
            now = self._clock()
            at = self._last_send = max(now, self._last_send + self._min_interval)
        if at > now and cancel.wait(at - now):
            raise InterruptedError("cancelled")

    def done(self, holds_solo: bool, *, ok: bool, pause: float = 0.0) -> None:
        with self._lock:
            self._failing = not ok
            if not ok:
                self._resume_at = max(self._resume_at, self._clock() + pause)
        if holds_solo:
            self._solo.release()


# --- a deadline on each whole attempt --------------------------------------------------------
class _Attempt:
    __slots__ = ("before_send", "conn", "cut", "deadline", "stopped")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
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


class _Adapter(HTTPAdapter):
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
    """One thread per Client (started with its first request, idle while none is in flight)
    that stops attempts past their deadline, and every attempt once `cancel` is set."""

    POLL = 0.1  # seconds: how late a deadline or a cancel may be noticed

    def __init__(self, name: str, cancel: threading.Event) -> None:
        self._name = name
        self._cancel = cancel
        self._cond = threading.Condition()
        self._live: set[_Attempt] = set()
        self._thread: threading.Thread | None = None

    @contextlib.contextmanager
    def watch(self, seconds: float) -> Iterator[_Attempt]:
        attempt = _Attempt(time.monotonic() + seconds)
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

    def _run(self) -> None:
        with self._cond:
            while True:
                if not self._live:
                    self._cond.wait()
                    continue
                now, cancelled = time.monotonic(), self._cancel.is_set()
                for attempt in self._live:
                    if attempt.stopped is None and (cancelled or now >= attempt.deadline):
                        attempt.stopped = "cancel" if cancelled else "deadline"
                    if attempt.stopped and not attempt.cut:
                        attempt.cut = _shut(attempt)
                self._cond.wait(self.POLL)


# --- responses -------------------------------------------------------------------------------
def retry_after_seconds(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time()) if when else None


def json_body(response: requests.Response, stream: str) -> Any:
    """Status and body checks common to both APIs; the API's own `code` is checked by the caller."""
    status = response.status_code
    if status == 429:
        raise TransientError("HTTP 429 Too Many Requests",
                             retry_after=retry_after_seconds(response))
    if status >= 500:
        raise TransientError(f"HTTP {status}", retry_after=retry_after_seconds(response))
    if status in (401, 403):
        raise ApiError(f"{stream}: HTTP {status}: the API refused the credentials; "
                       "check the stream's key and secret settings and api_url")
    if status != 200:
        raise ApiError(f"{stream}: HTTP {status} from {response.request.path_url.split('?')[0]}; "
                       "check api_url")
    try:
        return _decode(response.content)
    except msgspec.DecodeError:
        raise TransientError(f"HTTP 200 with a body that is not complete JSON "
                             f"({len(response.content)} bytes)") from None


# --- the client ------------------------------------------------------------------------------
_clients: weakref.WeakSet[Client] = weakref.WeakSet()


def cancel_all() -> None:
    """Stop every Client's workers (the output is gone, or the tap is exiting)."""
    for client in list(_clients):
        client.cancel.set()


class Client:
    """Sends prepared requests for one stream, retrying transient failures with jittered backoff.

    `min_interval`: successive sends of this Client (all workers, retries included) are at least
    this many seconds apart, for APIs that allow one request a second or two.
    """

    def __init__(self, stream: str, base_url: str, *, timeout: float, max_tries: int,
                 backoff_base: float, backoff_max: float, cancel: threading.Event,
                 min_interval: float = 0.0) -> None:
        self.stream = stream
        self.base_url = base_url
        self.timeout = timeout
        self.max_tries = max_tries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.cancel = cancel
        self.throttle = Throttle(min_interval)
        self._before_send = (partial(self.throttle.before_send, cancel) if min_interval
                             else None)
        self.watchdog = Watchdog(stream, cancel)
        self._local = threading.local()
        self.requests_sent = 0
        self._count_lock = threading.Lock()
        _clients.add(self)

    @property
    def session(self) -> requests.Session:
        # requests.Session is not documented as thread-safe: one per worker thread
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            session.headers["User-Agent"] = "tap-nxcloud"
            # requests reads proxies, CA bundle and netrc from the environment on every request,
            # scanning all of os.environ each time; read them once here, then stop.
            session.proxies = requests.utils.get_environ_proxies(self.base_url)
            session.verify = (os.environ.get("REQUESTS_CA_BUNDLE")
                              or os.environ.get("CURL_CA_BUNDLE") or True)
            session.trust_env = False
            for prefix in ("http://", "https://"):
                session.mount(prefix, _Adapter())
        return session

    def delay(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter": never near zero

    def _send(self, request: requests.Request) -> requests.Response:
        """One attempt, bounded as a whole by the watchdog."""
        session = self.session
        # prepared anew each attempt so that the auth hook signs with a fresh ts
        prepared = session.prepare_request(request)
        with self._count_lock:
            self.requests_sent += 1
        with self.watchdog.watch(self.timeout) as attempt:
            attempt.before_send = self._before_send
            try:
                return session.send(prepared, timeout=self.timeout)
            except requests.RequestException as exc:
                error = exc
        if attempt.stopped == "cancel" or self.cancel.is_set():
            raise InterruptedError("cancelled")
        # past the deadline it is a timeout, whoever noticed first (a read timeout while reading
        # the body reaches us as a ConnectionError)
        if (attempt.stopped == "deadline" or isinstance(error, requests.Timeout)
                or time.monotonic() >= attempt.deadline):
            raise TransientError(f"no response within {self.timeout:g} s (request_timeout)")
        # the exception text holds the URL, and the flash-call URL holds the secret
        raise TransientError(f"connection failed ({type(error).__name__})")

    def call(self, request: requests.Request, check: Callable[[requests.Response], Any]) -> Any:
        attempt = 0
        seen: dict[str, int] = {}
        while True:
            attempt += 1
            solo = self.throttle.wait_turn(self.cancel)
            try:
                result = check(self._send(request))
            except TransientError as exc:
                failure = exc
            except BaseException:
                self.throttle.done(solo, ok=True)
                raise
            else:
                self.throttle.done(solo, ok=True)
                return result
            if self.cancel.is_set():  # stopping: neither a retry nor a warning about one
                self.throttle.done(solo, ok=True)
                raise InterruptedError("cancelled")
            seen[failure.reason] = seen.get(failure.reason, 0) + 1
            last = attempt >= self.max_tries or seen[failure.reason] >= (failure.attempts or 1e9)
            pause = (min(failure.retry_after, self.backoff_max) if failure.retry_after is not None
                     else self.delay(attempt))
            self.throttle.done(solo, ok=False, pause=0.0 if last else pause)
            if last:
                hint = f"; {failure.hint}" if failure.hint else ""
                raise ApiError(f"{self.stream}: giving up after {attempt} attempts: "
                               f"{failure.reason}{hint}") from None
            log.warning("%s: %s; retry %d of %d in %.1f s", self.stream, failure.reason,
                        attempt, self.max_tries - 1, pause)
