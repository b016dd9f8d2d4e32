"""HTTP with retries shared by both streams: one throttle for all workers of a stream.

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
from collections.abc import Callable
from typing import Any

import msgspec
import requests

from .errors import ApiError, TransientError

log = logging.getLogger("tap_nxcloud.http")
_decode = msgspec.json.decode


class Throttle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._solo = threading.Lock()
        self._resume_at = 0.0
        self._failing = False

    def wait_turn(self, cancel: threading.Event) -> bool:
        """Sleep out the shared pause; returns True when the caller must hold the solo lock."""
        while True:
            with self._lock:
                delay = self._resume_at - self._clock()
                failing = self._failing
            if delay <= 0:
                break
            if cancel.wait(min(delay, 1.0)):
                raise InterruptedError("cancelled")
        if failing:
            self._solo.acquire()
        return failing

    def done(self, holds_solo: bool, *, ok: bool, pause: float = 0.0) -> None:
        with self._lock:
            self._failing = not ok
            if not ok:
                self._resume_at = max(self._resume_at, self._clock() + pause)
        if holds_solo:
            self._solo.release()


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


class Client:
    """Sends prepared requests for one stream, retrying transient failures with jittered backoff."""

    def __init__(self, stream: str, base_url: str, *, timeout: float, max_tries: int,
                 backoff_base: float, backoff_max: float, cancel: threading.Event) -> None:
        self.stream = stream
        self.base_url = base_url
        self.timeout = timeout
        self.max_tries = max_tries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.cancel = cancel
        self.throttle = Throttle()
        self._local = threading.local()
        self.requests_sent = 0
        self._count_lock = threading.Lock()

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
        return session

    def delay(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # "equal jitter": never near zero

    def call(self, request: requests.Request, check: Callable[[requests.Response], Any]) -> Any:
        attempt = 0
        seen: dict[str, int] = {}
        while True:
            attempt += 1
            solo = self.throttle.wait_turn(self.cancel)
            try:
                # prepared anew each attempt so that the auth hook signs with a fresh ts
                prepared = self.session.prepare_request(request)
                with self._count_lock:
                    self.requests_sent += 1
                response = self.session.send(prepared, timeout=self.timeout)
                result = check(response)
            except TransientError as exc:
                failure = exc
            except requests.Timeout:
                failure = TransientError(f"no response within {self.timeout:g} s (request_timeout)")
            except requests.RequestException as exc:
                # the exception text holds the URL, and the flash-call URL holds the secret
                failure = TransientError(f"connection failed ({type(exc).__name__})")
            except BaseException:
                self.throttle.done(solo, ok=True)
                raise
            else:
                self.throttle.done(solo, ok=True)
                return result
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
