"""The double's HTTP server: the NXCloud endpoint of every registered stream, as documented, plus
fault, latency and rate-limit injection. Each endpoint lives in endpoints/<module>.py.

What it checks, as the real API does (docs/nxcloud-api/, the project's account of the vendor's
pages): the credentials each product takes (query, form fields, signed headers with the 60 s `ts`
skew and the MD5 signature over the exact body bytes), time formats, windows, retention, page
sizes and rate limits; it answers in each endpoint's own envelope (HTTP 200, a failure `code`).

Its judgements do not depend on how busy the machine is: a request's arrival (the request log's
`at`, the rate clock) is when its bytes reached the server's socket, as the kernel stamped them,
not when a server thread got round to it.
"""

from __future__ import annotations

import bisect
import collections
import contextlib
import datetime as dt
import io
import json
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from tap_nxcloud.streams import STREAMS as SPECS

from .endpoints import BY_ALIAS, ENDPOINTS, STREAMS, Request
from .table import Table

FAULT_KINDS = ("429", "500", "502", "503", "reset", "timeout", "truncated", "html", "busy", "skew")
# Slow bodies, never drawn at random unless asked for: "stall" sends the status and headers
# (with Content-Length) and then nothing for `stall_seconds` before closing; "dribble" sends the
# body one byte every `dribble_interval`.
SLOW_FAULT_KINDS = ("stall", "dribble")
# Scripted only: "code:N" answers with API code N (vendor envelope), "status:N" with HTTP status N,
# "badrow" with success and a row that lacks its keys.
RATES = {e.stream: e.rate for e in ENDPOINTS if e.rate}  # stream -> (requests, seconds)
# Linux's SO_TIMESTAMPNS (its control message, SCM_TIMESTAMPNS, has the same number); Python 3.11
# does not name it. An accepted socket inherits it from the listening one.
_SO_TIMESTAMPNS = 35
_STAMPED = hasattr(socket.socket, "recvmsg_into") and hasattr(socket, "CMSG_SPACE")

__all__ = ["FAULT_KINDS", "RATES", "SLOW_FAULT_KINDS", "ApiDouble", "Credentials", "Faults",
           "StampedHandler", "stamp_arrivals"]


class Credentials:
    """The demo credentials of every registered stream: each credential setting of the tap's
    specs (`sms_app_key`, `cc_access_secret`, ...) as an attribute, `demo-<setting>` unless given.
    """

    def __init__(self, **given: str) -> None:
        names = [n for spec in SPECS for n in spec.credentials]
        unknown = set(given) - set(names)
        if unknown:
            raise TypeError(f"not a credential setting of any stream: {sorted(unknown)}")
        self.values = {n: given.get(n, f"demo-{n.replace('_', '-')}") for n in names}

    def __getattr__(self, name: str) -> str:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None


@dataclass
class Faults:
    """rate: share of requests that fail, drawn from `kinds` by a seeded generator in the order
    requests arrive (the seed fixes the run's nth draw, not which request makes it); `script`:
    the faults of the next requests, in order, before any random ones. `per_request`: at most
    that many random faults for one request (its stream and logged parameters), then it is
    answered without a draw (None: no bound, a request may meet fault after fault; with
    concurrent workers which one does depends on the order they arrive in). The other fields
    time the faults of those names (429's Retry-After, timeout, stall, dribble), in seconds."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 7
    script: list[str] = field(default_factory=list)
    per_request: int | None = None
    retry_after: float = 1.0
    timeout_sleep: float = 3.0
    stall_seconds: float = 30.0
    dribble_interval: float = 0.5


def _rate(value) -> tuple[int, float] | None:
    """A rate limit as given: seconds between two requests, or (requests, seconds); 0: none."""
    count, seconds = (1, value) if isinstance(value, int | float) else value
    return (int(count), float(seconds)) if count and seconds else None


def stamp_arrivals(sock: socket.socket) -> None:
    """Have the kernel stamp what this listening socket, and the ones it accepts, receive (for
    a server whose handler is a StampedHandler)."""
    if _STAMPED:  # elsewhere (not Linux) arrivals are read off the clock as a request is parsed
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)


class _StampedReader(io.RawIOBase):
    """A connection's reading side that keeps the kernel's receive time of what it reads last:
    on 127.0.0.1 the moment the client sent it, however late a busy server thread reads it."""

    _SPACE = socket.CMSG_SPACE(16) if _STAMPED else 0

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self.received: float | None = None  # epoch seconds

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n, ancillary, _, _ = self._sock.recvmsg_into([buffer], self._SPACE)
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= 16:
                seconds, nanos = struct.unpack("qq", data[:16])
                self.received = seconds + nanos / 1e9
        return n


class ApiDouble:
    """The server and its data: one table per registered stream, `tables[stream]`, also reachable
    by the endpoint's alias (`double.sms`, `double.cc`, ...).

    `zone`: the platform's zone, for wall times, days and retention ("now" is `clock()`, the real
    clock unless a test replaces it). `rate_limits`: per stream, the seconds between two requests,
    or (requests, seconds), overriding the endpoint's documented rate (0 turns one off). The rate
    clock counts every request that reaches the API, refused ones too (not those an injected
    fault answered instead), each at its arrival (see the module's docstring).
    `on_request(stream, params, n)`, if set, runs before each request is answered (n: that
    stream's requests so far, this one included), e.g. to add rows mid-run.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0,
                 credentials: Credentials | None = None, latency_ms: float = 0.0,
                 cc_bounds: str = "inclusive", clock_skew_ms: int = 0,
                 zone: str | dt.tzinfo = "Asia/Shanghai",
                 rate_limits: dict | None = None) -> None:
        self.credentials = credentials or Credentials()
        self.tables: dict[str, Table] = {e.stream: e.table() for e in ENDPOINTS}
        self.faults = Faults()
        self.latency_ms = latency_ms
        self.cc_bounds = cc_bounds
        self.clock_skew_ms = clock_skew_ms
        self.zone = ZoneInfo(zone) if isinstance(zone, str) else zone
        self.clock = time.time
        self.rate_limits: dict = {**RATES, **(rate_limits or {})}
        self.rate_violations = dict.fromkeys(RATES, 0)
        self._arrivals: dict[str, list[float]] = {s: [] for s in RATES}  # monotonic, in order
        self.on_request = None
        # a server that ignores the page size asked: stream -> the rows it serves a page
        self.serve_page_size: dict[str, int] = {}
        self.log: list[dict] = []
        # requests being answered now, and the most at once, per stream (concurrency tests)
        self.in_flight: collections.Counter = collections.Counter()
        self.max_in_flight: collections.Counter = collections.Counter()
        self.cache: dict = {}  # endpoints' derived data, keyed by their table's version
        self._lock = threading.Lock()
        self._rng = random.Random(self.faults.seed)
        self._met: dict[str, int] = {}  # request -> random faults it met (per_request)
        self._order_cache: dict[tuple, list[int]] = {}
        self.server = _Server((host, port), _Handler)
        stamp_arrivals(self.server.socket)
        self.server.daemon_threads = True
        self.server.double = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    def __getattr__(self, alias: str) -> Table:
        endpoint = BY_ALIAS.get(alias)
        if endpoint is None or "tables" not in self.__dict__:
            raise AttributeError(alias)
        return self.tables[endpoint.stream]

    # --- control -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ApiDouble:
        # a short poll makes stop() quick (shutdown waits for the loop's next poll)
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> ApiDouble:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def set_faults(self, faults: Faults) -> None:
        with self._lock:
            self.faults = faults
            self._rng = random.Random(faults.seed)
            self._met.clear()

    def requests(self, stream: str | None = None) -> list[dict]:
        with self._lock:
            return [e for e in self.log if stream is None or e["stream"] == stream]

    def reset_rate_limits(self) -> None:
        """Forget past arrivals and zero `rate_violations`: the next request starts clean."""
        with self._lock:
            for arrivals in self._arrivals.values():
                arrivals.clear()
            self.rate_violations = dict.fromkeys(RATES, 0)

    def stats(self) -> dict:
        out: dict = {f"{e.alias}_rows": len(self.tables[e.stream]) for e in ENDPOINTS}
        with self._lock:
            counts = collections.Counter(e["stream"] for e in self.log)
            out["requests"] = {s: counts[s] for s in STREAMS}
            faults = collections.Counter(e["stream"] for e in self.log if e.get("fault"))
            out["faults"] = {s: faults[s] for s in STREAMS}
            out["rate_violations"] = dict(self.rate_violations)
            out["max_in_flight"] = {s: self.max_in_flight[s] for s in STREAMS}
        return out

    # --- what endpoints ask ------------------------------------------------------------------
    def today(self) -> dt.date:
        return dt.datetime.fromtimestamp(self.clock(), self.zone).date()

    def instant(self, wall: dt.datetime) -> float:
        """Epoch seconds of a naive wall time in the double's zone."""
        return wall.replace(tzinfo=self.zone).timestamp()

    def too_frequent(self, stream: str, arrived: float | None = None) -> bool:
        """Record an arrival (`arrived`: epoch seconds, default now); True (and one more
        violation) if the stream's limit already holds that many arrivals in the window before
        it. Two requests read in the other order than they arrived are still each judged at
        its own arrival."""
        if stream not in self._arrivals:
            return False
        now = time.monotonic()
        if arrived is not None:  # the same instant on the monotonic clock
            now -= max(0.0, time.time() - arrived)
        with self._lock:
            arrivals = self._arrivals[stream]
            limit = _rate(self.rate_limits.get(stream, 0))
            count, window = limit or (0, 0.0)
            # forget what no request read from now on can be within a window of (one read
            # more than a minute after it arrived is not expected)
            del arrivals[:bisect.bisect_left(arrivals, now - window - 60.0)]
            before = bisect.bisect_right(arrivals, now) - bisect.bisect_right(arrivals,
                                                                               now - window)
            refused = limit is not None and before >= count
            bisect.insort(arrivals, now)
            if refused:
                self.rate_violations[stream] += 1
            return refused

    def _next_fault(self, stream: str, params: dict) -> str | None:
        """The next scripted fault, else the next random draw (see Faults)."""
        with self._lock:
            f = self.faults
            if f.script:
                return f.script.pop(0)
            if not f.rate:
                return None
            request = f"{stream} {json.dumps(params, sort_keys=True, default=str)}"
            if f.per_request is not None and self._met.get(request, 0) >= f.per_request:
                return None  # its faults have cleared: answered, no draw spent
            if self._rng.random() >= f.rate:
                return None
            self._met[request] = self._met.get(request, 0) + 1
            return self._rng.choice(f.kinds)


ROUTES = {(e.method, e.path): e for e in ENDPOINTS}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up (an injected timeout) leaves a broken pipe: expected


class StampedHandler(BaseHTTPRequestHandler):
    """A request handler that knows when the request it handles arrived: `arrived`, epoch
    seconds, the kernel's receive time of its first bytes (see stamp_arrivals; without it, or
    off Linux, the clock's time as the request is parsed)."""

    arrived = 0.0

    def setup(self) -> None:
        super().setup()
        if _STAMPED:
            self._stamps = _StampedReader(self.connection)
            self.rfile.close()  # the buffered file over the socket's recv; the socket stays
            self.rfile = io.BufferedReader(self._stamps)

    def parse_request(self) -> bool:
        # its request line has just been read: the read that brought it was stamped
        stamps = getattr(self, "_stamps", None)
        received = stamps.received if stamps is not None else None
        if stamps is not None:
            stamps.received = None  # a request already buffered (pipelined) reads the clock
        self.arrived = received or time.time()
        return super().parse_request()


class _Handler(StampedHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else keep-alive stalls ~40 ms a request (TOOLCHAIN.md)

    @property
    def double(self) -> ApiDouble:
        return self.server.double  # type: ignore[attr-defined]

    def log_message(self, *args) -> None:  # quiet: the request log is kept in memory
        pass

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path == "/_double/stats":
            return self._send(200, json.dumps(self.double.stats()).encode())
        return self._route("GET", parts, b"")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        parts = urlsplit(self.path)
        if parts.path == "/_double/control":
            return self._control(json.loads(body))
        return self._route("POST", parts, body)

    def _route(self, method: str, parts, body: bytes) -> None:
        endpoint = ROUTES.get((method, parts.path))
        if endpoint is None:
            return self._send(404, b'{"error":"not found"}')
        return self._serve(endpoint, Request(parse_qs(parts.query), self.headers, body,
                                             self.arrived))

    def _control(self, command: dict) -> None:
        d = self.double
        if "faults" in command:
            d.set_faults(Faults(**command["faults"]))
        for name in ("latency_ms", "clock_skew_ms"):
            if name in command:
                setattr(d, name, type(getattr(d, name))(command[name]))
        if "rate_limits" in command:
            d.rate_limits.update(command["rate_limits"])
        for endpoint in ENDPOINTS:
            if f"{endpoint.alias}_rows" in command:
                d.tables[endpoint.stream].add(command[f"{endpoint.alias}_rows"])
        if command.get("clear_log"):
            with d._lock:
                d.log.clear()
                d.max_in_flight.clear()
        if command.get("reset_rate_limits"):
            d.reset_rate_limits()
        self._send(200, b'{"ok":true}')

    def _serve(self, endpoint, req: Request) -> None:
        d, stream = self.double, endpoint.stream
        with d._lock:
            d.in_flight[stream] += 1
            d.max_in_flight[stream] = max(d.max_in_flight[stream], d.in_flight[stream])
        try:
            return self._answer(endpoint, req)
        finally:
            with d._lock:
                d.in_flight[stream] -= 1

    def _answer(self, endpoint, req: Request) -> None:
        d = self.double
        if d.latency_ms:
            time.sleep(d.latency_ms / 1000)
        params = endpoint.params(req)
        fault = d._next_fault(endpoint.stream, params)
        entry = {"stream": endpoint.stream, "params": params, "fault": fault,
                 "at": req.arrived or time.time()}
        with d._lock:
            d.log.append(entry)
        hook = d.on_request
        if hook is not None:
            hook(endpoint.stream, params, len(d.requests(endpoint.stream)))
        if fault and fault.startswith("status:"):
            return self._send(int(fault[7:]), b'{"error":"injected"}')
        if fault in ("429", "500", "502", "503"):
            headers = {"Retry-After": f"{d.faults.retry_after:g}"} if fault == "429" else {}
            return self._send(int(fault), b'{"error":"injected"}', headers)
        if fault == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            self.close_connection = True
            return None
        if fault == "timeout":
            time.sleep(d.faults.timeout_sleep)
        if fault == "html":  # a gateway's error page (a 200 HTML page is a captive portal's)
            return self._send(502, b"<html><body>502 Bad Gateway</body></html>",
                              {"Content-Type": "text/html"})
        reply = endpoint.fault(fault, d, req) if fault else None
        if reply is None:
            reply = endpoint.answer(d, req)
        entry["code"] = reply.code
        body = reply.body
        if fault == "truncated":
            body = body[: max(1, len(body) // 2)]
        if fault == "stall":
            return self._stall(body, d.faults.stall_seconds)
        if fault == "dribble":
            return self._dribble(body, d.faults.dribble_interval)
        return self._send(200, body)

    def _head(self, status: int, length: int, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self._head(status, len(body), headers)
        self.wfile.write(body)

    def _stall(self, body: bytes, seconds: float) -> None:
        self._head(200, len(body))
        time.sleep(seconds)
        self.close_connection = True  # the promised body never comes

    def _dribble(self, body: bytes, interval: float) -> None:
        self._head(200, len(body))
        try:
            for i in range(len(body)):
                time.sleep(interval)
                self.wfile.write(body[i:i + 1])
        except OSError:  # the client gave up
            self.close_connection = True
