"""Benchmark the loaders on this tap's own messages: speed, memory, exactness.

For each target-postgres setting it loads the same Singer messages into a fresh PostgreSQL schema
and prints:
median rows/s of `target-postgres --config X < messages` (wall time, --runs runs), the ratio to
the defaults, the target's peak RSS, and whether every value landed exactly (else the first
mismatch). Settings: defaults; validate_records false; use_copy true; both; then batch_size_rows
on the fastest exact one of those; then that one with sanitize_null_text_characters.

The messages come from the project itself (the API double and the tap, cc_cdrs only), saved once
in the cache dir and reused. Hard values are injected into some records (quotes, backslashes,
`\\N`, `NULL`, empty strings, newlines, tabs, CJK, emoji, a 100 000-character string, JSON in
extra_fields, numbers, RFC 3339 times with +08:00 / -05:00 / +05:45 / Z offsets). A NUL character
(U+0000, which PostgreSQL text and jsonb cannot store) is probed separately, in small loads of its
own, since it can fail a whole load: the table says what each setting does with it.

date-time columns are `timestamp without time zone`: a value is exact when it holds the UTC
instant of the RFC 3339 value. The target runs with PGTZ=UTC (as meltano.yml sets it); the
throwaway cluster's own zone is America/New_York, so that a load relying on the server's zone
shows up as a mismatch.

The exact DuckDB loader (loaders/target-duckdb-exact, meltano.yml's target-duckdb; --loaders
duckdb) is measured twice: alone on the same cc_cdrs messages (rows/s beside target-postgres'
defaults, CPU, peak RSS, every value checked as above: date-times as the UTC instant, objects as
the same JSON, numbers as the nearest double); and in `tap | loader` against the tap alone, with
every stream at scripts/demo's counts (cc_cdrs: --rows): wall time of each, the tap's and the
loader's own CPU and peak RSS in the same pipeline, and each table's rows against the distinct keys
the tap sent. --duckdb-target LABEL=EXE (repeated) compares builds, e.g. before and after a change.

Usage (from the repository root; needs initdb/pg_ctl/psql, e.g. the Debian package postgresql):
    .venv/bin/python scripts/bench_loaders.py                    # 200 000 rows, 3 runs each
    .venv/bin/python scripts/bench_loaders.py --quick            # 5 000 rows, 1 run each
    .venv/bin/python scripts/bench_loaders.py --dsn postgresql://user:pw@host:5432/db
    .venv/bin/python scripts/bench_loaders.py --loaders duckdb --runs 2   # no PostgreSQL needed
Options: --help. The target's venv and the messages are kept in --cache-dir.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import glob
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
STREAM = "cc_cdrs"
KEY = "callId"
TARGET_SPEC = "meltanolabs-target-postgres==0.8.1"
SERVER_ZONE = "America/New_York"  # the throwaway cluster's zone: deliberately not UTC
BASE_SETTINGS: list[tuple[str, dict]] = [
    ("defaults", {}),
    ("validate_records=false", {"validate_records": False}),
    ("use_copy=true", {"use_copy": True}),
    ("use_copy=true validate_records=false", {"use_copy": True, "validate_records": False}),
]
SANITIZE = {"sanitize_null_text_characters": True}


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


# --- hard values -----------------------------------------------------------------------------
LONG = ('牛🎧"\\\t\n\r\nN' + "x" * 100)[:100] * 1000  # 100 000 characters, every hazard inside
assert len(LONG) == 100_000
JSON_HARD = {
    "quote": 'say "hi"', "newline": "a\nb", "crlf": "a\r\nb", "tab": "a\tb",
    "backslash": "C:\\new\\table\\N", "backslash_n": "\\N", "null_text": "NULL", "empty": "",
    "cjk": "牛小信", "emoji": "🎧", "number": 0.035, "integer": 12, "numeric_text": "12",
    "nested": {"list": [1, 2.5, None, True, False, "x\"y"], "deep": {"k": "v\nw"}},
    'key "with" quote\n': "value",
}
# One patch per record, spread over the file; every value is valid for the cc_cdrs schema.
HARD: list[dict] = [
    {"agentNickName": 'say "hi"', "callee": '"', "hangupReason": '""'},
    {"agentNickName": "C:\\new\\table", "callee": "\\", "hangupReason": "a\\\\b\\"},
    {"agentNickName": "\\N", "callee": "\\.", "hangupReason": "\\N\\N"},
    {"agentNickName": "NULL", "callee": "null", "hangupReason": "None"},
    {"agentNickName": "", "callee": "", "hangupReason": "", "dtmfKeys": ""},
    {"agentNickName": " ", "callee": " 12 ", "hangupReason": "\u00a0"},
    {"agentNickName": "line1\nline2", "hangupReason": "line1\r\nline2", "callee": "\r"},
    {"agentNickName": "a\tb", "hangupReason": "\t", "callee": "a\t\tb\t"},
    {"agentNickName": "牛小信", "hangupReason": "用户挂断", "callee": "\uff0b\uff18\uff16"},
    {"agentNickName": "🎧", "hangupReason": "emoji 🎧 and 牛 and \u200d", "callee": "🎧"},
    {"hangupReason": LONG},
    {"extra_fields": JSON_HARD},
    {"extra_fields": {}, "agentNickName": "{}"},
    {"extra_fields": {"k": None}, "agentNickName": "[]"},
    {"totalCustomerPrice": 0.035, "callee": "12", "other": "0012"},
    {"totalCustomerPrice": 12, "callee": "1e5", "other": "-0"},
    {"totalCustomerPrice": 0, "callee": "0.035"},
    {"totalCustomerPrice": 1e-07, "callee": "007"},
    {"totalCustomerPrice": -1.5, "callDuration": 0},
    {"totalCustomerPrice": 123456.789012},
    {"totalCustomerPrice": "@raw:0.12345678901234567891"},  # more digits than a float holds
    {"totalCustomerPrice": "@raw:12345678901234567890.5"},
]
RAW = re.compile(r'"@raw:([-+0-9.eE]+)"')  # a JSON number written as is, not through a float
NUL_PROBES: list[tuple[str, dict, tuple]] = [  # (label, patch, path to the value to inspect)
    ("text column", {"agentNickName": "a\u0000b"}, ("agentNickName",)),
    ("extra_fields value", {"extra_fields": {"k": "a\u0000b"}}, ("extra_fields", "k")),
    ("extra_fields nested", {"extra_fields": {"o": {"k": "a\u0000b"}}},
     ("extra_fields", "o", "k")),
]


def _iso(instant: dt.datetime, offset_hours: float | None, micros: bool) -> str:
    """The same instant as RFC 3339 text with the given offset (None: Z)."""
    tz = dt.timezone.utc if offset_hours is None else dt.timezone(dt.timedelta(hours=offset_hours))
    text = instant.astimezone(tz).isoformat(timespec="microseconds" if micros else "milliseconds")
    return text.replace("+00:00", "Z") if offset_hours is None else text


def parse_instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def reexpress_times(record: dict, schema: dict, offset_hours: float | None, micros: bool) -> None:
    """Write every date-time of the record as the same instant with another offset."""
    for name, value in record.items():
        if value and schema["properties"].get(name, {}).get("format") == "date-time":
            record[name] = _iso(dt.datetime.fromisoformat(value.replace("Z", "+00:00")),
                                offset_hours, micros)


CC_RECORD = re.compile(rb'^\{"type": ?"RECORD", ?"stream": ?"' + STREAM.encode() + rb'"')


def is_cc_record(line: bytes) -> bool:
    """A RECORD of cc_cdrs (the tap also sends sync_audit's), without parsing the line."""
    return CC_RECORD.match(line) is not None


def inject(src: Path, dst: Path) -> int:
    """Copy the messages, with HARD patched into records spread over the file, and every date-time
    of some records rewritten with +08:00, -05:00, +05:45 or Z (microseconds). Streams: the
    benchmark process stays small (a child's peak RSS can count its parent's pages)."""
    total = sum(1 for line in src.open("rb") if is_cc_record(line))
    spots = {(i + 1) * total // (len(HARD) + 1): patch for i, patch in enumerate(HARD)}
    offsets = (8, -5, 5.75, None)
    schema: dict = {}
    n = 0
    with src.open(encoding="utf-8") as inp, dst.open("w", encoding="utf-8") as out:
        for line in inp:
            message = json.loads(line)
            if message["type"] == "SCHEMA" and message["stream"] == STREAM:
                schema = message["schema"]
            if message["type"] == "RECORD" and message["stream"] == STREAM:
                record = message["record"]
                if n % 97 == 0:
                    reexpress_times(record, schema, offsets[(n // 97) % 4], micros=n % 2 == 0)
                record.update(spots.get(n, {}))
                n += 1
                out.write(RAW.sub(r"\1", json.dumps(message, ensure_ascii=False)) + "\n")
            else:
                out.write(line)
    return n


# --- PostgreSQL ------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bindir() -> str:
    found = shutil.which("pg_ctl")
    candidates = [os.path.dirname(found)] if found else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for d in candidates:
        if all(os.path.exists(os.path.join(d, b)) for b in ("initdb", "pg_ctl", "psql")):
            return d
    sys.exit("initdb/pg_ctl/psql not found: install the Debian package postgresql, or use --dsn")


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[tuple[dict, list[str]]]:
    """A PostgreSQL cluster of its own on 127.0.0.1 in a temporary folder ($TMPDIR), as
    tests/test_meltano.py starts one (as user postgres when run as root)."""
    bindir = pg_bindir()
    base = Path(tempfile.mkdtemp(prefix="tap-nxcloud-bench-pg-"))
    base.chmod(0o755)
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(base, "postgres")
    port = free_port()

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True)

    run(f"{bindir}/initdb", "-D", f"{base}/data", "-A", "trust", "-U", "postgres")
    run(f"{bindir}/pg_ctl", "-D", f"{base}/data", "-l", f"{base}/log", "-w", "-o",
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1", "start")
    try:
        psql = [f"{bindir}/psql", "-X", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                str(port), "-U", "postgres", "-d", "postgres"]
        sql(psql, f"ALTER DATABASE postgres SET timezone TO '{SERVER_ZONE}'")
        yield ({"host": "127.0.0.1", "port": port, "user": "postgres", "password": "unused",
                "database": "postgres"}, psql)
    finally:
        run(f"{bindir}/pg_ctl", "-D", f"{base}/data", "-m", "fast", "stop")
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def given_dsn(dsn: str) -> Iterator[tuple[dict, list[str]]]:
    parts = urlsplit(dsn)
    psql_bin = shutil.which("psql") or f"{pg_bindir()}/psql"
    yield ({"host": parts.hostname or "127.0.0.1", "port": parts.port or 5432,
            "user": unquote(parts.username or "postgres"),
            "password": unquote(parts.password or ""),
            "database": parts.path.lstrip("/") or "postgres"},
           [psql_bin, "-X", "-v", "ON_ERROR_STOP=1", "-d", dsn])


PSQL_ENV = {**os.environ, "PGCLIENTENCODING": "UTF8"}


def sql(psql: list[str], statement: str) -> list[str]:
    done = subprocess.run([*psql, "-At", "-c", statement], capture_output=True,
                          encoding="utf-8", env=PSQL_ENV, check=False)
    if done.returncode:
        raise RuntimeError(f"{statement}: {done.stderr.strip()}")
    return done.stdout.splitlines()


# --- the target ------------------------------------------------------------------------------
def target_executable(args: argparse.Namespace) -> str:
    if args.target:
        return args.target
    venv = args.cache_dir / ("venv-" + args.target_spec.replace("==", "-").replace("/", "_"))
    exe = venv / "bin" / "target-postgres"
    if not exe.exists():
        log(f"installing {args.target_spec} into {venv} ...")
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        if os.access(uv, os.X_OK):
            subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
            subprocess.run([uv, "pip", "install", "-q", "-p", str(venv / "bin" / "python"),
                            args.target_spec], check=True)
        else:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                            "--disable-pip-version-check", args.target_spec], check=True)
    return str(exe)


EXCEPTION = re.compile(r"^(\(?[a-z_]+(\.\w+)+\)?:? )+")


def run_target(exe: str, config: dict, messages: Path, workdir: Path, env: dict) -> dict:
    """One load: wall time, peak RSS (os.wait4) and exit code of the target."""
    cfg = workdir / "target-config.json"
    cfg.write_text(json.dumps(config))
    err = workdir / "target-stderr.log"
    with messages.open("rb") as inp, err.open("wb") as errf:
        start = time.perf_counter()
        proc = subprocess.Popen([exe, "--config", str(cfg)], stdin=inp,
                                stdout=subprocess.DEVNULL, stderr=errf, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    tail = err.read_text(errors="replace").strip().splitlines()
    # the last "module.Class: message" line (the exception), without its class names
    error = next((EXCEPTION.sub("", line.strip()) for line in reversed(tail)
                  if EXCEPTION.match(line.strip())), tail[-1] if tail else "")
    return {"seconds": wall, "rss_mb": usage.ru_maxrss / 1024, "rc": proc.returncode,
            "cpu": usage.ru_utime + usage.ru_stime,
            "error": error[:200]}


# --- exactness -------------------------------------------------------------------------------
def same(want: object, got: object) -> bool:
    """Equal, and of the same JSON type (True is not 1, "12" is not 12, 12 is not 12.0)."""
    if isinstance(want, dict):
        return (isinstance(got, dict) and want.keys() == got.keys()
                and all(same(v, got[k]) for k, v in want.items()))
    if isinstance(want, list):
        return (isinstance(got, list) and len(want) == len(got)
                and all(same(a, b) for a, b in zip(want, got, strict=True)))
    if isinstance(want, bool) or isinstance(got, bool):
        return type(want) is type(got) and want == got
    if isinstance(want, Decimal) and isinstance(got, int | Decimal):  # 1e-07 = 0.0000001
        return want == Decimal(got)
    return type(want) is type(got) and want == got  # an integer must land as one (12, not 12.0)


def short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}...({len(text)} chars)"


SQL_NULL = "__sql_null__"


def landed_rows(psql: list[str], schema: str, objects: list[str]) -> Iterator[dict]:
    """Every row as PostgreSQL's JSON of it: one line a row (row_to_json escapes newlines).
    row_to_json shows SQL NULL and a jsonb JSON null alike: for the object columns a flag
    column `__sql_null__<name>` tells them apart."""
    flags = "".join(f', "{c}" IS NULL AS "{SQL_NULL}{c}"' for c in objects)
    query = f'SELECT row_to_json(x) FROM (SELECT t.*{flags} FROM "{schema}"."{STREAM}" t) x'
    with subprocess.Popen([*psql, "-At", "-c", query], stdout=subprocess.PIPE,
                          encoding="utf-8", env=PSQL_ENV) as proc:
        for line in proc.stdout:
            yield json.loads(line, parse_float=Decimal)
    if proc.returncode:
        raise RuntimeError(f"psql failed on {query}")


def verify(messages: Path, psql: list[str], schema: str) -> dict:
    """Compare every declared column of every row sent with what landed."""
    sent: dict[str, dict] = {}
    props: dict = {}
    with messages.open(encoding="utf-8") as f:
        for line in f:
            message = json.loads(line, parse_float=Decimal)
            if message.get("stream") != STREAM:
                continue
            if message["type"] == "SCHEMA":
                props = message["schema"]["properties"]
            elif message["type"] == "RECORD":
                sent[message["record"][KEY]] = message["record"]  # the last one wins
    times = {n for n, p in props.items() if p.get("format") == "date-time"}
    objects = [n for n, p in props.items() if "object" in str(p.get("type"))]
    bad_values, bad_columns, first, json_nulls = 0, {}, "", 0
    seen: set[str] = set()
    for row in landed_rows(psql, schema, objects):
        want = sent.get(row.get(KEY))
        if want is None or row[KEY] in seen:
            first = first or f"{'duplicate' if want else 'unexpected'} row {short(row.get(KEY))}"
            bad_values += 1
            continue
        seen.add(row[KEY])
        for name in props:
            expected, got = want.get(name), row.get(name, "<no column>")
            if name in times and isinstance(expected, str) and isinstance(got, str):
                ok = parse_instant(expected) == parse_instant(got)
                shown = f"{expected} (UTC {parse_instant(expected).isoformat()})"
            else:
                ok = same(expected, got)
                shown = short(expected)
            if ok and expected is None and name in objects and not row[SQL_NULL + name]:
                json_nulls += 1  # a null (or absent) object landed as jsonb 'null', not NULL
            if not ok:
                bad_values += 1
                bad_columns[name] = bad_columns.get(name, 0) + 1
                first = first or f"{KEY} {want[KEY]}: {name} sent {shown}, landed {short(got)}"
    if len(seen) < len(sent):
        first = first or f"{len(sent) - len(seen)} of {len(sent)} rows missing"
        bad_values += len(sent) - len(seen)
    return {"rows": len(seen), "sent": len(sent), "bad_values": bad_values,
            "bad_columns": bad_columns, "first": first, "json_nulls": json_nulls}


def verify_in_child(messages: Path, psql: list[str], schema: str) -> dict:
    """verify() in a process of its own, so that this process never grows: a child started by
    vfork reports its parent's peak RSS until exec, which would inflate the target's figure."""
    done = subprocess.run([sys.executable, __file__, "--_verify",
                           json.dumps([str(messages), psql, schema])],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"verification failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


# --- messages --------------------------------------------------------------------------------
def tool(args: argparse.Namespace, name: str) -> str:
    for d in (args.project_bin, Path(sys.executable).parent, ROOT / ".venv" / "bin"):
        if d and (Path(d) / name).exists():
            return str(Path(d) / name)
    sys.exit(f"{name} not found: install the project (scripts/test) or pass --project-bin")


def generate(args: argparse.Namespace, out: Path) -> None:
    """The API double serves N cc rows; the tap (cc credentials only) reads them into `out`."""
    log(f"generating {args.rows} cc_cdrs messages with the API double and the tap ...")
    double = subprocess.Popen([tool(args, "nxcloud-double"), "--port", "0", "--cc-rows",
                               str(args.rows), "--flash-rows", "0", "--span-days", "20"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = double.stdout.readline()
        if not line:
            sys.exit("the API double did not start")
        served = json.loads(line)["config"]
        config = {k: served[k] for k in ("api_url", "start_date", "timezone", "cc_access_key",
                                         "cc_access_secret")}
        config["end_date"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        cfg = args.cache_dir / "tap-config.json"
        cfg.write_text(json.dumps(config))
        partial = out.with_suffix(".partial")
        with partial.open("wb") as f:
            subprocess.run([tool(args, "tap-nxcloud"), "--config", str(cfg)], stdout=f,
                           stderr=subprocess.DEVNULL, check=True)
    finally:
        double.terminate()
        double.wait()
    count = sum(1 for line in partial.open("rb") if is_cc_record(line))
    if count != args.rows:
        sys.exit(f"the tap emitted {count} records, not {args.rows}")
    partial.rename(out)


def base_messages(args: argparse.Namespace) -> Path:
    if args.messages:
        return args.messages
    path = args.cache_dir / f"{STREAM}-{args.rows}.jsonl"
    if not path.exists() or args.regenerate:
        generate(args, path)
    return path


def nul_files(src: Path, workdir: Path) -> list[tuple[str, Path, str, tuple]]:
    """Per probe a small file: the SCHEMA, three plain records, then one with a NUL."""
    head, records = [], []
    with src.open(encoding="utf-8") as f:
        for line in f:
            message = json.loads(line)
            if message["type"] == "SCHEMA":
                head.append(line)
            elif message["type"] == "RECORD" and message["stream"] == STREAM:
                records.append(message)
                if len(records) == 4:
                    break
    files = []
    for i, (label, patch, path) in enumerate(NUL_PROBES):
        probe = json.loads(json.dumps(records[3]))
        probe["record"].update(patch)
        file = workdir / f"nul-{i}.jsonl"
        file.write_text("".join(head) + "".join(json.dumps(r) + "\n" for r in records[:3])
                        + json.dumps(probe) + "\n", encoding="utf-8")
        files.append((label, file, probe["record"][KEY], path))
    return files


# --- the benchmark ---------------------------------------------------------------------------
class Bench:
    def __init__(self, args: argparse.Namespace, exe: str, conn: dict, psql: list[str],
                 messages: Path, rows: int) -> None:
        self.args, self.exe, self.conn, self.psql = args, exe, conn, psql
        self.messages, self.rows = messages, rows
        self.env = {k: v for k, v in os.environ.items() if k != "PGTZ"}
        if args.pgtz:
            self.env["PGTZ"] = args.pgtz
        self.results: dict[str, dict] = {}
        self.order: list[str] = []
        self.counter = 0

    def load(self, settings: dict, messages: Path) -> tuple[dict, str]:
        self.counter += 1
        schema = f"bench_{os.getpid()}_{self.counter}"
        sql(self.psql, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        config = {**self.conn, "default_target_schema": schema, **settings}
        return run_target(self.exe, config, messages, self.args.cache_dir, self.env), schema

    def measure(self, named: list[tuple[str, dict]]) -> None:
        """--runs loads of each setting, interleaved (run 1 of every setting, then run 2...)."""
        for label, settings in named:
            self.order.append(label)
            self.results[label] = {"settings": settings, "runs": [], "checks": []}
        for run in range(self.args.runs):
            for label, settings in named:
                result, schema = self.load(settings, self.messages)
                if result["rc"]:
                    check = {"bad_values": -1, "first": f"exit {result['rc']}: "
                                                        f"{result['error']}"}
                else:
                    check = verify_in_child(self.messages, self.psql, schema)
                sql(self.psql, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                self.results[label]["runs"].append(result)
                self.results[label]["checks"].append(check)
                log(f"  run {run + 1}/{self.args.runs} {label}: "
                    f"{self.rows / result['seconds']:,.0f} rows/s in {result['seconds']:.1f} s "
                    f"(CPU {result['cpu']:.1f} s), "
                    f"peak RSS {result['rss_mb']:.0f} MB, "
                    f"{'exact' if check['bad_values'] == 0 else check['first']}")

    def median_rate(self, label: str) -> float:
        return statistics.median(self.rows / r["seconds"] for r in self.results[label]["runs"])

    def exact(self, label: str) -> bool:
        return all(c["bad_values"] == 0 for c in self.results[label]["checks"])

    def nul(self, settings: dict, probes: list[tuple[str, Path, str, tuple]]) -> list[str]:
        outcome = []
        for _label, file, key, path in probes:
            result, schema = self.load(settings, file)
            if result["rc"]:
                outcome.append(f"error: {result['error']}")
            else:
                found = sql(self.psql, f'SELECT row_to_json(t) FROM "{schema}"."{STREAM}" t '
                                       f"""WHERE "{KEY}" = '{key}'""")
                value: object = json.loads(found[0]) if found else None
                for step in path:
                    value = value.get(step) if isinstance(value, dict) else None
                outcome.append("row lost" if not found else {
                    "a\ufffdb": "kept as U+FFFD", "ab": "NUL dropped", "a\u0000b": "kept",
                    None: "set to null"}.get(value, f"landed {value!r}"))
            sql(self.psql, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        return outcome


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [headers, ["-" * w for w in widths], *rows]]
    return "\n".join(lines)


# --- target-duckdb (loaders/target-duckdb-exact) ------------------------------------------------
DUCKDB_SOURCE = ROOT / "loaders" / "target-duckdb-exact"
# scripts/demo's counts of the other streams; cc_cdrs gets --rows
DEMO_ROWS = {"flash": 5000, "sms": 3000, "voice": 3000, "sip": 2000, "did": 2000, "email": 2000,
             "sms-report": 6, "balance": 1, "cc-agent": 40, "cc-group": 6, "ai-task": 12,
             "ai-call": 1500}
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # a write per line


def duckdb_pins() -> list[str]:
    """The loader's requirements besides itself, as meltano.yml installs it."""
    found = re.search(r"pip_url: \./loaders/target-duckdb-exact (.+)",
                      (ROOT / "meltano.yml").read_text())
    if not found:
        sys.exit("meltano.yml: no pip_url for ./loaders/target-duckdb-exact")
    return found.group(1).split()


def duckdb_targets(args: argparse.Namespace) -> list[tuple[str, str]]:
    """(label, executable) of each loader compared: --duckdb-target LABEL=EXE, or this tree's
    loader installed editable (so always its current source) with meltano.yml's pins."""
    if args.duckdb_target:
        return [tuple(t.split("=", 1)) if "=" in t else (Path(t).parent.parent.name, t)
                for t in args.duckdb_target]
    venv = args.cache_dir / ("venv-target-duckdb-exact-" + "-".join(duckdb_pins()))
    exe = venv / "bin" / "target-duckdb-exact"
    if not exe.exists():
        log(f"installing {DUCKDB_SOURCE.name} ({' '.join(duckdb_pins())}) into {venv} ...")
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        python = str(venv / "bin" / "python")
        if os.access(uv, os.X_OK):
            subprocess.run([uv, "venv", "-q", "-p", sys.executable, str(venv)], check=True)
            subprocess.run([uv, "pip", "install", "-q", "-p", python, "-e", str(DUCKDB_SOURCE),
                            *duckdb_pins()], check=True)
        else:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            "-e", str(DUCKDB_SOURCE), *duckdb_pins()], check=True)
    return [("target-duckdb-exact", str(exe))]


def in_loader(exe: str, *argv: str) -> dict:
    """This script's `argv` run by the Python of the loader's venv (it has duckdb)."""
    done = subprocess.run([str(Path(exe).parent / "python"), __file__, *argv],
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{argv[0]} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)


def verify_duckdb(messages: Path, db: str, schema: str) -> dict:
    """Compare every declared column of every cc_cdrs row sent with what landed in DuckDB:
    date-times as the same UTC instant, objects as the same JSON, numbers as the double
    nearest to the number sent, everything else equal and of the same type."""
    import duckdb  # noqa: PLC0415 (the loader's venv has it, this project's does not)

    sent: dict[str, dict] = {}
    props: dict = {}
    with messages.open(encoding="utf-8") as f:
        for line in f:
            message = json.loads(line, parse_float=Decimal)
            if message.get("stream") != STREAM:
                continue
            if message["type"] == "SCHEMA":
                props = message["schema"]["properties"]
            elif message["type"] == "RECORD":
                sent[message["record"][KEY]] = message["record"]
    con = duckdb.connect(db, read_only=True)
    cur = con.execute(f'SELECT * FROM "{schema}"."{STREAM}"')
    columns = [d[0] for d in cur.description]
    bad_values, bad_columns, first, seen = 0, {}, "", set()
    for values in cur.fetchall():
        row = dict(zip(columns, values, strict=True))
        key = row.get(KEY.lower())
        want = sent.get(key)
        if want is None or key in seen:
            first = first or f"{'duplicate' if want else 'unexpected'} row {short(key)}"
            bad_values += 1
            continue
        seen.add(key)
        for name, declared in props.items():
            expected, got = want.get(name), row.get(name.lower(), "<no column>")
            kinds = str(declared.get("type"))
            if expected is None or got is None:
                ok = expected is None and got is None
            elif declared.get("format") == "date-time":
                ok = parse_instant(expected) == got
            elif "object" in kinds or "array" in kinds:
                ok = isinstance(got, str) and same(expected, json.loads(got, parse_float=Decimal))
            elif "number" in kinds:
                ok = isinstance(got, float) and float(expected) == got
            else:
                ok = same(expected, got)
            if not ok:
                bad_values += 1
                bad_columns[name] = bad_columns.get(name, 0) + 1
                first = first or (f"{KEY} {want[KEY]}: {name} sent {short(expected)}, "
                                  f"landed {short(got)}")
    if len(seen) < len(sent):
        first = first or f"{len(sent) - len(seen)} of {len(sent)} rows missing"
        bad_values += len(sent) - len(seen)
    return {"rows": len(seen), "sent": len(sent), "bad_values": bad_values,
            "bad_columns": bad_columns, "first": first}


def count_duckdb(messages: Path, db: str, schema: str) -> dict:
    """Rows per table against the distinct keys of each stream in `messages` (a tap's run)."""
    import duckdb  # noqa: PLC0415

    keys: dict[str, list[str]] = {}
    distinct: dict[str, set] = {}
    with messages.open(encoding="utf-8") as f:
        for line in f:
            message = json.loads(line)
            if message["type"] == "SCHEMA":
                keys[message["stream"]] = message["key_properties"]
                distinct.setdefault(message["stream"], set())
            elif message["type"] == "RECORD":
                record = message["record"]
                distinct[message["stream"]].add(
                    json.dumps([record.get(k) for k in keys[message["stream"]]]))
    con = duckdb.connect(db, read_only=True)
    landed = {table: con.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchone()[0]
              for (table,) in con.execute("SELECT table_name FROM information_schema.tables "
                                          "WHERE table_schema = ?", [schema]).fetchall()}
    wrong = {s: [len(d), landed.get(s)] for s, d in distinct.items() if landed.get(s) != len(d)}
    return {"rows": sum(landed.values()), "sent": sum(len(d) for d in distinct.values()),
            "wrong": wrong}


def waited(proc: subprocess.Popen) -> dict:
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return {"end": time.perf_counter(), "rc": proc.returncode,
            "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}


class DoubleForPipeline:
    """The API double with every stream at the demo's counts (cc_cdrs: --rows), as scripts/demo
    starts it, and a tap config reading all of it."""

    def __init__(self, args: argparse.Namespace) -> None:
        cmd = [tool(args, "nxcloud-double"), "--port", "0", "--span-days", "6",
               "--cc-rows", str(args.rows)]
        for alias, n in DEMO_ROWS.items():
            cmd += [f"--{alias}-rows", str(n)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        line = self.proc.stdout.readline()
        if not line:
            sys.exit("the API double did not start")
        config = json.loads(line)["config"]
        config["end_date"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        self.config = args.cache_dir / "pipeline-tap-config.json"
        self.config.write_text(json.dumps(config))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def tap_alone(args: argparse.Namespace, config: Path, out: Path) -> dict:
    with out.open("wb") as sink, (args.cache_dir / "tap-stderr.log").open("wb") as err:
        start = time.perf_counter()
        tap = subprocess.Popen([tool(args, "tap-nxcloud"), "--config", str(config)],
                               stdout=sink, stderr=err, env=ENV)
        result = waited(tap)
    if result["rc"]:
        sys.exit(f"the tap failed: see {args.cache_dir / 'tap-stderr.log'}")
    return {**result, "seconds": result["end"] - start}


def tap_into(args: argparse.Namespace, config: Path, exe: str, target_config: Path) -> dict:
    """`tap | target`: the pipeline's wall time, and each process's own CPU and peak RSS."""
    with (args.cache_dir / "tap-stderr.log").open("wb") as err, \
            (args.cache_dir / "target-stderr.log").open("wb") as terr:
        start = time.perf_counter()
        tap = subprocess.Popen([tool(args, "tap-nxcloud"), "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=err, env=ENV)
        target = subprocess.Popen([exe, "--config", str(target_config)], stdin=tap.stdout,
                                  stdout=subprocess.DEVNULL, stderr=terr, env=ENV)
        tap.stdout.close()  # the target's alone: the tap sees a closed pipe if it exits
        tap_result, target_result = waited(tap), waited(target)
    if tap_result["rc"] or target_result["rc"]:
        sys.exit(f"tap | {exe} failed: see {args.cache_dir}/tap-stderr.log, target-stderr.log")
    return {"seconds": max(tap_result["end"], target_result["end"]) - start,
            "tap": tap_result, "target": target_result}


def duckdb_bench(args: argparse.Namespace, messages: Path, rows: int,
                 postgres_rate: float | None) -> None:
    """The exact DuckDB loader: (1) alone on the same cc_cdrs messages as target-postgres;
    (2) `tap | loader` against the tap alone, every stream at the demo's counts."""
    targets = duckdb_targets(args)
    extra = json.loads(args.duckdb_config)
    work = args.cache_dir / "duckdb"
    work.mkdir(exist_ok=True)

    def config_for(label: str) -> tuple[Path, str]:
        db = work / f"{re.sub(r'[^A-Za-z0-9_]', '_', label)}.duckdb"
        for leftover in (db, db.with_suffix(".duckdb.wal")):
            leftover.unlink(missing_ok=True)
        path = work / "target-config.json"
        path.write_text(json.dumps({"path": str(db), "default_target_schema": "nxcloud",
                                    **extra}))
        return path, str(db)

    started, load_before = time.time(), os.getloadavg()[0]
    alone: dict[str, list] = {label: [] for label, _ in targets}
    if "alone" in args.duckdb_parts:
        log(f"target-duckdb-exact alone on {messages.name}:")
        for run in range(args.runs):
            for label, exe in targets:
                config, db = config_for(label)
                result = run_target(exe, json.loads(config.read_text()), messages, work, ENV)
                check = ({"bad_values": -1, "first": f"exit {result['rc']}: {result['error']}"}
                         if result["rc"] else
                         in_loader(exe, "--_verify_duckdb", json.dumps([str(messages), db,
                                                                        "nxcloud"])))
                alone[label].append((result, check))
                log(f"  run {run + 1}/{args.runs} {label}: {rows / result['seconds']:,.0f} "
                    f"rows/s in {result['seconds']:.1f} s (CPU {result['cpu']:.1f} s), peak RSS "
                    f"{result['rss_mb']:.0f} MB, "
                    f"{'exact' if check['bad_values'] == 0 else check['first']}")

    piped: dict[str, list] = {label: [] for label, _ in targets}
    taps: list[dict] = []
    if "pipeline" in args.duckdb_parts:
        double = DoubleForPipeline(args)
        try:
            out = work / "tap-alone.jsonl"
            log(f"tap alone, and tap | target-duckdb-exact: {args.rows} cc_cdrs rows and the "
                f"demo's counts of the other streams:")
            for run in range(args.runs):
                taps.append(tap_alone(args, double.config, out))
                log(f"  run {run + 1}/{args.runs} tap alone: {taps[-1]['seconds']:.1f} s "
                    f"(CPU {taps[-1]['cpu']:.1f} s), peak RSS {taps[-1]['rss_mb']:.0f} MB")
                for label, exe in targets:
                    config, db = config_for(label)
                    result = tap_into(args, double.config, exe, config)
                    result["check"] = in_loader(exe, "--_count_duckdb",
                                                json.dumps([str(out), db, "nxcloud"]))
                    piped[label].append(result)
                    check = result["check"]
                    wrong = f", WRONG {check['wrong']}" if check["wrong"] else ""
                    log(f"  run {run + 1}/{args.runs} tap | {label}: {result['seconds']:.1f} s; "
                        f"tap CPU {result['tap']['cpu']:.1f} s, loader CPU "
                        f"{result['target']['cpu']:.1f} s, loader peak RSS "
                        f"{result['target']['rss_mb']:.0f} MB; {check['rows']} rows of "
                        f"{check['sent']} keys{wrong}")
        finally:
            double.stop()

    med = statistics.median
    print(f"\ntarget-duckdb-exact ({', '.join(f'{label}: {exe}' for label, exe in targets)}); "
          f"config {extra or '{}'} besides path and schema; median of {args.runs}; "
          f"{time.time() - started:.0f} s; {os.cpu_count()} CPUs, load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    if any(alone.values()):
        out_rows = []
        for label, runs in alone.items():
            rate = med(rows / r["seconds"] for r, _ in runs)
            bad = next((c for _, c in runs if c["bad_values"]), None)
            out_rows.append([label, f"{rate:,.0f}",
                             f"{rate / postgres_rate:.2f}" if postgres_rate else "-",
                             f"{med(r['cpu'] for r, _ in runs):.1f}",
                             f"{max(r['rss_mb'] for r, _ in runs):.0f}",
                             "yes" if bad is None else f"NO: {bad['bad_values']} values; "
                                                       f"first: {bad['first']}"])
        print(f"alone on the {rows} cc_cdrs rows of {messages.name} (target < file):")
        print(table(["loader", "rows/s", "x target-postgres defaults", "target CPU s",
                     "peak RSS MB", "exact"], out_rows))
    if taps:
        tap_s, tap_cpu = med(t["seconds"] for t in taps), med(t["cpu"] for t in taps)
        out_rows = []
        for label, runs in piped.items():
            wall = med(r["seconds"] for r in runs)
            loader_cpu = med(r["target"]["cpu"] for r in runs)
            in_tap_cpu = med(r["tap"]["cpu"] for r in runs)
            wrong = [r["check"]["wrong"] for r in runs if r["check"]["wrong"]]
            out_rows.append([label, f"{tap_s:.1f}", f"{tap_cpu:.1f}", f"{wall:.1f}",
                             f"{wall / tap_s:.2f}", f"{in_tap_cpu:.1f}", f"{loader_cpu:.1f}",
                             f"{loader_cpu / in_tap_cpu:.2f}",
                             f"{max(r['target']['rss_mb'] for r in runs):.0f}",
                             f"{runs[0]['check']['rows']}" + (f" WRONG {wrong[0]}" if wrong
                                                              else "")])
        print(f"tap | loader, {args.rows} cc_cdrs rows and the demo's other streams "
              f"(tap alone: peak RSS {max(t['rss_mb'] for t in taps):.0f} MB):")
        print(table(["loader", "tap alone s", "tap alone CPU s", "tap | loader s",
                     "x tap alone", "tap CPU s", "loader CPU s", "loader/tap CPU",
                     "loader peak RSS MB", "rows landed"], out_rows))
        print("(s: wall time, median; CPU: user+sys of that process, median; tap CPU: the tap's "
              "own in the same pipeline; rows landed: checked against the distinct keys of each "
              "stream in the tap-alone run)")


def postgres_bench(args: argparse.Namespace, src: Path, messages: Path, rows: int) -> float:
    """target-postgres's settings (the module's docstring); returns the defaults' rows/s."""
    exe = target_executable(args)
    started, load_before = time.time(), os.getloadavg()[0]
    with (given_dsn(args.dsn) if args.dsn else throwaway_cluster()) as (conn, psql):
        bench = Bench(args, exe, conn, psql, messages, rows)
        log("base settings:")
        bench.measure(BASE_SETTINGS)
        exact = [label for label, _ in BASE_SETTINGS if bench.exact(label)]
        best = max(exact or [label for label, _ in BASE_SETTINGS], key=bench.median_rate)
        base = bench.results[best]["settings"]
        sizes = [int(s) for s in args.batch_sizes.split(",") if s]
        log(f"batch sizes on {best}:")
        bench.measure([(f"{best} batch_size_rows={n}", {**base, "batch_size_rows": n})
                       for n in sizes]
                      + [(f"{best} sanitize_null_text_characters=true", {**base, **SANITIZE})])
        nul: dict[str, list[str]] = {}
        if not args.skip_nul:
            log("NUL probes:")
            probes = nul_files(src, args.cache_dir)
            for label, settings in BASE_SETTINGS:
                for suffix, extra in (("", {}), (" sanitize_null_text_characters=true",
                                                 SANITIZE)):
                    nul[label + suffix] = bench.nul({**settings, **extra}, probes)
                    log(f"  {label + suffix}: {nul[label + suffix]}")

    defaults = bench.median_rate("defaults")
    out = []
    for label in bench.order:
        r = bench.results[label]
        bad = next((c for c in r["checks"] if c["bad_values"]), None)
        out.append([label, f"{bench.median_rate(label):,.0f}",
                    f"{bench.median_rate(label) / defaults:.2f}",
                    f"{statistics.median(x['cpu'] for x in r['runs']):.1f}",
                    f"{max(x['rss_mb'] for x in r['runs']):.0f}",
                    "yes" if bad is None else
                    f"NO: {bad['bad_values']} values "
                    f"({', '.join(f'{k} {v}' for k, v in bad.get('bad_columns', {}).items())}); "
                    f"first: {bad['first']}"])
    print(f"target-postgres: {exe} ({args.target or args.target_spec}); {rows} cc_cdrs rows "
          f"from {messages.name}; median of {args.runs}; PGTZ={args.pgtz or '(unset)'}; "
          f"{'DSN' if args.dsn else f'throwaway cluster, server zone {SERVER_ZONE}'}; "
          f"{time.time() - started:.0f} s; {os.cpu_count()} CPUs, load average "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after")
    print(table(["setting", "rows/s", "x defaults", "target CPU s", "peak RSS MB", "exact"],
                out))
    print("(rows/s: rows / wall time of the target, median; target CPU s: its user+sys, median; "
          "peak RSS: the largest of the runs. batch_size_rows=10000 is the SDK's default, so that "
          "row repeats its base setting: the difference between the two is drift between runs.)")
    if nul:
        print()
        print(table(["setting: NUL (U+0000) in", *(label for label, _, _ in NUL_PROBES)],
                    [[label, *outcome] for label, outcome in nul.items()]))
    nulls = {label: max(c.get("json_nulls", 0) for c in bench.results[label]["checks"])
             for label in bench.order}
    if any(nulls.values()):
        counts = set(nulls.values())
        print("\nnote: rows sent with extra_fields null or absent that landed as jsonb 'null' "
              "(not SQL NULL; counted as exact): "
              + (f"{counts.pop()} of {rows} in every setting" if len(counts) == 1 else
                 ", ".join(f"{label} {n}" for label, n in nulls.items())))
    fastest = max((label for label in bench.order if bench.exact(label)),
                  key=bench.median_rate, default=None)
    print(f"\nfastest exact setting: {fastest or 'none'}")
    return defaults


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--_verify"]:
        messages, psql, schema = json.loads(argv[1])
        print(json.dumps(verify(Path(messages), psql, schema)))
        return 0
    if argv[:1] in (["--_verify_duckdb"], ["--_count_duckdb"]):
        messages, db, schema = json.loads(argv[1])
        check = verify_duckdb if argv[0] == "--_verify_duckdb" else count_duckdb
        print(json.dumps(check(Path(messages), db, schema)))
        return 0
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tap-nxcloud-bench"
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=200_000, help="cc rows to load (default 200000)")
    p.add_argument("--runs", type=int, default=3, help="loads per setting; the median is shown")
    p.add_argument("--quick", action="store_true",
                   help="a small run: 5 000 rows, 1 run, batch sizes 1000,5000")
    p.add_argument("--batch-sizes", default="10000,50000,100000",
                   help="batch_size_rows values tried on the fastest exact base setting")
    p.add_argument("--target", help="a target-postgres executable (default: a venv of "
                                    "--target-spec created in --cache-dir)")
    p.add_argument("--target-spec", default=TARGET_SPEC)
    p.add_argument("--cache-dir", type=Path, default=cache,
                   help=f"venv, messages, logs (default {cache})")
    p.add_argument("--messages", type=Path, help="Singer messages of cc_cdrs to use instead of "
                                                 "generating them (hard values are added)")
    p.add_argument("--regenerate", action="store_true", help="generate the messages again")
    p.add_argument("--project-bin", type=Path,
                   help="folder of tap-nxcloud and nxcloud-double (default: this Python's)")
    p.add_argument("--dsn", help="load into this PostgreSQL (postgresql://user:pw@host:port/db) "
                                 "instead of a throwaway cluster; schemas bench_* are dropped")
    p.add_argument("--pgtz", default="UTC", help="PGTZ of the target ('' leaves it unset)")
    p.add_argument("--skip-nul", action="store_true", help="skip the NUL probes")
    p.add_argument("--loaders", default="postgres,duckdb",
                   help="postgres (target-postgres' settings), duckdb (loaders/"
                        "target-duckdb-exact), or both (default)")
    p.add_argument("--duckdb-parts", default="alone,pipeline",
                   help="alone: the loader on the same cc_cdrs messages as target-postgres; "
                        "pipeline: tap | loader against the tap alone, every stream")
    p.add_argument("--duckdb-target", action="append", metavar="[LABEL=]EXE",
                   help="a target-duckdb-exact executable to measure (repeat to compare; "
                        "default: this tree's loader, installed editable in --cache-dir)")
    p.add_argument("--duckdb-config", default="{}",
                   help='JSON merged into the DuckDB loader\'s config, e.g. '
                        '\'{"batch_size_rows": 50000}\'')
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.runs = 5000, 1
        if args.batch_sizes == p.get_default("batch_sizes"):
            args.batch_sizes = "1000,5000"
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    args.cache_dir.chmod(0o755)

    src = base_messages(args)
    messages = args.cache_dir / f"{src.stem}-hard.jsonl"
    rows = inject(src, messages)
    log(f"{rows} records in {messages} ({len(HARD)} with hard values)")

    postgres_rate = None
    if "postgres" in args.loaders:
        postgres_rate = postgres_bench(args, src, messages, rows)
    if "duckdb" in args.loaders:
        duckdb_bench(args, messages, rows, postgres_rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
