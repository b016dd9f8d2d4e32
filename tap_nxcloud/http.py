"""HTTP with retries shared by all workers of a stream: one throttle, one pacer, one watchdog
(deadline.py).

Retries are a loop here rather than a `backoff` decorator because the pause must be shared: when
one worker meets a 429 or a failing server, every worker waits, and while failures last only one
request at a time goes out, so concurrency never multiplies the load on a struggling API.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable
from functools import partial
from typing import Any

import msgspec
import requests

from .deadline import Adapter, Watchdog
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
                session.mount(prefix, Adapter())
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
                # what is needed, not the exception: kept in a local, it and its traceback's
                # frames would form a cycle that holds their pages until a full collection
                kind, timed_out = type(exc).__name__, isinstance(exc, requests.Timeout)
        if attempt.stopped == "cancel" or self.cancel.is_set():
            raise InterruptedError("cancelled")
        # past the deadline it is a timeout, whoever noticed first (a read timeout while reading
        # the body reaches us as a ConnectionError)
        if attempt.stopped == "deadline" or timed_out or time.monotonic() >= attempt.deadline:
            raise TransientError(f"no response within {self.timeout:g} s (request_timeout)")
        # the exception text holds the URL, and the flash-call URL holds the secret
        raise TransientError(f"connection failed ({kind})")

    def call(self, request: requests.Request, check: Callable[[requests.Response], Any]) -> Any:
        attempt = 0
        seen: dict[str, int] = {}
        while True:
            attempt += 1
            solo = self.throttle.wait_turn(self.cancel)
            try:
                result = check(self._send(request))
            except TransientError as exc:
                # its traceback dropped: this frame holding it would make a cycle through the
                # frames below, which hold a decoded page each (freed only by a full collection)
                failure = exc.with_traceback(None)
                failure.__context__ = failure.__cause__ = None
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
            pause = max(failure.min_pause,
                        min(failure.retry_after, self.backoff_max)
                        if failure.retry_after is not None else self.delay(attempt))
            self.throttle.done(solo, ok=False, pause=0.0 if last else pause)
            if last:
                hint = f"; {failure.hint}" if failure.hint else ""
                raise ApiError(f"{self.stream}: giving up after {attempt} attempts: "
                               f"{failure.reason}{hint}") from None
            log.warning("%s: %s; retry %d of %d in %.1f s", self.stream, failure.reason,
                        attempt, self.max_tries - 1, pause)
