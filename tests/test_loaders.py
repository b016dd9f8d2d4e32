"""The embedded default pipeline, `meltano run tap-nxcloud target-duckdb`, loads any text.

Every stream's rows carry hard text (quotes, backslashes, `\\N`, line breaks, tabs, CJK, emoji,
long values) and now and then an `extra_fields` object. The contact-center batch opens with
3 000 rows that DuckDB's CSV sniffer reads as "quoted, no doubled quote" and only then brings
`"`: the data that failed target-duckdb 0.8.0's own load (it guesses its CSV dialect from the
first 2 048 lines). Every value is read back from DuckDB and compared with what the tap emitted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

import pytest

from nxcloud_double import ApiDouble, config_for
from nxcloud_double.data import HARD_TEXTS
from tap_nxcloud.streams import STREAMS

from .conftest import BIN, ZONE, load_stream, want_records

ROOT = Path(__file__).resolve().parent.parent
MELTANO = str(BIN / "meltano")
EXPORT = """
import datetime, decimal, json, sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
out = {}
for (table,) in con.execute("select table_name from information_schema.tables "
                            "where table_schema = 'nxcloud'").fetchall():
    cur = con.execute(f'select * from "{sys.argv[2]}".nxcloud."{table}"')
    names = [d[0] for d in cur.description]
    out[table] = [dict(zip(names, row)) for row in cur.fetchall()]
def text(value):
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
print(json.dumps(out, default=text))
"""


@pytest.fixture(scope="module")
def meltano_env(tmp_path_factory) -> dict:
    sysdir = tmp_path_factory.mktemp("meltano-duckdb")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TAP_NXCLOUD", "TARGET_", "MELTANO_"))}
    env.update({"MELTANO_SYS_DIR_ROOT": str(sysdir / ".meltano"),
                "MELTANO_DATABASE_URI": f"sqlite:///{sysdir}/meltano.db",
                "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "UV_COMPILE_BYTECODE": "1",
                "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    done = subprocess.run([MELTANO, "install", "tap-nxcloud", "target-duckdb"], cwd=ROOT,
                          env=env, capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    env["LOADER_PYTHON"] = str(sysdir / ".meltano/loaders/target-duckdb/venv/bin/python")
    return env


def _plain(rows: list[dict]) -> list[dict]:
    """The rows as ordinary data looks: no hard text, no undeclared field; some values are
    still quoted in a CSV (DTMF keys "1,2"), none holds a `"` or a backslash."""
    def clean(value):
        if isinstance(value, str) and (value in HARD_TEXTS or any(c in value for c in '"\\')):
            return "plain text"
        return value
    return [{k: clean(v) for k, v in row.items() if k != "remark"} for row in rows]


def _landed(value, declared: dict):
    """A tap record's value as target-duckdb stores it: date-times as naive UTC timestamps,
    objects as JSON text."""
    if value is None:
        return None
    if declared.get("format") == "date-time":
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, dict | list):
        return value
    return value


def _read(value, declared: dict):
    if value is None:
        return None
    if declared.get("format") == "date-time":
        return dt.datetime.fromisoformat(value)
    if "object" in declared.get("type", ()) or "array" in declared.get("type", ()):
        return json.loads(value) if isinstance(value, str) else value
    if "number" in declared.get("type", ()):
        return float(value)
    return value


def test_the_default_duckdb_pipeline_loads_any_text_deep_in_a_batch(meltano_env, tmp_path):
    now = dt.datetime.now(ZONE).replace(second=0, microsecond=0)
    span = (now - dt.timedelta(days=2), now - dt.timedelta(minutes=10))
    with ApiDouble() as double:
        # the contact center: 3 000 rows without a quote first, then the hard ones
        first_day = (span[0], span[0] + dt.timedelta(hours=20))
        plain = _plain(load_stream(double, "cc_cdrs", 3000, seed=32, span=first_day))
        double.tables["cc_cdrs"].add(plain)
        for spec in STREAMS:
            n = 60 if spec.min_interval else 800
            load_stream(double, spec.name, n, seed=31,
                        span=(first_day[1], span[1]) if spec.name == "cc_cdrs" else span)
        assert any("," in str(r.get("dtmfKeys")) for r in plain)  # quoted in the CSV
        assert any('"' in json.dumps(r, ensure_ascii=False) for r in double.cc.rows())
        config = config_for(double, span[0].isoformat(), end_date=span[1].isoformat(),
                            max_workers=4)
        env = {**meltano_env, **{f"TAP_NXCLOUD_{k.upper()}": str(v) for k, v in config.items()},
               "TARGET_DUCKDB_PATH": str(tmp_path / "out.duckdb")}
        done = subprocess.run([MELTANO, "run", "tap-nxcloud", "target-duckdb"], cwd=ROOT,
                              env=env, capture_output=True, text=True, check=False, timeout=900)
        assert done.returncode == 0, done.stderr[-4000:]
        wants = {spec.name: want_records(double, spec.name, span) for spec in STREAMS}
    export = subprocess.run([meltano_env["LOADER_PYTHON"], "-c", EXPORT,
                             str(tmp_path / "out.duckdb"), "out"], capture_output=True, text=True,
                            check=False, timeout=120)
    assert export.returncode == 0, export.stderr
    tables = json.loads(export.stdout)
    hard_seen = 0
    for spec in STREAMS:
        want = wants[spec.name]
        rows = tables[spec.name]
        assert len(rows) == len(want), spec.name
        props = {k.lower(): v for k, v in _props(spec.name).items()}
        # keys as they landed (a date-time key, sms_daily_reports' date, as a UTC timestamp)
        want = {tuple(_landed(v, props.get(k.lower(), {})) for k, v in zip(
            [k for k in spec.primary_keys if k != "fetched_at"], key, strict=True)): record
            for key, record in want.items()}
        for row in rows:
            record = {k: v for k, v in row.items() if not k.startswith("_sdc_")}
            key = tuple(_read(record[k.lower()], props.get(k.lower(), {}))
                        for k in spec.primary_keys if k != "fetched_at")
            expected = {k.lower(): v for k, v in want[key].items()}
            for column, value in record.items():
                declared = props.get(column, {})
                if column == "fetched_at":  # the tap's own time of the snapshot: this run's
                    assert _read(value, declared).date() >= span[0].date()
                    continue
                got, sent = _read(value, declared), _landed(expected.get(column), declared)
                assert got == sent, (spec.name, key, column, value, expected.get(column))
                hard_seen += isinstance(sent, str) and any(c in sent for c in '"\\\n\t')
    assert hard_seen > 100  # the hard values did go through


def _props(stream: str) -> dict:
    from tap_nxcloud.schemas import load
    props = load(stream)["properties"]
    return {**props, "extra_fields": {"type": ["object", "null"]}}
