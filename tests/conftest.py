"""Shared fixtures: the API double on 127.0.0.1 and the real tap CLI run as a subprocess."""

from __future__ import annotations

import datetime as dt
import functools
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from nxcloud_double import SETTINGS, ApiDouble
from nxcloud_double.endpoints import BY_ALIAS, BY_STREAM
from tap_nxcloud.schemas import load as load_schema
from tap_nxcloud.streams import BY_NAME as SPEC_OF
from tap_nxcloud.streams import STREAMS as SPECS

# The suite's layers (pyproject.toml's markers): `pytest -m unit` runs in seconds.
UNIT = {"test_schemas.py", "test_sdk_private.py"}  # the rest of the unit layer: pytestmark
INTEGRATION = {"test_meltano.py", "test_orchestrate.py", "test_dbt.py", "test_meltano_project.py",
               "test_hub.py", "test_loaders.py", "test_dagster_accounts.py",
               "test_user_project.py"}


def pytest_collection_modifyitems(items) -> None:
    for item in items:
        name = item.path.name
        layer = "unit" if name in UNIT else "integration" if name in INTEGRATION else "e2e"
        if not any(m.name in ("unit", "e2e", "integration") for m in item.iter_markers()):
            item.add_marker(getattr(pytest.mark, layer))


# The double's row generators, by their old names.
flash_rows, cc_rows, sms_rows, voice_rows, sip_rows, did_rows = (
    BY_ALIAS[a].rows for a in ("flash", "cc", "sms", "voice", "sip", "did"))

ZONE = ZoneInfo("Asia/Shanghai")
BIN = Path(sys.executable).parent
TAP = str(BIN / "tap-nxcloud")
WALL_FIELDS = ("gmtCreate", "gmtModified", "callStartAt", "callEndAt", "callbackAt")
# The fixed data range of most tests: 3 days from 2026-10-01 00:00 Shanghai time.
START_WALL = "2026-10-01 00:00:00"
START_MS = int(dt.datetime(2026, 10, 1, tzinfo=ZONE).timestamp() * 1000)
SPAN_S = 3 * 86400


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    messages: list[dict] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the process
    rss_mb: float = 0.0  # its peak resident memory

    def records(self, stream: str) -> list[dict]:
        return [m["record"] for m in self.messages
                if m["type"] == "RECORD" and m["stream"] == stream]

    @property
    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def schemas(self) -> dict[str, dict]:
        return {m["stream"]: m for m in self.messages if m["type"] == "SCHEMA"}


def parse_messages(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@functools.cache
def _discovered() -> str:
    """The tap's catalog of every registered stream (discovery needs no credentials)."""
    return subprocess.run([TAP, "--discover"], capture_output=True, text=True, check=True,
                          env={**os.environ, "TAP_NXCLOUD_START_DATE": "2026-01-01"}).stdout


def catalog_selecting(streams) -> dict:
    """A catalog that selects just `streams` (the others are read by no request at all)."""
    catalog = json.loads(_discovered())
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def _command(config: dict, tmp_path: Path, *args: str) -> list[str]:
    """The CLI's command line for `config`; a config's `_select` (a test's, not the tap's)
    selects just those streams through a catalog, as other streams may share the credentials
    (SMS's keys read the SMS records, statements and balance)."""
    cfg = tmp_path / f"config-{time.monotonic_ns()}.json"
    config = dict(config)
    select = config.pop("_select", None)
    cfg.write_text(json.dumps(config))
    cmd = [TAP, "--config", str(cfg), *args]
    if select is not None:
        cat = tmp_path / f"catalog-{time.monotonic_ns()}.json"
        cat.write_text(json.dumps(catalog_selecting(select)))
        cmd += ["--catalog", str(cat)]
    return cmd


def after_records(n: int):
    """`interrupt`'s moment: the n-th RECORD line."""
    seen = [0]

    def when(line: bytes) -> bool:
        seen[0] += b'"type":"RECORD"' in line
        return seen[0] == n
    return when


def interrupt(config: dict, tmp_path: Path, when, sig: int = signal.SIGKILL,
              pause: float = 0.0) -> tuple[int, list[dict], str]:
    """The CLI on `config` (as run_tap), sent `sig` at the first output line for which
    `when(line)` holds, `pause` seconds later (the tap works on meanwhile, or blocks writing to
    a pipe nobody reads); its exit code, every message it wrote (a line the kill cut short
    left out, as a target would), and its stderr."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(_command(config, tmp_path), stdout=subprocess.PIPE, stderr=err)
        lines = []
        for raw in proc.stdout:
            lines.append(raw)
            if when(raw):
                time.sleep(pause)
                proc.send_signal(sig)
                break
        # read on through the same buffered reader: communicate() would skip what it holds
        lines += proc.stdout.read().splitlines(keepends=True)
        proc.wait(timeout=60)
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    messages = [json.loads(x) for x in lines if x.endswith(b"\n")]
    return proc.returncode, messages, stderr


# A whole CLI run that must end "at once" (a refusal, an unreachable host) is bounded by half of
# what the wrong behaviour would take, not by what the right one takes: the start alone took 8 s
# at a load of 12 on two cores, where 5 to 15 s were allowed. With SLOW_BACKOFF in its config a
# single backoff pause is 60 s or more (equal jitter: half of 120 s at least).
SLOW_BACKOFF = {"backoff_base_seconds": 120, "backoff_max_seconds": 240}
AT_ONCE = 30  # seconds


def run_tap(config: dict, tmp_path: Path, *args: str, state: dict | None = None,
            env: dict | None = None, timeout: float = 120) -> Run:
    """The CLI on `config` (its `_select`: see _command), to its end."""
    cmd = _command(config, tmp_path, *args)
    if state is not None:
        st = tmp_path / f"state-{time.monotonic_ns()}.json"
        st.write_text(json.dumps(state))
        cmd += ["--state", str(st)]
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env={**os.environ, **(env or {})})
        try:
            status, usage = _wait(proc, timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        out.seek(0)
        err.seek(0)
        stdout, stderr = (f.read().decode(errors="replace") for f in (out, err))
    run = Run(os.waitstatus_to_exitcode(status), stdout, stderr,
              seconds=time.monotonic() - started, rss_mb=usage)
    if stdout.lstrip().startswith("{\"type\""):
        run.messages = parse_messages(stdout)
    return run


def _wait(proc: subprocess.Popen, timeout: float) -> tuple[int, float]:
    """Wait for the process (at most `timeout` s) and reap it: its status and peak RSS in MB.

    The peak is the process's own high-water mark (VmHWM) read while it runs, not rusage's
    ru_maxrss, which also counts this test process's pages at the fork before the exec."""
    deadline = time.monotonic() + timeout
    peak = 0
    status_file = f"/proc/{proc.pid}/status"
    while True:
        try:
            with open(status_file) as f:
                peak = max(peak, next((int(line.split()[1]) for line in f
                                       if line.startswith("VmHWM:")), 0))
        except (OSError, ValueError):
            pass
        pid, status, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return status, peak / 1024
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(0.01)


def _time(value, zone: ZoneInfo, kind: str = "wall"):
    """A canonical row time as the tap emits it: epoch milliseconds (cc) with milliseconds,
    epoch seconds (AI agent) in whole seconds, both UTC; wall-clock text with the zone's
    offset."""
    if value in (None, "", 0):
        return None
    if kind == "epoch_ms" or (isinstance(value, int) and kind == "wall"):
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC).isoformat(
            timespec="milliseconds").replace("+00:00", "Z")
    if kind == "epoch_s":
        return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return dt.datetime.fromisoformat(value).replace(tzinfo=zone).isoformat()


def expected(stream: str, row: dict, zone: ZoneInfo = ZONE, **added) -> dict:
    """What the tap must emit for a row the double holds (in its canonical types): every
    date-time field of the stream's schema as RFC 3339, the double's internal fields under the
    tap's column names, fields the schema does not declare in `extra_fields`, plus the columns
    the tap adds."""
    props = load_schema(stream)["properties"]
    internal = BY_STREAM[stream].internal
    spec = SPEC_OF[stream]
    out, extra = {}, {}
    for name, value in row.items():
        if name in internal:
            out[internal[name]] = value
        elif name not in props:
            extra[name] = value
        elif props[name].get("format") == "date-time":
            out[name] = _time(value, zone, "wall" if name in spec.added_columns
                              else spec.row_time)
        else:
            out[name] = value
    if extra:
        out["extra_fields"] = extra
    return {**out, **added}


def expected_flash(row: dict, zone: ZoneInfo = ZONE) -> dict:
    return expected("flash_call_cdrs", row, zone)


def config_for(double: ApiDouble, **extra) -> dict:
    c = double.credentials
    return {"api_url": double.url, "start_date": "2026-10-01",
            "end_date": "2026-10-04T00:00:00+08:00",
            "flash_call_app_key": c.flash_call_app_key,
            "flash_call_app_secret": c.flash_call_app_secret,
            "cc_access_key": c.cc_access_key, "cc_access_secret": c.cc_access_secret,
            "backoff_base_seconds": 0.05, "backoff_max_seconds": 0.5, **extra}


@pytest.fixture
def double():
    with ApiDouble() as d:
        yield d


def fill(double: ApiDouble, rows: int, seed: int) -> ApiDouble:
    """Give the double `rows` generated rows per stream over the three test days."""
    double.flash.add(flash_rows(rows, seed=seed, start=START_WALL, span_seconds=SPAN_S))
    double.cc.add(cc_rows(rows, seed=seed, start_ms=START_MS, span_ms=SPAN_S * 1000))
    return double


@pytest.fixture
def loaded(double):
    return fill(double, 1500, seed=11)


def assert_exact(run: Run, double: ApiDouble, *, flash_from: str = "", cc_from: int = 0) -> None:
    """Every row the double holds (from the given point on) came out once, field for field."""
    flash = run.records("flash_call_cdrs")
    want_flash = [expected_flash(r) for r in double.flash.rows() if r["gmtCreate"] >= flash_from]
    assert len({r["id"] for r in flash}) == len(flash), "duplicate flash rows"
    assert sorted(flash, key=lambda r: r["id"]) == sorted(want_flash, key=lambda r: r["id"])
    cc = run.records("cc_cdrs")
    want_cc = [expected("cc_cdrs", r) for r in double.cc.rows() if r["startTime"] >= cc_from]
    assert len({r["callId"] for r in cc}) == len(cc), "duplicate cc rows"
    assert sorted(cc, key=lambda r: r["callId"]) == sorted(want_cc, key=lambda r: r["callId"])


# --- any registered stream, over a recent range ------------------------------------------------
STREAM_NAMES = tuple(spec.name for spec in SPECS)  # every stream in the registry
# streams whose rows carry wall-clock times the API writes (not the tap's stamps)
WALL_STREAMS = tuple(spec.name for spec in SPECS if spec.row_time == "wall" and spec.windowed
                     and spec.replication_key not in spec.added_columns)
WINDOWED = tuple(spec.name for spec in SPECS if spec.windowed)
PACED = tuple(spec.name for spec in SPECS if spec.min_interval)

_NOW = dt.datetime.now(ZONE).replace(second=0, microsecond=0)  # once: a test's ranges agree


def recent_range(hours: float = 3.0) -> tuple[dt.datetime, dt.datetime]:
    """[now - hours, now - 10 min) in the double's zone, whole minutes, "now" being when the
    suite started: inside every stream's retention, and one window of the paced streams."""
    return _NOW - dt.timedelta(hours=hours), _NOW - dt.timedelta(minutes=10)


def load_stream(double: ApiDouble, stream: str, n: int, seed: int,
                span: tuple[dt.datetime, dt.datetime] | None = None) -> list[dict]:
    """n generated rows of a stream spread over `span` (default: recent_range()); a child's
    parents first; for an endpoint that answers from another stream's rows (the SMS
    statement), that stream's."""
    endpoint, spec = BY_STREAM[stream], SPEC_OF[stream]
    if endpoint.feeds:
        return load_stream(double, endpoint.feeds, n, seed, span)
    start, end = span or recent_range()
    kw = {}
    if spec.child:  # a task of about fifty calls
        kw["tasks"] = load_stream(double, spec.child.parent, max(1, n // 50), seed, span)
    rows = endpoint.rows(n, seed=seed, start=start.strftime("%Y-%m-%d %H:%M:%S"),
                         span_seconds=int((end - start).total_seconds()),
                         zone=double.zone, **kw)
    double.tables[stream].add(rows)
    return rows


def stream_config(url: str, double: ApiDouble, stream: str,
                  span: tuple[dt.datetime, dt.datetime] | None = None, **extra) -> dict:
    """A config reading one stream through `url` (the double, or a server in front of it)."""
    start, end = span or recent_range()
    spec = SPEC_OF[stream]
    return {"_select": [stream], "api_url": url, "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "timezone": double.zone.key, "backoff_base_seconds": 0.05,
            "backoff_max_seconds": 0.3, "request_timeout": 5,
            **{name: double.credentials.values[name] for name in spec.credentials},
            **{name: SETTINGS[name] for name in spec.params}, **extra}


def key_of(stream: str, record: dict) -> tuple:
    """A record's key (a snapshot's, its fetched_at, is the tap's own: left out)."""
    return tuple(record[k] for k in SPEC_OF[stream].primary_keys if k != "fetched_at")


def want_records(double: ApiDouble, stream: str,
                 span: tuple[dt.datetime, dt.datetime] | None = None) -> dict[tuple, dict]:
    """What the tap must emit of a stream over `span`: every row the double holds there."""
    start, end = span or recent_range()
    out = {}
    for row in BY_STREAM[stream].expected(double, start, end):
        record = expected(stream, row, double.zone)
        out[key_of(stream, record)] = record
    return out


def assert_rows_exact(run: Run, double: ApiDouble, stream: str,
                      span: tuple[dt.datetime, dt.datetime] | None = None) -> None:
    """Every row of the span came out once, field for field: none lost, none twice."""
    got = [{k: v for k, v in r.items() if k != "fetched_at"} for r in run.records(stream)]
    keys = [key_of(stream, r) for r in got]
    assert len(keys) == len(set(keys)), f"{stream}: a row was emitted twice"
    want = want_records(double, stream, span)
    assert want, f"{stream}: the test has no rows in its range"
    assert dict(zip(keys, got, strict=True)) == want, stream


# --- a throwaway PostgreSQL cluster (Meltano, dbt and loader tests) -------------------------
def _pg_bin() -> str | None:
    found = shutil.which("pg_ctl")
    candidates = [os.path.dirname(found)] if found else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for d in candidates:
        if all(os.path.exists(os.path.join(d, b)) for b in ("initdb", "pg_ctl", "psql")):
            return d
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL cluster on 127.0.0.1, its default time zone deliberately not UTC."""
    bindir = _pg_bin()
    if bindir is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run the PostgreSQL test, but initdb/pg_ctl/psql are not "
                        "installed (.ci/run installs the Debian package postgresql)")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl, psql) not found: install the "
                    "Debian package postgresql to run this test")
    base = Path(tempfile.mkdtemp(prefix="tap-nxcloud-pg-"))
    base.chmod(0o755)
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(base, "postgres")
    port = _free_port()

    def run(*cmd):
        return subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True)
    run(f"{bindir}/initdb", "-D", f"{base}/data", "-A", "trust", "-U", "postgres")
    run(f"{bindir}/pg_ctl", "-D", f"{base}/data", "-l", f"{base}/log", "-w", "-o",
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start")

    def psql(sql: str) -> list[list[str]]:
        done = subprocess.run([f"{bindir}/psql", "-h", "127.0.0.1", "-p", str(port), "-U",
                               "postgres", "-d", "postgres", "-At", "-F", "|", "-c", sql],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, f"{sql}: {done.stderr}"
        return [line.split("|") for line in done.stdout.splitlines()]
    psql("ALTER DATABASE postgres SET timezone TO 'America/New_York'")
    try:
        yield port, psql
    finally:
        run(f"{bindir}/pg_ctl", "-D", f"{base}/data", "-m", "fast", "stop")
        shutil.rmtree(base, ignore_errors=True)
