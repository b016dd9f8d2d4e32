"""The real world: every stream against a hostile server (tests/hostile.py) between the tap and
the API double. Redirects, endless or lying pages, huge answers, an API that drifts from its
pages, the vendor's own variants, malformed everything, hosts that cannot heal, echoed secrets.

Every case runs through the real CLI and checks the same things: the exit code, the number of
ERROR lines (one for a failure, none for a success), no traceback, no line longer than a few
hundred characters, no secret anywhere, and the rows: none lost, none twice.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import time
import zlib
from urllib.parse import quote, quote_plus, urlencode

import pytest
import trustme

from nxcloud_double import Credentials
from tap_nxcloud.responses import MAX_TOTAL
from tap_nxcloud.spec import RATE_WINDOW
from tap_nxcloud.streams import BY_NAME

from .conftest import (
    AT_ONCE,
    PACED,
    SLOW_BACKOFF,
    STREAM_NAMES,
    WALL_STREAMS,
    ZONE,
    assert_rows_exact,
    interrupt,
    key_of,
    load_stream,
    recent_range,
    run_tap,
    stream_config,
    want_records,
)
from .hostile import Catcher, Hostile, Reply, is_data, rows_of, set_rows, set_total, wire_path

# Secrets with characters that URL- and JSON-encode differently: every form must stay out.
SECRETS = Credentials(**{spec.secret_setting: f"s3cr+t/{spec.product}=é&x"
                         for spec in BY_NAME.values()})
WITH_TOTALS = tuple(s for s in STREAM_NAMES if BY_NAME[s].envelope.total)
WITH_ROWS = tuple(s for s in STREAM_NAMES if BY_NAME[s].envelope.rows)  # not a snapshot
# rows whose replication key the API sends (not the request's stamp, as a daily statement's)
TIMED = tuple(s for s in STREAM_NAMES if BY_NAME[s].windowed and not BY_NAME[s].stamp)
LONGEST_LINE = 1000


@pytest.fixture
def double():
    from nxcloud_double import ApiDouble
    with ApiDouble(credentials=SECRETS) as d:
        yield d


def check(run, *, code: int, needles: tuple[str, ...] = (), errors: int | None = None) -> str:
    """The common promises; returns the ERROR line (or "")."""
    assert run.returncode == code, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    lines = run.stderr.splitlines()
    assert max(map(len, lines), default=0) <= LONGEST_LINE, max(lines, key=len)[:300]
    found = [line for line in lines if "| ERROR" in line]
    assert len(found) == (errors if errors is not None else (1 if code else 0)), found
    for secret in (SECRETS.values[s.secret_setting] for s in BY_NAME.values()):
        for form in {secret, quote(secret, safe=""), quote_plus(secret), quote(secret),
                     json.dumps(secret)[1:-1]}:
            assert form not in run.stdout and form not in run.stderr, form
    final = found[-1] if found else ""
    for needle in needles:
        assert needle in final, (needle, final or run.stderr[-2000:])
    _report(run, lines, found)
    return final


def _report(run, lines: list[str], errors: list[str]) -> None:
    """With HOSTILE_REPORT=<file>, one JSON line per case: the closing note's figures."""
    target = os.environ.get("HOSTILE_REPORT")
    if not target:
        return
    records = [m for m in run.messages if m["type"] == "RECORD" and m["stream"] != "sync_audit"]
    keys = [(m["stream"], json.dumps(m["record"], sort_keys=True)) for m in records]
    case = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
    with open(target, "a", encoding="utf-8") as out:
        out.write(json.dumps({"case": case, "exit": run.returncode, "seconds": round(
            run.seconds, 2), "rss_mb": round(run.rss_mb, 1), "stderr_lines": len(lines),
            "errors": len(errors), "records": len(records),
            "twice": len(keys) - len(set(keys))}) + "\n")


def scope(stream: str) -> str:
    """How an error line names the part of a read that failed."""
    return "window" if BY_NAME[stream].windowed else "the whole table"


def no_row_twice(run, stream: str) -> None:
    keys = [key_of(stream, r) for r in run.records(stream)]
    assert len(keys) == len(set(keys)), f"{stream}: a row emitted twice"


def data_rule(stream: str, tamper, times: int | None = None):
    """A rule that forwards and tampers with the double's data answers (all, or the first
    `times`), leaving refusals and other paths alone."""
    spec = BY_NAME[stream]
    done = [0]

    def rule(req):
        if req.path != wire_path(spec):
            return None
        reply = req.forward()
        if not is_data(spec, reply) or (times is not None and done[0] >= times):
            return reply
        done[0] += 1
        return tamper(req, reply)
    return rule


# --- redirects -------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_redirects_are_never_followed(double, tmp_path, stream, status):
    load_stream(double, stream, 30, seed=1)
    with Catcher() as catcher:
        port = catcher.port
        path = wire_path(BY_NAME[stream])  # a child's parent is read first, untouched
        target = f"http://127.0.0.1:{port}/steal{path}"
        with Hostile(double.url, lambda req: Reply(status, {"Location": target})
                     if req.path == path else None) as hostile:
            run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
    check(run, code=1, needles=(stream, f"HTTP {status} redirect to 127.0.0.1:{port}",
                                "api_url"))
    assert catcher.connections == 0 and catcher.received == b""
    assert run.records(stream) == []


# --- bounded answers -------------------------------------------------------------------------
@functools.cache
def _bomb_member() -> bytes:
    """64 MB of zeros as one gzip member of about 64 kB, made without holding the 64 MB."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = b"\0" * (1 << 20)
    return b"".join([*(packer.compress(zeros) for _ in range(64)), packer.flush()])


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_a_compressed_bomb_is_cut_off_and_memory_stays_flat(double, tmp_path, stream):
    load_stream(double, stream, 30, seed=2)
    normal = run_tap(stream_config(double.url, double, stream), tmp_path)
    check(normal, code=0)
    member = _bomb_member()  # 64 members: 4 GiB once decompressed

    def bomb(req, reply):
        return Reply(200, {"Content-Encoding": "gzip"}, chunks=(member for _ in range(64)))
    with Hostile(double.url, data_rule(stream, bomb)) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
    check(run, code=1, needles=(stream, "max_response_mb (16 MB"))
    print(f"\n{stream}: peak RSS {run.rss_mb:.0f} MB against {normal.rss_mb:.0f} MB for the "
          f"normal run; {run.seconds:.1f} s to exit")
    assert run.rss_mb < normal.rss_mb + 16 + 10  # the bodies read at once: max_response_mb
    assert run.records(stream) == []


def test_a_body_longer_than_allowed_is_refused_before_or_while_reading(double, tmp_path):
    stream = "cc_cdrs"
    load_stream(double, stream, 30, seed=3)

    def declared(req, reply):  # says 100 MB up front
        return Reply(200, {"Content-Length": str(100 << 20)}, chunks=iter([b"[" * 1000]))

    def endless(req, reply):  # plain, chunked, never ends
        return Reply(200, {}, chunks=(b" " * 65536 for _ in range(10_000)))
    for tamper in (declared, endless):
        with Hostile(double.url, data_rule(stream, tamper)) as hostile:
            run = run_tap(stream_config(hostile.url, double, stream, max_response_mb=2),
                          tmp_path)
        check(run, code=1, needles=(stream, "max_response_mb (2 MB"))


# --- paging proves progress ------------------------------------------------------------------
def test_flash_calls_from_a_server_that_ignores_start_stop_with_one_line(double, tmp_path):
    stream = "flash_call_cdrs"
    load_stream(double, stream, 900, seed=4)  # ~300 rows an hour: several calls a window
    start = recent_range()[0].strftime("%Y-%m-%d %H:%M:%S")

    def ignore_start(req):
        if req.path == wire_path(BY_NAME[stream]):
            query = {k: v[0] for k, v in req.query.items()}
            req.raw_query = urlencode({**query, "start": start})
    with Hostile(double.url, ignore_start) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
        sent = len(hostile.requests())
    check(run, code=1, needles=(stream, "window", "ignores the start"))
    no_row_twice(run, stream)
    assert sent <= 8  # no loop: the second call of a window that pages notices


@pytest.mark.parametrize("stream", WITH_TOTALS)
def test_a_total_that_is_not_a_count_stops_with_one_line(double, tmp_path, stream):
    load_stream(double, stream, 30, seed=5)
    for total in ("9" * 400, "²", -3, 1.5, None, "12 rows", [3]):
        def lie(req, reply, total=total):
            payload = reply.json()
            if total == "9" * 400:  # a number no JSON library reads into a float
                set_total(BY_NAME[stream], payload, "__total__")
                return Reply(200, {}, json.dumps(payload).replace(
                    '"__total__"', total, 1).encode())
            return reply.with_json(set_total(BY_NAME[stream], payload, total))
        with Hostile(double.url, data_rule(stream, lie)) as hostile:
            run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
        check(run, code=1, needles=(stream, scope(stream), "not a count of rows"))
        no_row_twice(run, stream)


@pytest.mark.parametrize("stream", WITH_TOTALS)
def test_the_same_rows_on_every_page_end_in_a_warning_not_a_loop(double, tmp_path, stream):
    """A huge total with the same two rows on every page: each read ends where the rows repeat,
    three reads in all, one WARNING naming both counts, the two rows once."""
    load_stream(double, stream, 30, seed=6)
    spec = BY_NAME[stream]

    def same_two(req, reply):
        payload = reply.json()
        set_rows(spec, payload, rows_of(spec, payload)[:2])
        return reply.with_json(set_total(spec, payload, MAX_TOTAL - 1))
    with Hostile(double.url, data_rule(stream, same_two)) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
        sent = len(hostile.requests(wire_path(spec)))
    check(run, code=0)
    warnings = [line for line in run.stderr.splitlines()
                if "WARNING" in line and f"counts {MAX_TOTAL - 1} rows" in line]
    assert warnings and all(stream in w and scope(stream) in w for w in warnings)
    no_row_twice(run, stream)
    queries = max(1, len(warnings)) * len(spec.queries)
    assert sent <= queries * 3 * 2 + 2  # three reads of two pages each a query, no more


def test_a_server_that_ignores_page_stops_with_one_line(double, tmp_path):
    stream = "cc_cdrs"  # no totals: only the rows tell
    load_stream(double, stream, 900, seed=7)
    spec = BY_NAME[stream]
    pages: dict[str, bytes] = {}

    def replay(req, reply):  # the first page of each window, whatever page was asked for
        window = json.dumps({k: v for k, v in json.loads(req.body).items() if k != "page"})
        pages.setdefault(window, reply.body)
        return Reply(200, {}, pages[window])
    with Hostile(double.url, data_rule(stream, replay)) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
    check(run, code=1, needles=(stream, "window", "ignores the page number"))
    no_row_twice(run, stream)
    assert spec.paging.size == 100


# --- drift is loud ---------------------------------------------------------------------------
DRIFTS = {
    "a text where the rows belong": lambda spec, p: _put_holder(spec, p, "params invalid"),
    "rows not a list": lambda spec, p: set_rows(spec, p, {"rows": "later"}),
    "a row that is not an object": lambda spec, p: set_rows(spec, p, [1, "two"]),
    "rows missing": lambda spec, p: _drop(p, spec.envelope.rows),
}


def _put_holder(spec, payload, value):
    path = spec.envelope.rows
    holder = payload
    for part in path[:-2]:
        holder = holder[part]
    holder[path[-2] if len(path) > 1 else path[-1]] = value
    return payload


def _drop(payload, path):
    holder = payload
    for part in path[:-1]:
        holder = holder[part]
    holder.pop(path[-1], None)
    return payload


@pytest.mark.parametrize("drift", sorted(DRIFTS))
@pytest.mark.parametrize("stream", WITH_ROWS)
def test_a_success_code_with_a_drifted_payload_is_an_error_not_an_empty_page(
        double, tmp_path, stream, drift):
    load_stream(double, stream, 30, seed=8)
    spec = BY_NAME[stream]

    def tamper(req, reply):
        payload = DRIFTS[drift](spec, reply.json())
        if spec.envelope.total and drift == "rows missing":
            set_total(spec, payload, 5)  # the total says there are rows
        return reply.with_json(payload)
    with Hostile(double.url, data_rule(stream, tamper)) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
    line = check(run, code=1, needles=(stream, scope(stream)))
    assert any(t in line for t in ("params invalid", "not a list of rows", "not an object")), line
    assert run.records(stream) == [] and not _bookmarked(run, stream)


def _bookmarked(run, stream: str) -> bool:
    return any(stream in s.get("bookmarks", {}) and s["bookmarks"][stream].get(
        "replication_key_value") for s in run.states)


@pytest.mark.parametrize("stream", WITH_TOTALS)
def test_a_documented_total_missing_is_an_error(double, tmp_path, stream):
    load_stream(double, stream, 30, seed=9)
    spec = BY_NAME[stream]
    with Hostile(double.url, data_rule(stream, lambda req, reply: reply.with_json(
            _drop(reply.json(), spec.envelope.total)))) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
    check(run, code=1, needles=(stream, scope(stream), ".".join(spec.envelope.total), "null"))


@pytest.mark.parametrize("stream", TIMED)
def test_a_row_whose_time_cannot_be_read_is_kept_and_counted(double, tmp_path, stream):
    load_stream(double, stream, 40, seed=10)
    spec = BY_NAME[stream]
    rk = spec.replication_key
    bad = -5 if spec.clock == "epoch" else "2026-13-45 99:99:99"
    broken = {}

    def tamper(req, reply):
        payload = reply.json()
        rows = rows_of(spec, payload)
        if rows:
            rows[0][rk] = bad
            broken[json.dumps(rows[0], sort_keys=True)] = rows[0]
        return reply.with_json(payload)
    with Hostile(double.url, data_rule(stream, tamper)) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
    check(run, code=0)
    odd = [r for r in run.records(stream) if r[rk] is None]
    assert odd and all(r["extra_fields"][rk] == bad for r in odd)
    assert len(odd) == len({key_of(stream, r) for r in odd})  # each once
    warnings = [line for line in run.stderr.splitlines()
                if "WARNING" in line and "cannot be read as a time" in line]
    assert len(warnings) == 1 and f"{len(odd)} row" in warnings[0]
    no_row_twice(run, stream)
    # every other row exact
    want = want_records(double, stream)
    for record in run.records(stream):
        if record[rk] is not None:
            assert record == want[key_of(stream, record)]


# --- the vendor's own variants ---------------------------------------------------------------
@pytest.mark.parametrize("code", ["1", "0"])
@pytest.mark.parametrize("stream", ["voice_cdrs", "sip_cdrs"])
def test_the_sip_familys_rate_limit_text_is_a_rate_refusal_whatever_its_code(
        double, tmp_path, stream, code):
    """The tap retries a refusal in the rate's words, and not before RATE_WINDOW: measured
    from the moment the refusal was answered to the moment the next request reached the
    proxy. A measure that no load can shrink: the tap cannot read the refusal before it is
    sent, nor send before it has waited (both moments on the machine's one monotonic clock).
    Not the double's rate violations: behind a proxy the double sees the proxy's forwarding
    times, which a loaded machine spreads by more than the tap's pacing margin."""
    load_stream(double, stream, 30, seed=11)
    refused: list[float] = []  # when each refusal was answered
    after: list[float] = []  # when the request after each refusal came

    def limit(req):
        if req.path != wire_path(BY_NAME[stream]):
            return None
        now = time.monotonic()
        if len(after) < len(refused):
            after.append(now)
        if len(refused) == 2:
            return None
        refused.append(time.monotonic())  # the proxy writes the refusal after this
        return Reply(200, {}, json.dumps({"code": code,
                                          "info": "appkey access rate limit"}).encode())
    with Hostile(double.url, limit) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
    check(run, code=0)
    assert "appkey access rate limit" in run.stderr and "retry" in run.stderr
    assert_rows_exact(run, double, stream)
    assert len(refused) == len(after) == 2
    assert all(b - a >= RATE_WINDOW for a, b in zip(refused, after, strict=True)), (
        refused, after)


def _java(text: str) -> str:
    """'2026-10-01 08:00:00' (Asia/Shanghai) -> '2026-10-01T00:00:00.000+0000': the flash-call
    sibling endpoint's form (Java's, UTC)."""
    moment = dt.datetime.fromisoformat(text).replace(tzinfo=ZONE)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@pytest.mark.parametrize("form", ["java", "t"])
@pytest.mark.parametrize("stream", WALL_STREAMS)
def test_every_wall_clock_field_takes_the_vendors_iso_forms(double, tmp_path, stream, form):
    """`T`, milliseconds and an explicit offset (honoured over `timezone`): the same instants."""
    load_stream(double, stream, 40, seed=12)
    spec = BY_NAME[stream]
    fields = [n for n, p in _schema(stream).items() if p.get("format") == "date-time"]

    def iso(req, reply):
        payload = reply.json()
        for row in rows_of(spec, payload):
            for name in fields:
                if isinstance(row.get(name), str) and len(row[name]) == 19:
                    row[name] = _java(row[name]) if form == "java" else row[name].replace(
                        " ", "T")
        return reply.with_json(payload)
    with Hostile(double.url, data_rule(stream, iso)) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
    check(run, code=0)
    got = {key_of(stream, r): r for r in run.records(stream)}
    want = want_records(double, stream)
    assert set(got) == set(want)
    for key, record in want.items():
        for name in fields:
            a, b = record.get(name), got[key].get(name)
            assert (a is None and b is None) or (dt.datetime.fromisoformat(a)
                                                 == dt.datetime.fromisoformat(b)), (name, a, b)


def _schema(stream: str) -> dict:
    from tap_nxcloud.schemas import load
    return load(stream)["properties"]


# --- one line, always ------------------------------------------------------------------------
@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_an_unreadable_retry_after_still_retries(double, tmp_path, stream):
    load_stream(double, stream, 30, seed=13)
    sent = [0]

    def soon(req):
        if req.path == wire_path(BY_NAME[stream]) and sent[0] == 0:
            sent[0] += 1
            return Reply(503, {"Retry-After": "soon"}, b"busy")
        return None
    with Hostile(double.url, soon) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
    check(run, code=0)
    assert "HTTP 503; retry 1" in run.stderr
    assert_rows_exact(run, double, stream)


MALFORMED = {
    "JSON nested 100 000 deep": b"[" * 100_000 + b"]" * 100_000,
    "not UTF-8": b'{"code": "\xff\xfe"}',
    "a JSON list": b"[1, 2, 3]",
    "a JSON text": b'"hello"',
    "an empty body": b"",
    "a code that is a list": b'{"code": [0], "info": {"rows": [], "total": 0}}',
    "a number beyond any float": b'{"code": 0, "total": 1e99999}',
    "a 4000-digit number": b'{"code": ' + b"7" * 4000 + b"}",
    "HTML": b"<html><body>502 Bad Gateway</body></html>",
}


@pytest.mark.parametrize("what", sorted(MALFORMED))
@pytest.mark.parametrize("stream", ["cc_cdrs", "sms_cdrs"])
def test_malformed_answers_end_in_one_line(double, tmp_path, stream, what):
    load_stream(double, stream, 10, seed=14)
    with Hostile(double.url, lambda req: Reply(200, {}, MALFORMED[what])) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream, max_retries=1), tmp_path)
    check(run, code=1, needles=(stream,))


@pytest.mark.parametrize("encoding", ["br", "gzip", "compress, gzip"])
def test_a_body_that_does_not_decode_ends_in_one_line(double, tmp_path, encoding):
    stream = "did_cdrs"
    load_stream(double, stream, 10, seed=15)
    with Hostile(double.url, lambda req: Reply(200, {"Content-Encoding": encoding},
                                               b"not compressed at all")) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream, max_retries=1), tmp_path)
    check(run, code=1, needles=(stream,))


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_a_vendor_message_of_megabytes_is_cut_in_the_line(double, tmp_path, stream):
    load_stream(double, stream, 10, seed=16)
    spec = BY_NAME[stream]
    refusal = next(iter(spec.envelope.fatal), None)
    if refusal is None:  # voice, SIP: "0" with a text
        body = {"code": "0", "info": "appkey or secretkey invalid " + "x" * (4 << 20)}
    else:
        body = {"code": refusal, **{k: "refused " + "x" * (4 << 20) for k in ("msg", "info")}}
    path = wire_path(spec)  # a child's parent is read first, untouched
    with Hostile(double.url, lambda req: Reply(200, {}, json.dumps(body).encode())
                 if req.path == path else None) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
    line = check(run, code=1, needles=(stream,))
    assert "characters)" in line and len(line) < 700


@pytest.mark.parametrize("value", [99999999999999999, int("9" * 4000), "9" * 4000, "-1",
                                   "2026-13-45T99:99:99Z", True, [1], {"a": 1}])
def test_a_bookmark_of_any_shape_ends_in_one_line(double, tmp_path, value):
    stream = "cc_cdrs"
    load_stream(double, stream, 10, seed=17)
    state = {"bookmarks": {stream: {"replication_key": "startTime",
                                    "replication_key_value": value}}}
    run = run_tap(stream_config(double.url, double, stream), tmp_path, state=state)
    check(run, code=1, needles=(stream, "bookmark"))
    assert double.requests() == []  # refused before any request


# --- fail fast on what cannot heal -----------------------------------------------------------
def test_an_unknown_host_fails_at_once_naming_it(double, tmp_path):
    stream = "sms_cdrs"
    config = stream_config("http://no-such-host.invalid:8443", double, stream, max_retries=6,
                           **SLOW_BACKOFF)
    run = run_tap(config, tmp_path)
    check(run, code=1, needles=(stream, "no-such-host.invalid:8443", "DNS"))
    assert run.seconds < AT_ONCE  # not retried: one pause would be 60 s


def test_a_refused_tls_certificate_fails_at_once_naming_the_host(double, tmp_path):
    stream = "did_cdrs"
    load_stream(double, stream, 10, seed=18)
    ca = trustme.CA()
    context = __import__("ssl").create_default_context(__import__("ssl").Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with Hostile(double.url, tls=context) as hostile:
        config = stream_config(hostile.url, double, stream, max_retries=6, **SLOW_BACKOFF)
        run = run_tap(config, tmp_path)
        host = hostile.url.split("//")[1]
        # trusting the CA (as a user would for their proxy) makes the same server work
        with ca.cert_pem.tempfile() as bundle:
            trusted = run_tap(config, tmp_path, env={"REQUESTS_CA_BUNDLE": bundle})
    check(run, code=1, needles=(stream, f"TLS certificate of {host} was refused"))
    assert run.seconds < AT_ONCE  # not retried: one pause would be 60 s
    check(trusted, code=0)
    assert_rows_exact(trusted, double, stream)


def test_refused_connections_from_the_start_name_the_host(double, tmp_path):
    """A host that never answered in the run is named after two quick tries (a host that
    answered before is retried: tests/test_unreachable_host.py)."""
    stream = "flash_call_cdrs"
    config = stream_config("http://127.0.0.1:9", double, stream, max_retries=2, **SLOW_BACKOFF)
    run = run_tap(config, tmp_path)
    check(run, code=1, needles=("cannot connect to 127.0.0.1:9: the connection was refused",
                                "check api_url"))
    assert run.seconds < AT_ONCE  # two tries 1 s apart, not a backoff pause of 60 s


# --- secrets never reach the output ----------------------------------------------------------
@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_a_secret_echoed_in_an_answer_is_masked_everywhere(double, tmp_path, stream):
    load_stream(double, stream, 30, seed=19)
    spec = BY_NAME[stream]
    secret = SECRETS.values[spec.secret_setting]

    def echo(req, reply):
        payload = reply.json()
        payload["secretKey"] = secret  # as the email API does
        rows = rows_of(spec, payload)
        if rows:
            rows[0]["echo"] = {"secretkey": secret, "url": "x?secretkey=" + quote(secret)}
            rows[-1]["note"] = f"key was {secret}!"
        return reply.with_json(payload)
    with Hostile(double.url, data_rule(stream, echo)) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path,
                      env={"TAP_NXCLOUD_LOGLEVEL": "DEBUG"})
    check(run, code=0)  # also: no form of any secret in stdout or stderr
    echoed = [r for r in run.records(stream) if "echo" in (r.get("extra_fields") or {})]
    assert echoed and all(r["extra_fields"]["echo"]["secretkey"] == "***" for r in echoed)
    assert all("***" in r["extra_fields"]["note"] for r in run.records(stream)
               if "note" in (r.get("extra_fields") or {}))


# --- re-read at most one window --------------------------------------------------------------
@pytest.mark.parametrize("stream", PACED)
def test_a_kill_re_reads_at_most_the_window_in_progress(double, tmp_path, stream):
    """Paced streams read their windows in order: killed after its first window's STATE, a
    run re-reads at most the window it was in."""
    span = (recent_range()[1] - dt.timedelta(days=2, hours=12), recent_range()[1])
    load_stream(double, stream, 600, seed=20, span=span)
    config = stream_config(double.url, double, stream, span=span,
                           **{BY_NAME[stream].lookback_setting: 0})
    # the first bookmark, and 1.5 s on: the next window is being read
    _, messages, _ = interrupt(
        config, tmp_path, lambda line: b'"type":"STATE"' in line
        and b"replication_key_value" in line, pause=1.5)
    last = max(i for i, m in enumerate(messages) if m["type"] == "STATE")
    double.reset_rate_limits()
    second = run_tap(config, tmp_path, state=messages[last]["value"], timeout=180)
    check(second, code=0)
    first = [m["record"] for m in messages if m["type"] == "RECORD"]
    union = {key_of(stream, r): r for r in first} | {key_of(stream, r): r
                                                     for r in second.records(stream)}
    assert union == want_records(double, stream, span)
    twice = {key_of(stream, r) for r in first} & {key_of(stream, r)
                                                  for r in second.records(stream)}
    after = {key_of(stream, m["record"]) for m in messages[last:] if m["type"] == "RECORD"}
    assert twice <= after  # only rows of the window the killed run was in
