"""Log lines cannot be forged (issue 25, the second hostile round): a vendor's message or field
name holding ESC, NUL, a bell, a carriage return, a newline followed by a whole fake
`| ERROR |` line, a Unicode line separator or a bidi override, or a name of a megabyte, reaches
every WARNING and ERROR line escaped (`\\x1b`, `\\n`) and cut, never raw. The real CLI against
the hostile server, over every stream each case applies to.
"""

from __future__ import annotations

import json
import re

import pytest

from nxcloud_double import ApiDouble
from tap_nxcloud.streams import BY_NAME

from .conftest import STREAM_NAMES, assert_rows_exact, load_stream, run_tap, stream_config
from .hostile import Hostile, Reply, rows_of, wire_path
from .test_hostile import SECRETS, check, data_rule

FAKE = "2026-01-01 00:00:00,000 | ERROR    | tap-nxcloud                    | forged"
FORGED = f"refused \x1b[2J\x1b[31m\x00\x07\x08\r\n{FAKE}\u2028\u202etxt.exe\x85"
# what a line may hold: no control character but the tab (\n only ends lines)
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
LONG_NAME = "n" * (1 << 20)


@pytest.fixture
def double():
    with ApiDouble(credentials=SECRETS) as d:
        yield d


ERROR_LINE = re.compile(r"^\S+ \S+ \| ERROR ")  # a line the logger wrote at ERROR


def clean(run, *, code: int) -> list[str]:
    """test_hostile.check's promises, a line of any level quoting the fake `| ERROR |`; and
    the stderr lines: none raw with a control character, none a forged line, one ERROR line
    for a failure and none for a success."""
    quoting = sum("| ERROR" in line for line in run.stderr.splitlines())
    check(run, code=code, errors=quoting)
    assert not RAW_CONTROL.search(run.stderr), repr(RAW_CONTROL.search(run.stderr).group())
    lines = run.stderr.split("\n")
    assert not any(line.startswith(FAKE[:23]) for line in lines)
    assert len([line for line in lines if ERROR_LINE.match(line)]) == (1 if code else 0)
    return lines


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_a_vendors_message_cannot_forge_a_log_line(double, tmp_path, stream):
    load_stream(double, stream, 10, seed=41)
    spec = BY_NAME[stream]
    refusal = next(iter(spec.envelope.fatal), None)
    if refusal is None:  # voice, SIP: "0" with a text
        body = {"code": "0", "info": "appkey or secretkey invalid " + FORGED}
    else:
        body = {"code": refusal, "msg": FORGED, "message": FORGED, "info": FORGED}
    path = wire_path(spec)  # a child's parent is read first, untouched
    with Hostile(double.url, lambda req: Reply(200, {}, json.dumps(body).encode())
                 if req.path == path else None) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
    line = clean(run, code=1)[-2]  # the last line (stderr ends with a newline)
    assert ERROR_LINE.match(line) and stream in line
    assert "\\x1b[2J\\x1b[31m\\x00\\x07\\x08" in line  # shown, escaped: readable
    assert "\\u202etxt.exe" in line  # a bidi override escaped (\u2028, \x85: white space)
    assert "forged" in line  # the fake line is part of the one real line


def _retry_answer(stream: str) -> dict | None:
    """An answer the stream retries, with the vendor's text: a rate refusal or a transient
    code (None: the stream's API has neither)."""
    env = BY_NAME[stream].envelope
    if env.transient:
        return {"code": next(iter(env.transient)), "msg": FORGED, "message": FORGED}
    if env.too_frequent:
        return {"code": next(iter(env.too_frequent)), "msg": FORGED, "info": FORGED}
    if env.too_frequent_texts:
        return {"code": "1", "info": f"appkey access rate limit {FORGED}"}
    return None


RETRIED = tuple(s for s in STREAM_NAMES if _retry_answer(s) is not None)


@pytest.mark.parametrize("stream", RETRIED)
def test_a_retried_answers_text_cannot_forge_the_retry_warning(double, tmp_path, stream):
    load_stream(double, stream, 20, seed=42)
    path = wire_path(BY_NAME[stream])
    answer = json.dumps(_retry_answer(stream)).encode()
    sent = [0]

    def once(req):
        if req.path == path and sent[0] == 0:
            sent[0] += 1
            return Reply(200, {}, answer)
        return None
    with Hostile(double.url, once) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path)
    lines = clean(run, code=0)
    retries = [ln for ln in lines if "| WARNING" in ln and "retry 1" in ln]
    assert len(retries) == 1 and "\\x1b[2J" in retries[0] and "forged" in retries[0]
    assert_rows_exact(run, double, stream)


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_vendor_field_names_cannot_forge_a_log_line(double, tmp_path, stream):
    """A field named with a newline and a fake ERROR line, one of ESC and NUL, one of a
    megabyte: the WARNING naming undeclared fields shows each escaped and cut to 80
    characters; the records keep them exactly, in extra_fields."""
    load_stream(double, stream, 20, seed=43)
    spec = BY_NAME[stream]
    forged_name = f"x\n{FAKE}"
    control_name = "\x1b[31mred\x00"

    def rename(req, reply):
        payload = reply.json()
        rows = rows_of(spec, payload)
        if rows:
            rows[0].update({forged_name: 1, control_name: 2, LONG_NAME: 3})
        return reply.with_json(payload)
    with Hostile(double.url, data_rule(stream, rename)) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream, max_response_mb=64),
                      tmp_path)
    lines = clean(run, code=0)
    warned = [ln for ln in lines if "| WARNING" in ln and "does not declare" in ln
              and "x\\n2026" in ln]
    assert warned, run.stderr[-2000:]
    for line in warned:
        assert "\\x1b[31mred\\x00" in line
        assert "n" * 79 + "…" in line and "n" * 81 not in line  # cut, with an ellipsis
        assert len(line) < 1000
    extras = [r["extra_fields"] for r in run.records(stream)
              if forged_name in (r.get("extra_fields") or {})]
    assert extras and all(e[forged_name] == 1 and e[control_name] == 2 and e[LONG_NAME] == 3
                          for e in extras)
