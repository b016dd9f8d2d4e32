"""A hostile server for the tests: it stands between the tap and the API double on 127.0.0.1 and
misbehaves on purpose, as a new user's proxy, a gateway or a buggy API release would.

Each request goes to `rule(request)`; a rule may answer by itself (a redirect, a bomb, a lie), or
forward the request to the double untouched (`request.forward()`, so signatures and credentials
are checked for real) and tamper with the double's answer. No rule: a plain forwarding proxy.
The server is not the double and knows nothing of it beyond its URL: what an API answer looks
like comes from the tap's own stream specs (`rows_of`, `total_of`), so every hostile case runs
over every registered stream.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from tap_nxcloud.spec import StreamSpec


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks: Iterable[bytes] | None = None  # sent after `body`, as they come (bombs)

    def json(self):
        return json.loads(self.body)

    def with_json(self, payload) -> Reply:
        body = json.dumps(payload, ensure_ascii=False).encode()
        return Reply(self.status, {**self.headers, "Content-Type": "application/json"}, body)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    upstream: str

    def forward(self) -> Reply:
        """The double's answer to this very request (same method, path, query, headers, body)."""
        parts = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            target = self.path + (f"?{self.raw_query}" if self.raw_query else "")
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("host", "accept-encoding", "connection")}
            conn.request(self.method, target, body=self.body or None, headers=headers)
            response = conn.getresponse()
            return Reply(response.status, {"Content-Type": response.getheader(
                "Content-Type", "application/json")}, response.read())
        finally:
            conn.close()

    raw_query: str = ""


class Hostile:
    """The server. `rule`: request -> Reply, or None to forward untouched. `seen`: every request
    that reached it. `tls`: a trustme.CA's server context, to serve https."""

    def __init__(self, upstream: str, rule: Callable[[Request], Reply | None] | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.upstream = upstream
        self.rule = rule
        self.seen: list[Request] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.hostile = self  # type: ignore[attr-defined]
        self.scheme = "http"
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> Hostile:
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def requests(self, path: str | None = None) -> list[Request]:
        with self.lock:
            return [r for r in self.seen if path is None or r.path == path]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def _serve(self) -> None:
        hostile: Hostile = self.server.hostile  # type: ignore[attr-defined]
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(self.command, parts.path, parse_qs(parts.query),
                          dict(self.headers.items()), self.rfile.read(length) if length else b"",
                          hostile.upstream, parts.query)
        with hostile.lock:
            hostile.seen.append(request)
        reply = (hostile.rule(request) if hostile.rule else None) or request.forward()
        try:
            self.send_response(reply.status)
            headers = {"Content-Type": "application/json", **reply.headers}
            if reply.chunks is None:
                headers["Content-Length"] = str(len(reply.body))
            elif "Content-Length" not in headers:
                headers["Transfer-Encoding"] = "chunked"
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(reply.body)
            if reply.chunks is not None:
                chunked = headers.get("Transfer-Encoding") == "chunked"
                for chunk in reply.chunks:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the tap hung up (it cut the answer off): expected
            self.close_connection = True


class Catcher:
    """A TCP listener that records every connection and every byte sent to it: a redirect's
    target, which no byte of a request may reach. Leaving it takes in what is still queued (a
    connection the kernel accepted but the thread had not yet), so its counts are whole then
    without a sleep that hopes the thread kept up."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.1)
        self.connections = 0
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def __enter__(self) -> Catcher:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(60)  # a guard: it polls every 0.1 s, reads a connection for 0.5 s
        assert not self._thread.is_alive()
        self.sock.setblocking(False)
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # BlockingIOError: none left
                break
            self._take(conn, 5)  # its sender is done: the bytes are there, then the end
        self.sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self._take(conn, 0.5)

    def _take(self, conn: socket.socket, timeout: float) -> None:
        self.connections += 1
        conn.settimeout(timeout)
        try:
            while data := conn.recv(65536):
                self.received += data
        except OSError:
            pass
        conn.close()


# --- what an answer of a stream looks like, from the tap's own spec --------------------------
def wire_path(spec: StreamSpec) -> str:
    """The path the tap requests with default settings (a spec's path may name an option)."""
    return spec.path.format(**{o.setting: o.default for o in spec.options})


def _base(spec: StreamSpec, payload: dict) -> dict:
    """Where the rows hang: the top level, or the wrapper object when the rows sit in it."""
    env = spec.envelope
    wrapped = payload.get(env.wrapper) if env.wrapper else None
    if isinstance(wrapped, dict) and env.rows and env.rows[0] not in payload:
        return wrapped
    return payload


def _holder(payload: dict, path: tuple[str, ...]) -> dict:
    for part in path[:-1]:
        payload = payload[part]
    return payload


def rows_of(spec: StreamSpec, payload: dict) -> list[dict]:
    """The rows of an answer; a snapshot's answer is its one row."""
    if not spec.envelope.rows:
        if not isinstance(payload, dict) or "code" not in payload:
            raise KeyError("code")
        return [payload]
    rows = spec.envelope.rows
    return _holder(_base(spec, payload), rows)[rows[-1]]


def set_rows(spec: StreamSpec, payload: dict, rows) -> dict:
    if not spec.envelope.rows:  # a snapshot: the one row is the answer
        return {"code": payload["code"], **rows[0]} if rows else payload
    path = spec.envelope.rows
    _holder(_base(spec, payload), path)[path[-1]] = rows
    return payload


def set_total(spec: StreamSpec, payload: dict, total) -> dict:
    if spec.envelope.total:
        _holder(_base(spec, payload), spec.envelope.total)[spec.envelope.total[-1]] = total
    return payload


def is_data(spec: StreamSpec, reply: Reply) -> bool:
    """A success answer with rows (not a refusal, not an injected fault)."""
    try:
        payload = reply.json()
        rows_of(spec, payload)
    except (ValueError, KeyError, TypeError):
        return False
    codes = {str(c) for c in spec.envelope.codes}
    return reply.status == 200 and str(payload.get("code")) in codes


# --- spellings JSON allows, for echoed secrets -----------------------------------------------
def spell(text: str, how: str) -> str:
    """`text` as the inside of a JSON string, spelled as `how` says; every spelling decodes to
    `text`. "gson": = & < > ' as \\u00XX (Gson's default); "upper"/"lower": every character as
    \\uXXXX in that hex case (astral ones as surrogate pairs); "mixed": one in two characters so,
    alternating the case; "slash": / as \\/ and the rest as json.dumps writes it."""
    if how == "gson":
        body = json.dumps(text, ensure_ascii=False)[1:-1]
        return "".join(f"\\u{ord(c):04x}" if c in "=&<>'" else c for c in body)
    if how == "slash":
        return json.dumps(text)[1:-1].replace("/", "\\/")
    units = text.encode("utf-16-be")
    codes = [int.from_bytes(units[i:i + 2], "big") for i in range(0, len(units), 2)]
    out = []
    for i, code in enumerate(codes):
        if how == "mixed" and i % 2:
            out.append(json.dumps(chr(code))[1:-1] if code < 0xD800 or code > 0xDFFF
                       else f"\\u{code:04x}")
        else:
            out.append(f"\\u{code:04X}" if how == "upper" or (how == "mixed" and i % 4)
                       else f"\\u{code:04x}")
    return "".join(out)


def raw_json(payload, spelled: dict[str, str]) -> bytes:
    """The payload as JSON, each placeholder (a plain ASCII text inside a string or key)
    replaced by its spelling: a body no JSON library would write, which every one reads."""
    body = json.dumps(payload, ensure_ascii=False)
    for placeholder, text in spelled.items():
        body = body.replace(placeholder, text)
    return body.encode()
