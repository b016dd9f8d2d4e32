"""HTTP with retries shared by all workers of a stream: one throttle, one pacer; and one
watchdog for every attempt of the process (deadline.py).

Retries are a loop here rather than a `backoff` decorator because the pause must be shared: when
one worker meets a 429 or a failing server, every worker waits, and while failures last only one
request at a time goes out, so concurrency never multiplies the load on a struggling API.

A host that refuses the connection and has not answered once in this run (a wrong URL, a service
that is down) is tried REFUSED_TRIES times, REFUSED_PAUSE s apart, then named in one line with
the setting that holds its URL; one that answered before is retried as any transient failure.
The first retry of each kind per host is a WARNING, the others DEBUG, and a count of them all is
logged when the process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import email.utils
import logging
import os
import random
import re
import socket
import ssl
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

import msgspec
import requests
import urllib3
from urllib3.exceptions import NameResolutionError

from .deadline import SHARED, Adapter
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
        self.min_interval = min_interval
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
                        self._next_send = now + self.min_interval
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
        if not self.min_interval:
            return
        with self._lock:
            now = self._clock()
            at = self._last_send = max(now, self._last_send + self.min_interval)
        if at > now and cancel.wait(at - now):
            raise InterruptedError("cancelled")
        with self._lock:  # a late wake-up sends late: the next send is spaced from the real one
            self._last_send = max(self._last_send, self._clock())

    def done(self, holds_solo: bool, *, ok: bool, pause: float = 0.0) -> None:
        with self._lock:
            self._failing = not ok
            if not ok:
                self._resume_at = max(self._resume_at, self._clock() + pause)
        if holds_solo:
            self._solo.release()


# --- responses -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """A response as read, its body whole and decompressed (never more than the size cap)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    path: str  # the request's path, without its query (the flash-call query holds the secret)


def cut(text: object, limit: int = 200) -> str:
    """A vendor's or a library's text, cut to fit one readable line."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds, or None when absent or unreadable (then: backoff)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        seconds = when.timestamp() - time.time() if when.tzinfo else None
        if seconds is None:
            return None
    # zero, negative or NaN says nothing usable: the backoff decides (inf: capped by backoff_max)
    return seconds if seconds > 0 else None


def json_body(answer: Answer, stream: str, urls: str = "api_url") -> Any:
    """Status and body checks common to every API; the API's own `code` is checked by the
    caller. Redirects are never followed: they would carry the credentials elsewhere."""
    status = answer.status
    if status == 429:
        raise TransientError("HTTP 429 Too Many Requests", rate=True,
                             retry_after=retry_after_seconds(answer.headers.get("Retry-After")))
    if status >= 500:
        raise TransientError(f"HTTP {status}",
                             retry_after=retry_after_seconds(answer.headers.get("Retry-After")))
    if 300 <= status < 400:
        target = urlsplit(answer.headers.get("Location") or "")
        where = cut(target.netloc or target.path or "nowhere", 80)
        raise ApiError(f"{stream}: HTTP {status} redirect to {where} not followed (it would "
                       f"carry the credentials there); set {urls} to the host that answers")
    if status in (401, 403):
        raise ApiError(f"{stream}: HTTP {status}: the API refused the credentials; "
                       "check the stream's key and secret settings and api_url")
    if status != 200:
        raise ApiError(f"{stream}: HTTP {status} from {cut(answer.path, 80)}; check api_url")
    try:
        return _decode(answer.body)
    except (msgspec.MsgspecError, RecursionError):
        kind = (answer.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind and "json" not in kind and not kind.startswith("text/plain"):
            # a page, not a truncated answer: a proxy or a captive portal answered, which no
            # retry heals (NXCloud's answers are JSON, whatever type they are labelled)
            raise ApiError(f"{stream}: HTTP 200 with {cut(kind, 40)}, not JSON: something "
                           f"other than NXCloud answered (a proxy or a captive portal?); check "
                           f"{urls} and the network") from None
        raise TransientError(f"HTTP 200 with a body that is not complete JSON "
                             f"({len(answer.body)} bytes)") from None


_DECODERS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class TooLarge(Exception):
    """The bodies being read passed the size cap."""


class Unreadable(Exception):
    """A body in an encoding the tap did not ask for."""


class BodyBudget:
    """Bytes of answer bodies held while they are read, shared by a stream's workers: whatever
    the servers send and however many workers read at once, the bodies together stay under the
    cap (NXCloud's real pages are a small fraction of it)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> None:
        with self._lock:
            if self.held + n > self.limit:
                raise TooLarge
            self.held += n

    def give(self, n: int) -> None:
        with self._lock:
            self.held -= n


def read_body(raw, headers: Mapping[str, str], budget: BodyBudget) -> bytes:
    """The whole body, decompressed, holding no more than the budget allows: a small compressed
    body can expand to gigabytes, so decompression is bounded too."""
    encoding = (headers.get("Content-Encoding") or "identity").strip().lower()
    if encoding not in ("identity", "", *_DECODERS):
        raise Unreadable(encoding)
    declared = headers.get("Content-Length") or ""
    if encoding in ("identity", "") and declared.isascii() and declared.isdigit() \
            and int(declared) > budget.limit:
        raise TooLarge
    wbits = _DECODERS.get(encoding)
    decoder = zlib.decompressobj(wbits) if wbits else None
    out = bytearray()
    try:
        for chunk in raw.stream(1 << 16, decode_content=False):
            if decoder is None:
                budget.take(len(chunk))
                out += chunk
                continue
            data = chunk
            while data:
                part = decoder.decompress(data, min(budget.limit - budget.held + 1, 1 << 20))
                budget.take(len(part))
                out += part
                data = decoder.unconsumed_tail
                if decoder.eof and decoder.unused_data:  # gzip allows several members
                    data, decoder = decoder.unused_data, zlib.decompressobj(wbits)
        if decoder is not None:
            tail = decoder.flush()
            budget.take(len(tail))
            out += tail
        return bytes(out)
    finally:
        budget.give(len(out))


def _causes(exc: BaseException):
    """An exception and everything it wraps (requests wraps urllib3, which wraps socket)."""
    seen, todo = set(), [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen or not isinstance(e, BaseException):
            continue
        seen.add(id(e))
        yield e
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None),
                 *(a for a in e.args if isinstance(a, BaseException))]


def transport_failure(exc: BaseException, host: str, urls: str = "api_url") -> Exception:
    """What a failed connection means: a host name that does not resolve or a certificate that
    is refused cannot heal (ApiError, at once); anything else is worth retrying."""
    chain = list(_causes(exc))
    if any(isinstance(e, NameResolutionError | socket.gaierror) for e in chain):
        return ApiError(f"cannot resolve the host name {host} (DNS lookup failed); check "
                        f"{urls}")
    bad_cert = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
    if bad_cert is not None or isinstance(exc, requests.exceptions.SSLError):
        why = getattr(bad_cert, "verify_message", None) or "TLS handshake failed"
        return ApiError(f"the TLS certificate of {host} was refused ({cut(why, 100)}); check "
                        f"{urls}, or REQUESTS_CA_BUNDLE for a proxy's own certificate")
    kind = next((type(e).__name__ for e in chain if isinstance(e, ConnectionRefusedError
                                                                | ConnectionResetError)),
                type(exc).__name__)
    if kind == ConnectionRefusedError.__name__:
        return Refused(f"connection to {host} failed ({kind})")
    return TransientError(f"connection to {host} failed ({kind})")


class Refused(TransientError):
    """The host refused the connection: nothing listens there, or not yet."""


# --- what this run learnt about its hosts ----------------------------------------------------
REFUSED_TRIES = 2  # a host that never answered: tries before it is named (a wrong URL?)
REFUSED_PAUSE = 1.0  # seconds between them
_answered: set[str] = set()  # hosts that sent an HTTP answer (any status) in this run
_unreachable: dict[str, str] = {}  # host -> the line that named it: the others fail at once
_url_settings: dict[str, str] = {}  # host -> the setting(s) that hold its URL
_retries: dict[tuple[str, str], int] = {}  # (host, kind of failure) -> retries so far
_retries_lock = threading.Lock()


def name_url_settings(sources: Mapping[str, str]) -> None:
    """The settings that put each host in this run (settings.Settings.url_sources): a message
    about a host names the one to check, not every setting that might hold a URL."""
    _url_settings.clear()
    _url_settings.update(sources)


def _kind(reason: str) -> str:
    """A failure's reason without its particulars (sizes, exception names): its kind."""
    return re.sub(r"\s*\([^)]*\)", "", reason)


def _count_retry(host: str, reason: str) -> bool:
    """Count a retry; True for the first of its kind for this host (the one a WARNING shows)."""
    key = (host, _kind(reason))
    with _retries_lock:
        n = _retries[key] = _retries.get(key, 0) + 1
        if n == 2 and sum(v > 1 for v in _retries.values()) == 1:  # the first one unshown
            atexit.register(_log_retry_summary)
    return n == 1


def retry_summary() -> list[str]:
    """One line per host some of whose retries were logged at DEBUG only: how many of each."""
    hosts: dict[str, list[tuple[str, int]]] = {}
    with _retries_lock:
        for (host, kind), n in _retries.items():
            hosts.setdefault(host, []).append((kind, n))
    return [f"{host}: {sum(n for _, n in kinds)} retries in this run ("
            + ", ".join(f"{kind}: {n}" for kind, n in kinds)
            + "); after the first of each kind they were logged at DEBUG"
            for host, kinds in hosts.items() if any(n > 1 for _, n in kinds)]


def _log_retry_summary() -> None:
    for line in retry_summary():
        log.warning("%s", line)


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
                 min_interval: float = 0.0, max_bytes: int = 16 << 20,
                 throttle: Throttle | None = None, urls: str = "api_url") -> None:
        self.stream = stream
        self.urls = urls  # the settings a wrong host is fixed in, for messages
        self.base_url = base_url
        self.host = urlsplit(base_url).netloc or base_url
        self.timeout = timeout
        self.max_tries = max_tries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_bytes = max_bytes
        self.bodies = BodyBudget(max_bytes)
        self.cancel = cancel
        # a throttle may be shared: SIP's rate is counted per IP, for every reader of the process
        self.throttle = throttle or Throttle(min_interval)
        self._before_send = (partial(self.throttle.before_send, cancel)
                             if self.throttle.min_interval else None)
        self.watchdog = SHARED
        self._sessions: list[requests.Session] = []  # idle ones, ready for the next attempt
        self._sessions_lock = threading.Lock()
        self.requests_sent = 0
        self._count_lock = threading.Lock()
        _clients.add(self)

    @property
    def url_setting(self) -> str:
        """The setting(s) that hold this host's URL, as messages name them."""
        return _url_settings.get(self.host) or self.urls

    @contextlib.contextmanager
    def session(self) -> Iterator[requests.Session]:
        """A session of this client's, for one attempt at a time (requests.Session is not
        documented as thread-safe): as many exist as attempts ever ran at once, whichever
        threads make them, and `close()` ends them and their connections."""
        with self._sessions_lock:
            session = self._sessions.pop() if self._sessions else None
        if session is None:
            session = self._new_session()
        try:
            yield session
        finally:
            with self._sessions_lock:
                self._sessions.append(session)

    def close(self) -> None:
        """Close the idle sessions and their keep-alive connections (the lane is done)."""
        with self._sessions_lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def _new_session(self) -> requests.Session:
        session = requests.Session()
        session.headers["User-Agent"] = "tap-nxcloud"
        session.headers["Accept-Encoding"] = "gzip, deflate"  # what read_body decodes
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

    def _send(self, request: requests.Request) -> Answer:
        """One attempt, bounded as a whole (connect, headers, body) by the watchdog and in size
        by `max_bytes`; redirects are not followed."""
        with self.session() as session:
            return self._attempt(session, request)

    def _attempt(self, session: requests.Session, request: requests.Request) -> Answer:
        # prepared anew each attempt so that the auth hook signs with a fresh ts
        prepared = session.prepare_request(request)
        with self._count_lock:
            self.requests_sent += 1
        with self.watchdog.watch(self.timeout, self.cancel) as attempt:
            attempt.before_send = self._before_send
            try:
                response = session.send(prepared, timeout=self.timeout, allow_redirects=False,
                                        stream=True)
                _answered.add(self.host)
                try:
                    body = read_body(response.raw, response.headers, self.bodies)
                except BaseException:
                    response.close()  # the rest of the body is not wanted: drop the connection
                    raise
                response.raw.release_conn()  # read to its end: keep-alive, back to the pool
                return Answer(response.status_code, response.headers, body,
                              urlsplit(prepared.url).path)
            except TooLarge:
                raise ApiError(f"{self.stream}: the answer passed max_response_mb "
                               f"({self.max_bytes / 2**20:g} MB, after decompression) and was "
                               "cut off; raise max_response_mb if NXCloud's pages really are "
                               "that big") from None
            except Unreadable as exc:
                raise ApiError(f"{self.stream}: the answer is encoded as {cut(exc, 40)!r}, "
                               "which the tap does not ask for (it asks for gzip or deflate); "
                               "check api_url (a proxy?)") from None
            except zlib.error:
                failure: Exception = TransientError("HTTP 200 with a compressed body that "
                                                    "does not decompress")
                timed_out = False
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                # what is needed, not the exception: kept in a local, it and its traceback's
                # frames would form a cycle that holds their pages until a full collection;
                # and its text holds the URL, which for flash calls holds the secret
                failure = transport_failure(exc, self.host, self.url_setting)
                timed_out = isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError)
        if attempt.stopped == "cancel" or self.cancel.is_set():
            raise InterruptedError("cancelled")
        # past the deadline it is a timeout, whoever noticed first (a read timeout while reading
        # the body reaches us as a ConnectionError)
        if attempt.stopped == "deadline" or timed_out or time.monotonic() >= attempt.deadline:
            raise TransientError(f"no response from {self.host} within {self.timeout:g} s "
                                 "(request_timeout)")
        if isinstance(failure, ApiError):
            raise ApiError(f"{self.stream}: {failure}")
        raise failure

    def call(self, request: requests.Request, check: Callable[[Answer], Any],
             tally: Any = None) -> Any:
        """`tally` (an audit.Tally), if given, counts this call's attempts, retries and rate
        refusals for the window it belongs to."""
        attempt = refusals = 0
        seen: dict[str, int] = {}
        while True:
            attempt += 1
            if tally is not None:
                tally.requests += 1
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
            if tally is not None:
                tally.rate_refusals += failure.rate
            last = attempt >= self.max_tries or seen[failure.reason] >= (failure.attempts or 1e9)
            pause = max(failure.min_pause,
                        min(failure.retry_after, self.backoff_max)
                        if failure.retry_after is not None else self.delay(attempt))
            # refused by a host that has never answered: a wrong URL or a service that is down,
            # named after a quick second try instead of minutes of backoff
            never = isinstance(failure, Refused) and self.host not in _answered
            if never:
                refusals += 1
                last = last or refusals >= REFUSED_TRIES or self.host in _unreachable
                pause = REFUSED_PAUSE
            self.throttle.done(solo, ok=False, pause=0.0 if last else pause)
            if last and never:
                raise ApiError(_unreachable.setdefault(self.host, (
                    f"cannot connect to {self.host}: the connection was refused and the host "
                    f"has not answered in this run (a wrong URL, or the service is down); "
                    f"check {self.url_setting}"))) from None
            if last:
                hint = f"; {failure.hint}" if failure.hint else ""
                raise ApiError(f"{self.stream}: giving up after {attempt} attempts: "
                               f"{failure.reason}{hint}") from None
            if tally is not None:
                tally.retries += 1
            shown = not never and _count_retry(self.host, failure.reason)
            log.log(logging.WARNING if shown else logging.DEBUG,
                    "%s: %s; retry %d of %d in %.1f s", self.stream, failure.reason, attempt,
                    self.max_tries - 1, pause)
