"""The double's HTTP server: both endpoints as documented, plus fault and latency injection.

What it checks, as the real API does (see shared NOTES.md): flash-call credentials in the query,
the `yyyy-MM-dd HH:mm:ss` format, at most 100 rows a call by `gmtCreate` with inclusive bounds;
contact-center headers, `bizType` 8 / `action` cc, the `ts` skew (60 s), the MD5 signature over the
exact body bytes, body parameters; answers in the documented envelopes (HTTP 200, non-zero `code`).
Rows of a cc query come in an order that is not time order, as nothing documents one.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from ..auth import CC_ACTION, CC_BIZ_TYPE, cc_signature
from .data import Table

FLASH_PATH = "/otp/call/list"
CC_PATH = "/saas/cc/openapi/cdr/page"
WALL_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
FAULT_KINDS = ("429", "500", "502", "503", "reset", "timeout", "truncated", "html", "busy", "skew")
# Scripted only: "code:N" answers with API code N (vendor envelope), "status:N" with HTTP status N,
# "badrow" with success and a row that lacks its keys.
# How the cc server may read its second bounds against millisecond rows (undocumented upstream).
BOUNDS = ("inclusive", "exclusive-end", "exclusive", "seconds")


@dataclass
class Credentials:
    flash_app_key: str = "demo-flash-key"
    flash_app_secret: str = "demo-flash-secret"
    cc_access_key: str = "demo-cc-key"
    cc_access_secret: str = "demo-cc-secret"


@dataclass
class Faults:
    """rate: share of requests that fail, drawn from `kinds` by a seeded generator; `script`: the
    faults of the next requests, in order, before any random ones."""

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 7
    script: list[str] = field(default_factory=list)
    retry_after: float = 1.0
    timeout_sleep: float = 3.0


class ApiDouble:
    def __init__(self, *, host: str = "127.0.0.1", port: int = 0,
                 credentials: Credentials | None = None, latency_ms: float = 0.0,
                 cc_bounds: str = "inclusive", clock_skew_ms: int = 0) -> None:
        self.credentials = credentials or Credentials()
        self.flash = Table("gmtCreate", "id")
        self.cc = Table("startTime", "callId")
        self.faults = Faults()
        self.latency_ms = latency_ms
        self.cc_bounds = cc_bounds
        self.clock_skew_ms = clock_skew_ms
        self.log: list[dict] = []
        self._lock = threading.Lock()
        self._rng = random.Random(self.faults.seed)
        self._order_cache: dict[tuple, list[int]] = {}
        self.server = _Server((host, port), _Handler)
        self.server.daemon_threads = True
        self.server.double = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    # --- control -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> ApiDouble:
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
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

    def requests(self, stream: str | None = None) -> list[dict]:
        with self._lock:
            return [e for e in self.log if stream is None or e["stream"] == stream]

    def _next_fault(self) -> str | None:
        with self._lock:
            f = self.faults
            if f.script:
                return f.script.pop(0)
            if f.rate and self._rng.random() < f.rate:
                return self._rng.choice(f.kinds)
            return None

    # --- endpoints -----------------------------------------------------------------------
    def flash_call_list(self, query: dict[str, list[str]]) -> dict:
        one = {k: v[0] for k, v in query.items()}
        c = self.credentials
        secrets = [one[k] for k in ("appsecret", "secretkey") if k in one]
        if one.get("appkey") != c.flash_app_key or not secrets or any(
                s != c.flash_app_secret for s in secrets):
            return {"code": "1", "msg": "appkey or appsecret error"}
        start, end = one.get("start", ""), one.get("end", "")
        if not WALL_RE.match(start) or not WALL_RE.match(end):
            return {"code": "2", "msg": "start and end must be yyyy-MM-dd HH:mm:ss"}
        with self.flash.lock:
            lo, hi = self.flash.span(start, end)
            blobs = self.flash.blobs[lo:min(hi, lo + 100)]
        return {"code": "0", "__cdrs": blobs}

    def cc_page(self, headers, body: bytes) -> dict:
        c = self.credentials
        names = ("accessKey", "ts", "bizType", "action", "sign")
        missing = [n for n in names if not headers.get(n)]
        if missing:
            return {"code": 1001, "msg": f"Missing header: {missing[0]}"}
        if headers["bizType"] != CC_BIZ_TYPE or headers["action"] != CC_ACTION:
            return {"code": 1002, "msg": "Invalid bizType or action"}
        ts = headers["ts"]
        now = time.time() * 1000 + self.clock_skew_ms
        if not ts.isdigit() or abs(now - int(ts)) > 60_000:
            return {"code": 1004, "msg": "Timestamp expired"}
        if headers["accessKey"] != c.cc_access_key:
            return {"code": 1005, "msg": "Invalid accessKey or no permission"}
        expected = cc_signature(headers["accessKey"], c.cc_access_secret, ts, body,
                                headers["bizType"], headers["action"])
        if headers["sign"] != expected:
            return {"code": 1003, "msg": "Invalid signature"}
        try:
            params = json.loads(body)
        except ValueError:
            return {"code": 1002, "msg": "Invalid body"}
        if not isinstance(params, dict):
            return {"code": 1002, "msg": "Invalid body"}
        for name, label in (("startTime", "Start"), ("endTime", "End")):
            if params.get(name) is None:
                return {"code": 41000, "msg": f"{label} date cannot be empty"}
        ints = {"startTime": (0, None), "endTime": (0, None), "size": (1, 100),
                "page": (1, None), "answered": (0, 2), "direction": (0, 3)}
        for name, (low, high) in ints.items():
            v = params.get(name)
            if name in ("size", "page") and v is None:
                return {"code": 1002, "msg": f"{name} is required"}
            if v is not None and (type(v) is not int or v < low or (high and v > high)):
                return {"code": 1002, "msg": f"Invalid parameter: {name}"}
        return {"code": 0, "__data": self._cc_query(params)}

    def _cc_query(self, p: dict) -> list[bytes]:
        s, e = p["startTime"] * 1000, p["endTime"] * 1000
        lo, hi, inclusive = {"inclusive": (s, e, True), "exclusive-end": (s, e, False),
                             "exclusive": (s + 1, e, False),
                             "seconds": (s, e + 999, True)}[self.cc_bounds]
        with self.cc.lock:
            left, right = self.cc.span(lo, hi, include_hi=inclusive)
            filters = {k: p[k] for k in ("direction", "answered") if p.get(k)}
            key = (left, right, len(self.cc), tuple(filters.items()))
            order = self._order_cache.get(key)
            if order is None:
                # a stable order that is not time order: by callId
                order = sorted(range(left, right), key=lambda i: self.cc.keys[i][1])
                if filters:
                    order = [i for i in order if self._cc_match(self.cc.blobs[i], filters)]
                if len(self._order_cache) > 64:
                    self._order_cache.clear()
                self._order_cache[key] = order
            size, page = p["size"], p["page"]
            return [self.cc.blobs[i] for i in order[(page - 1) * size: page * size]]

    @staticmethod
    def _cc_match(blob: bytes, filters: dict) -> bool:
        row = json.loads(blob)
        # request direction 1/2/3 = response 0/1/2; answered 1 unanswered, 2 answered
        if "direction" in filters and row["direction"] != filters["direction"] - 1:
            return False
        return not ("answered" in filters and row["answered"] != (filters["answered"] == 2))


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up (an injected timeout) leaves a broken pipe: expected


class _Handler(BaseHTTPRequestHandler):
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
            d = self.double
            stats = {"flash_rows": len(d.flash), "cc_rows": len(d.cc),
                     "requests": {s: len(d.requests(s)) for s in ("flash_call_cdrs", "cc_cdrs")}}
            return self._send(200, json.dumps(stats).encode())
        if parts.path != FLASH_PATH:
            return self._send(404, b'{"error":"not found"}')
        query = parse_qs(parts.query)
        self._serve("flash_call_cdrs", lambda: self.double.flash_call_list(query),
                    {k: v[0] for k, v in query.items() if k in ("start", "end")})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        path = urlsplit(self.path).path
        if path == "/_double/control":
            return self._control(json.loads(body))
        if path != CC_PATH:
            return self._send(404, b'{"error":"not found"}')
        logged = {}
        with contextlib.suppress(ValueError, AttributeError):
            logged = {k: v for k, v in json.loads(body).items() if k != "name"}
        self._serve("cc_cdrs", lambda: self.double.cc_page(self.headers, body), logged)

    def _control(self, command: dict) -> None:
        d = self.double
        if "faults" in command:
            d.set_faults(Faults(**command["faults"]))
        if "latency_ms" in command:
            d.latency_ms = float(command["latency_ms"])
        if "flash_rows" in command:
            d.flash.add(command["flash_rows"])
        if "cc_rows" in command:
            d.cc.add(command["cc_rows"])
        if command.get("clear_log"):
            with d._lock:
                d.log.clear()
        self._send(200, b'{"ok":true}')

    def _serve(self, stream: str, answer, params: dict) -> None:
        d = self.double
        if d.latency_ms:
            time.sleep(d.latency_ms / 1000)
        fault = d._next_fault()
        entry = {"stream": stream, "params": params, "fault": fault, "at": time.time()}
        with d._lock:
            d.log.append(entry)
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
        if fault == "html":
            return self._send(200, b"<html><body>502 Bad Gateway</body></html>",
                              {"Content-Type": "text/html"})
        if fault == "busy":
            payload = {"code": "3", "msg": "too many requests"} if stream == "flash_call_cdrs" \
                else {"code": 88 if len(d.log) % 2 else 99, "msg": "System error", "data": {}}
        elif fault == "skew" and stream == "cc_cdrs":
            payload = {"code": 1004, "msg": "Timestamp expired", "data": {}}
        elif fault == "badrow":
            payload = ({"code": "0", "cdrs": [{"id": 1, "gmtCreate": None}]}
                       if stream == "flash_call_cdrs"
                       else {"code": 0, "data": [{"callId": "x", "startTime": "soon"}]})
        elif fault and fault.startswith("code:"):
            code = fault[5:]
            flash = stream == "flash_call_cdrs"
            payload = {"code": code if flash else int(code), "msg": f"injected error {code}"}
        else:
            payload = answer()
        entry["code"] = payload.get("code")
        body = self._encode(payload)
        if fault == "truncated":
            body = body[: max(1, len(body) // 2)]
        return self._send(200, body)

    @staticmethod
    def _encode(payload: dict) -> bytes:
        if "__cdrs" in payload:
            return b'{"cdrs":[' + b",".join(payload["__cdrs"]) + b'],"code":"0"}'
        if "__data" in payload:
            return (b'{"reqId":"double","code":0,"msg":"Request succeeded","data":['
                    + b",".join(payload["__data"]) + b"]}")
        payload.setdefault("reqId", "double")
        if isinstance(payload.get("code"), int):
            payload.setdefault("data", {})
        return json.dumps(payload, ensure_ascii=False).encode()

    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
