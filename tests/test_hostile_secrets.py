"""Secrets masked however a server spells them (issue 25, the second hostile round): every
spelling JSON allows (Gson's `\\u003d` for `=`, `\\uXXXX` of any character in either hex case,
`\\/`), percent-encoding in either case, in texts and in keys, at any depth, and in every place a
value can reach: records (their `extra_fields`), STATE, sync_audit, log lines at DEBUG, and the
read-ahead spool file of the paced streams.

Each case runs through the real CLI against the hostile server over every stream it applies to,
and checks what test_hostile.check does (exit code, one ERROR line or none, no traceback, short
lines) plus no spelling of any secret in stdout, stderr or the spool.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
import time
from urllib.parse import quote, quote_plus

import pytest

from nxcloud_double import ApiDouble
from tap_nxcloud.streams import BY_NAME

from .conftest import (
    PACED,
    STREAM_NAMES,
    _command,
    key_of,
    load_stream,
    parse_messages,
    run_tap,
    stream_config,
    want_records,
)
from .hostile import Hostile, Reply, raw_json, rows_of, spell, wire_path
from .test_hostile import SECRETS, check, data_rule

HOWS = ("gson", "upper", "lower", "mixed", "slash")
DEBUG = {"TAP_NXCLOUD_LOGLEVEL": "DEBUG"}
DEPTH = 880  # Python's recursion limit (1000) less what a walk needs per level failed here


@pytest.fixture
def double():
    with ApiDouble(credentials=SECRETS) as d:
        yield d


def _percent(text: str, upper: bool = False) -> str:
    """Percent-encoded as some servers write it: every byte but letters and digits, either
    case."""
    return "".join(chr(b) if b < 0x80 and chr(b).isalnum()
                   else (f"%{b:02X}" if upper else f"%{b:02x}") for b in text.encode())


def forms(secret: str) -> set[str]:
    """Every spelling of a secret this file makes a server write, and the usual ones."""
    return {secret, quote(secret, safe=""), quote_plus(secret), quote(secret),
            json.dumps(secret)[1:-1], _percent(secret), _percent(secret, upper=True),
            *(spell(secret, how) for how in HOWS)}


def no_secret(*texts: str) -> None:
    for secret in (SECRETS.values[s.secret_setting] for s in BY_NAME.values()):
        for form in forms(secret):
            for text in texts:
                assert form not in text, form


def _echo(stream: str):
    """A rule echoing the stream's secret in every spelling, in texts and in a key."""
    spec = BY_NAME[stream]
    secret = SECRETS.values[spec.secret_setting]
    spelled = {f"@@{how}@@": spell(secret, how) for how in HOWS}
    spelled["@@percent@@"] = spell(_percent(secret), "slash")  # a URL's: also \/ if any

    def echo(req, reply):
        payload = reply.json()
        payload["secretKey"] = "@@gson@@"  # as the email API does, but spelled as Gson does
        rows = rows_of(spec, payload)
        if rows:
            rows[0]["echo"] = {"secretkey": "@@upper@@", "lower": "@@lower@@",
                               "url": "x?secretkey=@@percent@@"}
            rows[0]["@@mixed@@"] = "a key"
            rows[-1]["note"] = "key was @@slash@@!"
        return Reply(200, {}, raw_json(payload, spelled))
    return data_rule(stream, echo)


def _same_rows(run, double, stream: str) -> None:
    """Every row once (what the echo added aside: their extra_fields differ)."""
    keys = [key_of(stream, r) for r in run.records(stream)]
    assert len(keys) == len(set(keys)), f"{stream}: a row emitted twice"
    assert set(keys) == set(want_records(double, stream)), stream


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_a_secret_echoed_in_every_spelling_json_allows_is_masked_everywhere(
        double, tmp_path, stream):
    load_stream(double, stream, 30, seed=31)
    with Hostile(double.url, _echo(stream)) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path, env=DEBUG)
    check(run, code=0)
    no_secret(run.stdout, run.stderr)  # records, STATE, sync_audit, every log line
    extras = [r.get("extra_fields") or {} for r in run.records(stream)]
    echoed = [e for e in extras if "echo" in e]
    assert echoed, f"{stream}: no row carried the echo"
    for extra in echoed:
        assert extra["echo"] == {"secretkey": "***", "lower": "***", "url": "x?secretkey=***"}
        assert extra["***"] == "a key"  # a key holding the secret: masked, its value kept
    notes = [e["note"] for e in extras if "note" in e]
    assert notes and all(n == "key was ***!" for n in notes)
    if not BY_NAME[stream].envelope.rows:  # a snapshot: the answer is its row
        assert all(e.get("secretKey") == "***" for e in echoed)
    _same_rows(run, double, stream)
    assert "***" in run.stderr  # the undeclared-field WARNING names the masked key


@pytest.mark.parametrize("stream", STREAM_NAMES)
def test_a_secret_nested_880_deep_is_masked_without_a_recursion_limit(double, tmp_path,
                                                                        stream):
    load_stream(double, stream, 20, seed=32)
    spec = BY_NAME[stream]
    secret = SECRETS.values[spec.secret_setting]
    deep = "[" * DEPTH + '{"secretKey": "' + spell(secret, "gson") + '"}' + "]" * DEPTH

    def nest(req, reply):
        payload = reply.json()
        rows = rows_of(spec, payload)
        if rows:
            rows[0]["deep"] = "@@deep@@"
        return Reply(200, {}, raw_json(payload, {'"@@deep@@"': deep}))
    with Hostile(double.url, data_rule(stream, nest)) as hostile:
        run = run_tap(stream_config(hostile.url, double, stream), tmp_path, env=DEBUG)
    check(run, code=0)
    no_secret(run.stdout, run.stderr)
    nested = [r["extra_fields"]["deep"] for r in run.records(stream)
              if "deep" in (r.get("extra_fields") or {})]
    assert nested
    for outer in nested:
        inner = outer
        for _ in range(DEPTH):
            assert isinstance(inner, list) and len(inner) == 1
            inner = inner[0]
        assert inner == {"secretKey": "***"}
    _same_rows(run, double, stream)


def _spooled(proc: subprocess.Popen, tmpdir: str,
             masked: threading.Event | None = None) -> dict[str, bytes]:
    """While the tap runs, what its files under `tmpdir` hold (the read-ahead spool is an
    anonymous file there: read through /proc), the most seen of each; `masked` is set once one
    was seen holding a masked value."""
    seen: dict[str, bytes] = {}
    fds = f"/proc/{proc.pid}/fd"
    while proc.poll() is None:
        try:
            names = os.listdir(fds)
        except OSError:
            break
        for fd in names:
            try:
                target = os.readlink(f"{fds}/{fd}")
                if not target.startswith(tmpdir):
                    continue
                with open(f"{fds}/{fd}", "rb") as spool:
                    data = spool.read()
            except OSError:  # closed meanwhile
                continue
            if len(data) > len(seen.get(target, b"")):
                seen[target] = data
            if masked is not None and b"***" in data:
                masked.set()
        time.sleep(0.01)
    return seen


@pytest.mark.parametrize("stream", PACED)
def test_the_read_ahead_spool_never_holds_a_secret(double, tmp_path, stream):
    """A paced stream's rows wait in an anonymous temporary file until its turn; another
    stream's request is held, and the turn with it, until the file was read holding the echoed
    rows (masked): an event, where a sleep of 6 s raced the paced windows on a loaded machine.
    """
    load_stream(double, stream, 30, seed=33)
    other = "flash_call_cdrs"  # pages of 100: requests after its credential check
    load_stream(double, other, 400, seed=33)
    echo = _echo(stream)

    asked = [0]
    masked = threading.Event()

    def rule(req):
        if req.path == wire_path(BY_NAME[other]):
            asked[0] += 1
            if asked[0] == 2:  # its first after the credential check: the turn waits
                masked.wait(60)  # a guard: the assertion below says what was missing
            return None
        return echo(req)
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    with Hostile(double.url, rule) as hostile:
        config = {**stream_config(hostile.url, double, other),
                  **stream_config(hostile.url, double, stream), "_select": [other, stream],
                  "window_minutes": 60, "max_window_minutes": 60}  # three windows each
        env = {**os.environ, **DEBUG, "TMPDIR": str(spool_dir)}
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(_command(config, tmp_path), stdout=out, stderr=err, env=env)
            try:
                spooled = _spooled(proc, str(spool_dir), masked)
                proc.wait(timeout=120)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            out.seek(0)
            err.seek(0)
            stdout, stderr = (f.read().decode(errors="replace") for f in (out, err))
    assert proc.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    no_secret(stdout, stderr)
    data = b"".join(spooled.values()).decode(errors="replace")
    assert "***" in data, f"{stream}: the spool was not seen holding the echoed rows"
    no_secret(data)
    records = [m["record"] for m in parse_messages(stdout)
               if m["type"] == "RECORD" and m["stream"] == stream]
    assert any((r.get("extra_fields") or {}).get("echo") for r in records)
