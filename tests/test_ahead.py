"""A paced stream (voice, SIP) reads from the run's start, while the other streams are read, and
emits at its turn (tap_nxcloud/ahead.py): the spool's own behaviour, then end to end."""

from __future__ import annotations

import datetime as dt
import itertools
import signal
import threading
import time

import msgspec
import pytest

from nxcloud_double import ApiDouble, Faults
from tap_nxcloud.ahead import Ahead
from tap_nxcloud.errors import ApiError
from tap_nxcloud.scheduler import ROUND_DONE, Cancelled, LaneDone, Rows, WindowDone
from tap_nxcloud.windows import Window

from .conftest import (
    after_records,
    assert_rows_exact,
    interrupt,
    key_of,
    load_stream,
    recent_range,
    run_tap,
    stream_config,
    want_records,
)

HARD = [{"a": 0.1, "b": 1e300, "c": 2**62, "d": "é\u2028\x00\U0001f600", "e": None,
         "f": {"g": [1, "2", -0.0]}, "h": True}]


def _never() -> bool:
    return False


@pytest.mark.unit
def test_events_come_back_in_order_and_pages_exactly():
    key = object()  # a lane: handed back as the same object
    lines = [msgspec.json.encode(row) for row in [*HARD, {"t": "a\nb\r"}, {}]]
    events = [Rows(key, HARD), Rows(key, [{"n": i} for i in range(500)]), Rows(key, []),
              Rows(key, lines), WindowDone(key, Window(0, 60), 504), ROUND_DONE, LaneDone(key)]
    ahead = Ahead("t", iter(events), _never)
    got = list(ahead.take())
    assert got == events
    assert all(g.lane is key for g in got if hasattr(g, "lane"))
    assert repr(got[0].page) == repr(HARD)  # -0.0, the float's digits, the key order


@pytest.mark.unit
def test_an_error_comes_in_its_place():
    def events():
        yield Rows(None, [{"n": 1}])
        raise ApiError("sip_cdrs: refused")

    ahead = Ahead("t", events(), _never)
    taken = ahead.take()
    assert next(taken) == Rows(None, [{"n": 1}])
    with pytest.raises(ApiError, match="refused"):
        next(taken)


@pytest.mark.unit
def test_the_spool_is_bounded_then_the_turn_reads_on():
    pulled = [0]

    def events():
        for i in range(10_000):
            pulled[0] += 1
            yield Rows(None, [{"n": i, "pad": "x" * 100}])

    ahead = Ahead("t", events(), _never, limit=20_000)
    deadline = time.monotonic() + 60  # a guard against a hang, never the condition itself
    while ahead.spooled_bytes < 20_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    # the pump checks the limit before it pulls: past it, not one event more is read, so what
    # was pulled is exactly what the spool holds (no sleep can race this)
    assert 20_000 <= ahead.spooled_bytes < 21_000
    assert pulled[0] == len(ahead._log) < 300
    got = [e.page[0]["n"] for e in ahead.take()]
    assert got == list(range(10_000))


class _FullDisk:
    """A spool file on a disk that fills after `room` bytes: part of a write, then ENOSPC."""

    def __init__(self, room: int) -> None:
        import io
        self._data, self._room = io.BytesIO(), room

    def write(self, data) -> int:
        if self._room <= 0:
            raise OSError(28, "No space left on device")
        n = min(len(data), self._room)
        self._room -= n
        return self._data.write(bytes(data[:n]))

    def __getattr__(self, name):
        return getattr(self._data, name)


@pytest.mark.unit
def test_a_full_disk_loses_no_page(monkeypatch):
    """The spool's disk fills mid-page: what was spooled replays, the page that failed comes
    from memory in its place, and the turn reads on: every event once, in order."""
    monkeypatch.setattr("tempfile.TemporaryFile", lambda **_: _FullDisk(5_000))
    events = [Rows(None, [{"n": i, "pad": "x" * 100}]) for i in range(300)]
    pulled = [0]

    def source():
        for e in events:
            pulled[0] += 1
            yield e
        yield ROUND_DONE

    ahead = Ahead("t", source(), _never)
    deadline = time.monotonic() + 60  # a guard against a hang, never the condition itself
    while not ahead._full and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ahead._full and pulled[0] < 300  # paused, not reading on into memory
    got = list(ahead.take())
    assert got == [*events, ROUND_DONE]


@pytest.mark.unit
def test_close_stops_the_reading_and_a_signal_the_replay():
    stop = threading.Event()

    def events():
        while not stop.is_set():
            time.sleep(0.01)
            yield Rows(None, [{"n": 1}])
        raise Cancelled

    ahead = Ahead("t", events(), _never)
    time.sleep(0.1)
    stop.set()  # what the stream's cancel event does to the scheduler
    ahead.close()
    assert not any(t.name == "nxcloud-ahead-t" for t in threading.enumerate())

    ahead = Ahead("t", iter([Rows(None, [{"n": 1}])] * 3), lambda: True)
    with pytest.raises(Cancelled):
        next(ahead.take())


# --- end to end ----------------------------------------------------------------------------
SPAN = (recent_range()[1] - dt.timedelta(days=3), recent_range()[1])  # SIP: four windows


def _two_streams(double: ApiDouble, **extra) -> dict:
    load_stream(double, "sip_cdrs", 60, seed=3, span=SPAN)
    load_stream(double, "cc_cdrs", 5000, seed=4, span=SPAN)
    return {**stream_config(double.url, double, "sip_cdrs", SPAN),
            **{k: v for k, v in stream_config(double.url, double, "cc_cdrs", SPAN).items()
               if k.startswith("cc_")},
            "_select": ["sip_cdrs", "cc_cdrs"], "max_workers": 1, "window_target_rows": 200,
            **extra}


def test_a_paced_stream_is_read_while_the_others_are(double, tmp_path):
    double.latency_ms = 80
    run = run_tap(_two_streams(double), tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    sip = [e["at"] for e in double.requests("sip_cdrs")]
    cc = [e["at"] for e in double.requests("cc_cdrs")]
    assert len(sip) >= 4 and len(cc) >= 50
    assert min(sip) < max(cc) - 4  # SIP's pauses overlapped cc's reading
    assert min(b - a for a, b in itertools.pairwise(sip)) >= 2.0
    for stream in ("sip_cdrs", "cc_cdrs"):
        assert_rows_exact(run, double, stream, SPAN)
    # records still go out stream by stream, the paced one at its turn (last)
    order = [m["stream"] for m in run.messages if m["type"] == "RECORD"]
    assert order == sorted(order, key=["cc_cdrs", "sip_cdrs"].index)
    assert run.states[-1]["bookmarks"]["sip_cdrs"]["replication_key_value"] >= "20"


def test_a_run_killed_before_the_paced_streams_turn_resumes_exactly(double, tmp_path):
    double.latency_ms = 30
    config = _two_streams(double)
    _, messages, _ = interrupt(config, tmp_path, after_records(1500))
    assert not any(m["type"] == "RECORD" and m["stream"] == "sip_cdrs" for m in messages)
    assert len(double.requests("sip_cdrs")) >= 1  # it was reading ahead
    last = [m["value"] for m in messages if m["type"] == "STATE"][-1]
    assert not last["bookmarks"].get("sip_cdrs", {}).get("replication_key_value")
    second = run_tap(config, tmp_path, state=last)
    assert second.returncode == 0, second.stderr[-3000:]
    assert_rows_exact(second, double, "sip_cdrs", SPAN)
    first = {key_of("cc_cdrs", m["record"]) for m in messages
             if m["type"] == "RECORD" and m["stream"] == "cc_cdrs"}
    again = {key_of("cc_cdrs", r) for r in second.records("cc_cdrs")}
    assert first | again == set(want_records(double, "cc_cdrs", SPAN))


def _sent_after(double: ApiDouble, stream: str, moment: float) -> int:
    """How many of the stream's requests the tap sent after `moment` (epoch seconds): the
    double's `at` is when a request's bytes reached its socket, on 127.0.0.1 when sent."""
    return sum(e["at"] > moment for e in double.requests(stream))


def test_a_signal_before_its_turn_stops_the_paced_stream_at_once(double, tmp_path):
    """At once: after the signal SIP sends at most the one request that may have been going
    out as it came, not the rest of its paced windows (2.1 s apart). Counted, not timed: a
    loaded machine slows the run around the signal (8 s where 6 were allowed), not the count."""
    double.latency_ms = 30
    config = _two_streams(double)
    signalled: list[float] = []
    at_300 = after_records(300)

    def when(line: bytes) -> bool:
        if at_300(line):
            signalled.append(time.time())  # interrupt() signals right after this returns
            return True
        return False
    code, messages, stderr = interrupt(config, tmp_path, when, signal.SIGTERM)
    assert _sent_after(double, "sip_cdrs", signalled[0]) <= 1
    assert code != 0 and "Interrupted by signal 15" in stderr
    assert messages[-1]["type"] == "STATE"
    assert not any(m["type"] == "RECORD" and m["stream"] == "sip_cdrs" for m in messages)
    assert "Traceback" not in stderr


def test_a_failure_before_its_turn_stops_the_paced_stream_at_once(double, tmp_path):
    double.latency_ms = 30
    config = _two_streams(double)

    refused: list[float] = []

    def refuse_later(stream, params, n):
        if stream == "cc_cdrs" and n == 3:  # cc's next request gets a fatal vendor code
            double.set_faults(Faults(script=["code:41000"] * 3))
        if stream == "cc_cdrs" and n == 4:
            refused.append(time.time())  # its refusal is written after this
    double.on_request = refuse_later
    run = run_tap(config, tmp_path)
    # at once, as after a signal: counted, not timed
    assert _sent_after(double, "sip_cdrs", refused[0]) <= 1
    assert run.returncode == 1
    last = [line for line in run.stderr.splitlines() if line.strip()][-1]
    assert "cc_cdrs" in last and "41000" in last, last
    assert run.records("sip_cdrs") == []
    assert "Traceback" not in run.stderr
