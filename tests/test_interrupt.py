"""Killed or interrupted runs resume from their last STATE without losing a row."""

from __future__ import annotations

import signal

import pytest

from .conftest import after_records, config_for, expected, expected_flash, fill, interrupt, run_tap

KEYS = {"flash_call_cdrs": "id", "cc_cdrs": "callId"}


@pytest.fixture
def slow(double):
    double.latency_ms = 15
    return fill(double, 2000, seed=31)


def _config(double):
    return config_for(double, lookback_minutes=0, window_target_rows=200, max_workers=2)


def _interrupted(config, tmp_path, records: int, sig: int, stall: float = 0.0):
    # with `stall`, stop reading first: the tap blocks writing to a full pipe, and the signal
    # lands inside that write
    return interrupt(config, tmp_path, after_records(records), sig, pause=stall)


def _check_resume(double, config, tmp_path, messages):
    states = [(i, m["value"]) for i, m in enumerate(messages) if m["type"] == "STATE"]
    state = states[-1][1] if states else {}
    # where that state was first emitted (on SIGTERM it is emitted again at the very end)
    last_state = next((i for i, v in states if v == state), -1)
    second = run_tap(config, tmp_path, state=state)
    assert second.returncode == 0, second.stderr
    want = {"flash_call_cdrs": [expected_flash(r) for r in double.flash.rows()],
            "cc_cdrs": [expected("cc_cdrs", r) for r in double.cc.rows()]}
    for stream, key in KEYS.items():
        first = [(i, m["record"]) for i, m in enumerate(messages)
                 if m["type"] == "RECORD" and m["stream"] == stream]
        again = second.records(stream)
        union = {r[key]: r for _, r in first} | {r[key]: r for r in again}
        assert sorted(union.values(), key=lambda r: r[key]) == sorted(
            want[stream], key=lambda r: r[key]), stream
        # Rows emitted twice are only those of the window the killed run was in: emitted after
        # its last STATE. Nothing covered by that STATE is read again (lookback 0 here).
        twice = {r[key] for _, r in first} & {r[key] for r in again}
        in_window = {r[key] for i, r in first if i > last_state}
        assert twice <= in_window, stream
        assert len(twice) <= 1000


@pytest.mark.parametrize("after_records", [1, 900, 2001, 3300])
def test_sigkill_then_resume_loses_nothing(slow, tmp_path, after_records):
    config = _config(slow)
    code, messages, _ = _interrupted(config, tmp_path, after_records, signal.SIGKILL)
    assert code == -signal.SIGKILL
    _check_resume(slow, config, tmp_path, messages)


@pytest.mark.parametrize("stall", [0.0, 1.0])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_emit_the_last_state_and_exit(slow, tmp_path, sig, stall):
    config = _config(slow)
    code, messages, err = _interrupted(config, tmp_path, 700, sig, stall)
    assert code == 128 + sig, err
    assert messages[-1]["type"] == "STATE"
    assert "Traceback" not in err and "Interrupted by signal" in err
    _check_resume(slow, config, tmp_path, messages)


def _mapped(pid: int, name: bytes) -> bool:
    try:
        with open(f"/proc/{pid}/maps", "rb") as maps:
            return name in maps.read()
    except OSError:
        return False


@pytest.mark.parametrize("moment", ["importing", "checking the config", "reading"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_at_any_moment_start_up_included_exits_quietly(slow, tmp_path, moment, sig):
    """Ctrl-C (or SIGTERM) while the tap's modules are imported (msgspec's extension mapped:
    the tap's first lines have run, singer-sdk is still to come), once its first log line is
    out (the config being checked), or once it reads: 128 + the signal, never a traceback.
    (A signal in the interpreter's own first milliseconds, before any line of the tap, is
    Python's to handle.)"""
    import subprocess
    import time

    from .conftest import _command
    proc = subprocess.Popen(_command(_config(slow), tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60  # a guard against a hang, never the condition
    if moment == "importing":
        while not _mapped(proc.pid, b"msgspec/_core") and time.monotonic() < deadline:
            time.sleep(0.001)
    elif moment == "checking the config":
        proc.stderr.readline()
    else:
        proc.stdout.readline()  # its first message (a SCHEMA): the sync has begun
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, (proc.returncode, err.decode()[-2000:])
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err.decode()[-2000:]
