"""The exact DuckDB loader's one-pass path lands what its flattening path landed, value for value.

loaders/target-duckdb-exact reads each record's key straight from the record and turns the record
into its CSV line when it arrives (data_flattening_max_level 0). Before, target-duckdb 0.8.0's
persist_lines flattened each record for its key, kept the record, and the loader's load_rows
flattened it again and built the line field by field. That path is kept here, verbatim
(REFERENCE: the loader's module as it was, on target-duckdb's own persist_lines), and both load the
same Singer messages of hard values into DuckDB: every table, column type and row (each value
with its type; in key order, and in storage order too when both run DuckDB's same number of
threads) and every STATE line written must be the same.

Both run in a virtualenv of the loader's pins (meltano.yml: target-duckdb 0.8.0, duckdb 1.2.2)
kept in pytest's cache, with the loader's source from this working tree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "loaders" / "target-duckdb-exact"

# The loader module before the one-pass path (its _utc, _field and load_rows), verbatim.
REFERENCE = r'''
import datetime as _dt
import json
import os
from decimal import Decimal

from target_duckdb import db_sync

_MAX_LINE = 2_097_152  # duckdb's default max_line_size


def _utc(value):
    """An RFC 3339 date-time as a UTC wall-clock string; anything else unchanged."""
    if not isinstance(value, str):
        return value
    text = value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value
    try:
        parsed = _dt.datetime.fromisoformat(text)
    except ValueError:
        return value  # let DuckDB accept or reject it, as target-duckdb does
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return parsed.isoformat(sep=" ")


def _field(value):
    if value is None:
        return ""  # unquoted empty field: NULL
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, Decimal):
        text = str(value)
    else:
        text = str(value)
    return '"' + text.replace('"', '""') + '"'  # quoted: an empty string stays a string


def _load_rows(self, records, count, temp_dir):
    stream = self.stream_schema_message["stream"]
    self.logger.info("Loading %d rows into '%s'", count, self.table_name(stream, False))
    cur = self.conn
    temp_table = self.table_name(stream, is_temporary=True)
    temp_file_csv = os.path.join(temp_dir, f"{temp_table}.csv")
    names = list(self.flatten_schema)
    stamps = {n for n, s in self.flatten_schema.items() if db_sync.column_type(s) == "timestamp"}
    longest = 0
    try:
        with open(temp_file_csv, "w", encoding="utf-8", newline="") as f:
            for record in records:
                flat = db_sync.flatten_record(record, self.flatten_schema,
                                              max_level=self.data_flattening_max_level)
                line = ",".join(
                    _field(_utc(flat.get(n)) if n in stamps else flat.get(n)) for n in names)
                longest = max(longest, len(line) * 4)  # an upper bound of its UTF-8 size
                f.write(line + "\n")
        max_line = max(_MAX_LINE, longest + 1024)
        path = temp_file_csv.replace("'", "''")
        # one transaction per batch: a failed batch leaves no tmp_ table and no half-upsert
        cur.execute("BEGIN TRANSACTION")
        try:
            cur.execute(self.create_table_query(table_name=temp_table, is_temporary=True))
            cur.execute(
                f"COPY {temp_table} FROM '{path}' (FORMAT csv, AUTO_DETECT false, "
                f"HEADER false, DELIMITER ',', QUOTE '\"', ESCAPE '\"', NEW_LINE '\\n', "
                f"NULL '', ALLOW_QUOTED_NULLS false, MAX_LINE_SIZE {max_line}, "
                f"BUFFER_SIZE {max(16 * _MAX_LINE, 2 * max_line)})"
            )
            if len(self.stream_schema_message["key_properties"]) > 0:
                cur.execute(self.update_from_temp_table(temp_table))
            cur.execute(self.insert_from_temp_table(temp_table))
            cur.execute(f"DROP TABLE {temp_table}")
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
    finally:
        if os.path.exists(temp_file_csv):
            os.unlink(temp_file_csv)
'''

# Run in the loader's virtualenv: `load reference|fast CONFIG` (messages on stdin, STATE on
# stdout; fast: the loader's own main), `dump DB SCHEMA` (tables as JSON), `utc` (the fast
# date-time text against _utc).
HELPER = r'''
import io, json, sys
sys.path.insert(0, sys.argv[1])
import target_duckdb
from target_duckdb import db_sync
import target_duckdb_exact

def load(mode, config_path):
    if mode == "fast":  # the loader's command, as meltano.yml runs it
        sys.argv = ["target-duckdb-exact", "--config", config_path]
        target_duckdb_exact.main()
        return
    config = json.load(open(config_path))
    scope = {}
    exec(open(sys.argv[2]).read(), scope)
    db_sync.DbSync.load_rows = scope["_load_rows"]
    messages = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")
    connection = target_duckdb.duckdb_connect(config)
    target_duckdb.persist_lines(connection, config, messages)
    connection.close()

def dump(path, schema):
    import duckdb
    con = duckdb.connect(path, read_only=True)
    out = {}
    for (table,) in con.execute("SELECT table_name FROM information_schema.tables WHERE "
                                "table_schema = ? ORDER BY table_name", [schema]).fetchall():
        columns = con.execute("SELECT column_name, data_type FROM information_schema.columns "
                              "WHERE table_schema = ? AND table_name = ? "
                              "ORDER BY ordinal_position", [schema, table]).fetchall()
        rows = con.execute(f'SELECT * FROM "{schema}"."{table}" ORDER BY rowid').fetchall()
        out[table] = {"columns": columns, "rows": [[repr(v) for v in row] for row in rows]}
    print(json.dumps(out))

def utc():
    values = json.load(sys.stdin)
    slow = target_duckdb_exact._utc
    fast = target_duckdb_exact._utc_text
    bad = []
    for _ in range(2):  # the second time from the kept minutes and tails
        for value in values:
            try:
                want = ("ok", slow(value))
            except Exception as e:
                want = ("error", type(e).__name__)
            try:
                got = ("ok", fast(value))
            except Exception as e:
                got = ("error", type(e).__name__)
            if got != want:
                bad.append([value, want, got])
    print(json.dumps(bad[:20]))

{"load": lambda: load(sys.argv[4], sys.argv[5]), "dump": lambda: dump(sys.argv[4], sys.argv[5]),
 "utc": utc}[sys.argv[3]]()
'''


def _pins() -> list[str]:
    """The loader's requirements besides itself, as meltano.yml installs it."""
    text = (ROOT / "meltano.yml").read_text()
    found = re.search(r"pip_url: \./loaders/target-duckdb-exact (.+)", text)
    assert found, "meltano.yml: no pip_url for ./loaders/target-duckdb-exact"
    return found.group(1).split()


@pytest.fixture(scope="session")
def loader(request, tmp_path_factory) -> list[str]:
    """The command prefix running HELPER in a virtualenv of the loader's pins."""
    pins = _pins()
    home = request.config.cache.mkdir("duckdb-loader-" + "-".join(pins).replace("=", ""))
    python = home / "bin" / "python"
    if not python.exists():
        uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
        if os.access(uv, os.X_OK):
            subprocess.run([uv, "venv", "-q", "--allow-existing", "-p", sys.executable,
                            str(home)], check=True)
            subprocess.run([uv, "pip", "install", "-q", "-p", str(python), *pins], check=True)
        else:
            venv.create(home, with_pip=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q",
                            "--disable-pip-version-check", *pins], check=True)
    folder = tmp_path_factory.mktemp("duckdb-loader")
    (folder / "helper.py").write_text(HELPER)
    (folder / "reference.py").write_text(REFERENCE)
    return [str(python), str(folder / "helper.py"), str(SOURCE), str(folder / "reference.py")]


# --- the messages ----------------------------------------------------------------------------
HARD_TEXT = [
    'say "hi"', '"', '""', "C:\\new\\table", "\\", "\\N", "\\.", "NULL", "null", "", " ",
    "line1\nline2", "line1\r\nline2", "\r", "a\rb\r", "a\tb", "a\u0000b", "\u0000",
    "牛小信", "用户挂断", "🎧", "emoji 🎧 and 牛 and \u200d", "a,b", '","', "'", "\u00a0",
    "\ufeffx",
    "x" * 3000 + '"\n' + "牛" * 1000,
]
TIMES = [
    "2026-12-02T00:01:43+08:00", "2026-12-02T00:01:43.5+08:00", "2026-12-01T23:59:59-05:30",
    "2026-12-02T00:01:43Z", "2026-12-02T00:01:43.324Z", "2026-12-02T00:01:43.000Z",
    "2026-12-02T00:01:43.000000+08:00", "2026-12-02T00:01:43.123456Z",
    "2026-12-02T00:01:43.1234567Z", "2026-12-31T23:30:00-05:45", "2026-01-01T00:15:00+05:45",
    "2024-02-29T23:00:00-02:00", "2026-12-02T00:01:43z", "2026-12-02 00:01:43+08:00",
    "2026-12-02T00:01:43", "2026-12-02T00:01:43.250", "2026-12-02", "2026-12-02T00:01:43+0800",
    "2026-12-02T24:00:00Z", "2026-12-02T00:01+08:00",
]
OBJECTS = [
    {}, {"k": None}, {"quote": 'say "hi"', "nl": "a\nb", "crlf": "a\r\nb", "nul": "a\u0000b",
                      "cjk": "牛小信", "emoji": "🎧", "n": 0.035, "i": 12, "big": 2**70,
                      "nested": {"list": [1, 2.5, None, True, False, 'x"y'], "deep": {"k": "v"}},
                      'key "with" quote\n': "value"},
    [], [1, "a", None], {"a": [{"b": []}]},
]
NUMBERS = [0, -1, 12, 2**31, 2**63 - 1, 2**63 + 1, -(2**70), 10**30]
FLOATS = [0.0, -0.0, 0.035, 1e-07, -1.5, 123456.789012, 1e300, 12.0, 0.1 + 0.2, 5e-324,
          float("inf"), float("nan")]


def _schema(extra: dict | None = None) -> dict:
    props = {
        "id": {"type": ["string"]},
        "text": {"type": ["null", "string"]},
        "other": {"type": ["null", "string"]},
        "count": {"type": ["null", "integer"]},
        "small": {"type": ["null", "integer"], "maximum": 100},
        "price": {"type": ["null", "number"]},
        "flag": {"type": ["null", "boolean"]},
        "startTime": {"type": ["null", "string"], "format": "date-time"},
        "endTime": {"type": ["null", "string"], "format": "date-time"},
        "clock": {"type": ["null", "string"], "format": "time"},
        "mixed": {"type": ["null", "integer", "string"]},
        "extra_fields": {"type": ["object", "null"]},
        "tags": {"type": ["array", "null"]},
        "blob": {"type": ["null", "object", "array"]},
        "point": {"type": ["object", "null"], "properties": {"x": {"type": ["null", "number"]},
                                                             "y": {"type": ["null", "string"]}}},
    }
    return {"type": "object", "properties": {**props, **(extra or {})}}


def _record(i: int) -> dict:
    """A record full of hard values; some fields absent, some null, some undeclared."""
    pick = lambda values, k=1: values[(i * k) % len(values)]  # noqa: E731
    record = {
        "id": f"r{i}",
        "text": pick(HARD_TEXT),
        "other": pick(HARD_TEXT, 7),
        "count": pick(NUMBERS),
        "small": i % 100,
        "price": pick(FLOATS),
        "flag": (True, False, None)[i % 3],
        "startTime": pick(TIMES),
        "endTime": pick(TIMES, 3) if i % 5 else None,
        "clock": "12:34:56.789",
        "mixed": (12, "12", "0012", 2**65, "x")[i % 5],
        "extra_fields": pick(OBJECTS) if i % 4 else None,
        "tags": [pick(HARD_TEXT), i] if i % 3 else None,
        "blob": pick(OBJECTS, 5) if i % 7 else None,  # null, present: the JSON text null
        "point": {"x": pick(FLOATS), "y": pick(HARD_TEXT, 3)} if i % 2 else None,
        "undeclared": {"k": pick(HARD_TEXT)},
    }
    for name in ("other", "endTime", "blob", "flag", "point")[: i % 6]:
        del record[name]  # absent, not null: the dumped column "blob" tells them apart
    if i % 11 == 0:
        record["text"] = 5 if i % 22 else True  # a number and a boolean in a text column
        record["price"] = 7  # an integer in a number column
    return record


# i -> the key its record's twin carries: r121 opens the batch after the SCHEMA change at 120,
# r239 is the last record
AGAIN = {30: "r5", 31: "r6", 33: "r5", 95: "r70", 150: "r125", 200: "r121", 239: "r239"}


def messages(json_keys: bool = True) -> list[dict]:
    out: list[dict] = [
        {"type": "STATE", "value": {"bookmarks": {"hard": {"n": -1}}}},
        {"type": "SCHEMA", "stream": "hard", "schema": _schema(), "key_properties": ["id"]},
        {"type": "SCHEMA", "stream": "pairs", "key_properties": ["kind", "seq"],
         "schema": {"properties": {"kind": {"type": ["string"]}, "seq": {"type": ["integer"]},
                                   "at": {"type": ["null", "string"], "format": "date-time"},
                                   "note": {"type": ["null", "string"]}}}},
    ]
    for i in range(240):
        out.append({"type": "RECORD", "stream": "hard", "record": _record(i),
                    "time_extracted": "2026-12-02T00:00:00+00:00"})
        if i % 3 == 0:
            out.append({"type": "RECORD", "stream": "pairs", "record": {
                "kind": pick_kind(i), "seq": i % 9, "at": TIMES[i % len(TIMES)],
                "note": HARD_TEXT[i % len(HARD_TEXT)]}})
        if i % 10 == 9:
            out.append({"type": "STATE", "value": {"bookmarks": {"hard": {"n": i},
                                                                 "pairs": {"n": i // 3}}}})
        if i in AGAIN:  # a key sent again (r5 twice): in its batch, or in a later one
            again = _record(i + 1000)
            again["id"] = AGAIN[i]
            out.append({"type": "RECORD", "stream": "hard", "record": again})
        if i == 120:  # the stream's schema changes: its rows so far are loaded first
            out.append({"type": "SCHEMA", "stream": "hard", "key_properties": ["id"],
                        "schema": _schema({"added": {"type": ["null", "string"]}})})
    out.append({"type": "RECORD", "stream": "hard", "record": {"id": "", "text": "empty key"}})
    if json_keys:
        out += _json_keys()
    out.append({"type": "ACTIVATE_VERSION", "stream": "hard", "version": 1})
    out.append({"type": "STATE", "value": {"bookmarks": {"hard": {"n": "end", "t": "牛\n\"q\""}}}})
    return out


def _json_keys() -> list[dict]:
    """Keys that are JSON: the key string is their JSON text (1 and "1" are two keys). Not with
    flattening on: it takes the objects apart, and the key with them."""
    out: list[dict] = []
    out.append({"type": "SCHEMA", "stream": "keyed", "key_properties": ["k", "o"], "schema": {
        "properties": {"k": {"type": ["null", "object", "array"]}, "o": {"type": ["object"]},
                       "v": {"type": ["null", "string"]}}}})
    for n, (k, o) in enumerate([(1, {}), ("1", {}), ({"a": 1}, {"b": "牛"}), ([1], {}),
                                ({"a": True}, {}), ({"a": 1}, {"b": "牛"}), ("1", {}),
                                ({"a": 1}, {"b": "牛\n"})]):
        out.append({"type": "RECORD", "stream": "keyed", "record": {"k": k, "o": o, "v": str(n)}})
    return out


def pick_kind(i: int) -> str:
    return ("a", "b,c", 'q"', "牛", "")[i % 5]


def _run_both(loader, tmp_path: Path, lines: list[str], ok: bool = True, **settings) -> dict:
    """Load `lines` through both paths: each path's exit code, error, STATE output and tables."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    feed = tmp_path / "messages.jsonl"
    feed.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    out = {}
    for mode in ("reference", "fast"):
        db = tmp_path / f"{mode}.duckdb"
        config = tmp_path / f"{mode}.json"
        config.write_text(json.dumps({"path": str(db), "default_target_schema": "exact",
                                      "temp_dir": str(tmp_path), **settings}))
        with feed.open("rb") as stdin:
            done = subprocess.run([*loader, "load", mode, str(config)], stdin=stdin,
                                  capture_output=True, check=False, timeout=300)
        error = done.stderr.decode(errors="replace")[-3000:]
        assert (done.returncode == 0) == ok, error
        tables = subprocess.run([*loader, "dump", str(db), "exact"], capture_output=True,
                                text=True, check=True, timeout=120).stdout
        out[mode] = {"state": done.stdout.decode(), "tables": json.loads(tables),
                     "error": next((line for line in reversed(error.splitlines())
                                    if "Exception: " in line or "Error: " in line), "")}
    assert not list(tmp_path.glob("tmp_*.csv"))  # every batch file removed
    return out


def _assert_same(both: dict, masked: tuple[str, ...] = (), stored: bool = False) -> None:
    """Same STATE lines, tables, columns and rows, value for value (repr: type and value). Rows
    in key order; in storage order if `stored`: DuckDB's INSERT of the new keys (an anti-join)
    stores them in an order that depends on its thread count, in target-duckdb as here."""
    ref, fast = both["reference"], both["fast"]
    assert fast["state"] == ref["state"]
    assert ref["state"].strip(), "no STATE written"
    assert sorted(fast["tables"]) == sorted(ref["tables"])
    for table, want in ref["tables"].items():
        got = fast["tables"][table]
        assert got["columns"] == want["columns"], table
        assert len(got["rows"]) == len(want["rows"]), table
        names = [c[0] for c in want["columns"] if c[0] not in masked]
        kept = [i for i, c in enumerate(want["columns"]) if c[0] not in masked]
        order = (lambda rows: rows) if stored else sorted
        rows = [order([[row[i] for i in kept] for row in r["rows"]]) for r in (want, got)]
        for n, (a, b) in enumerate(zip(*rows, strict=True)):
            for name, x, y in zip(names, a, b, strict=True):
                assert y == x, (table, n, name, x, y)


def _lines(json_keys: bool = True) -> list[str]:
    # ensure_ascii=False: the tap writes UTF-8 text as is (a NUL as \u0000, as JSON must)
    return [json.dumps(m, ensure_ascii=False) for m in messages(json_keys)]


@pytest.mark.parametrize("batch", [7, 100_000])
def test_the_one_pass_path_lands_what_the_flattening_path_landed(loader, tmp_path, batch):
    both = _run_both(loader, tmp_path, _lines(), batch_size_rows=batch)
    _assert_same(both)
    # with the same DuckDB threads, in the same storage order too
    _assert_same(_run_both(loader, tmp_path / "threads", _lines(), batch_size_rows=batch,
                           settings={"threads": 2}), stored=True)
    hard = both["fast"]["tables"]["hard"]
    assert len(hard["rows"]) == 240 + 1  # keys sent again replace their row; the empty key
    names = [c[0] for c in hard["columns"]]
    assert ["added", "VARCHAR"] in hard["columns"]
    texts = {row[names.index("text")] for row in hard["rows"]}
    # the hard values did land as sent: an empty string is not NULL, CR and NUL stay
    assert {"''", "'\\r'", "'a\\x00b'", "'\"'", "'🎧'", "'5'", "'true'"} <= texts
    assert "None" in {row[names.index("other")] for row in hard["rows"]}  # absent: NULL
    assert {"None", "'null'"} <= {row[names.index("blob")] for row in hard["rows"]}
    states = [json.loads(line) for line in both["fast"]["state"].splitlines()]
    assert states[-1] == {"bookmarks": {"hard": {"n": "end", "t": "牛\n\"q\""}}}
    assert len(states) > 3 if batch == 7 else len(states) >= 1


def test_a_failed_batch_fails_alike(loader, tmp_path):
    """A value DuckDB refuses (a number, an object or a boolean in a date-time column) fails its
    batch in both, with the same error, after the same STATE lines and the same rows."""
    lines = _lines()
    for i, bad in enumerate((1700000000, {"not": "a time"}, True)):
        record = {**_record(500 + i), "startTime": bad}
        both = _run_both(loader, tmp_path / str(i), [*lines[:200], json.dumps(
            {"type": "RECORD", "stream": "hard", "record": record})], ok=False,
                         batch_size_rows=40)
        _assert_same(both)
        assert "ConversionException: Conversion Error: CSV Error on Line" in both["fast"]["error"]
        assert re.sub(r"tmp_\w+", "", both["fast"]["error"]) == re.sub(
            r"tmp_\w+", "", both["reference"]["error"])
        assert both["fast"]["tables"]["hard"]["rows"]  # the batches before it did load


def test_the_same_with_metadata_columns_and_hard_delete(loader, tmp_path):
    lines = _lines()
    deleted = [json.dumps({"type": "RECORD", "stream": "hard", "record": {
        "id": f"r{i}", "text": "gone", "_sdc_deleted_at": "2026-12-02T00:00:00+08:00"}})
        for i in (3, 4)]
    both = _run_both(loader, tmp_path, lines[:-1] + deleted + lines[-1:],
                     batch_size_rows=50, add_metadata_columns=True, hard_delete=True)
    _assert_same(both, masked=("_sdc_batched_at",))  # the time of the load itself
    hard = both["fast"]["tables"]["hard"]
    ids = {row[[c[0] for c in hard["columns"]].index("id")] for row in hard["rows"]}
    assert "'r3'" not in ids and "'r5'" in ids


def test_the_flattening_path_is_unchanged(loader, tmp_path):
    """data_flattening_max_level 1: both flatten; the nested `point` becomes point__x/point__y."""
    both = _run_both(loader, tmp_path, _lines(json_keys=False), batch_size_rows=30,
                     data_flattening_max_level=1)
    _assert_same(both)
    assert ["point__x", "DOUBLE"] in both["fast"]["tables"]["hard"]["columns"]


def test_the_fast_utc_text_is_utc(loader):
    """Every shape of date-time text, near and off the usual one, against _utc."""
    values = list(TIMES)
    for date in ("2026-12-02", "2024-02-29", "2026-02-29", "0001-01-01", "9999-12-31",
                 "2026-13-01", "2026-W49-3", "20261202", "2026-12-0x"):
        for clock in ("00:00", "23:59", "12:30", "24:00", "12:60", "1a:00"):
            for seconds in (":00", ":59", ":60", ":5", ":5x", ""):
                for fraction in ("", ".0", ".000", ".001", ".5", ".123", ".123456", ".000000",
                                 ".1234567", ".12a", ".١٢٣", "."):
                    for zone in ("Z", "z", "+08:00", "-05:30", "+05:45", "+00:00", "-00:00",
                                 "+24:00", "+23:59", "+0800", "+08", "+08:00:30", "", " Z"):
                        values.append(f"{date}T{clock}{seconds}{fraction}{zone}")
    values += [f"2026-12-02{sep}10:00:00Z" for sep in (" ", "t", "_", "x", "牛")]
    values += ["", "Z", "+08:00", "x" * 30, "2026-12-02T10:00:00.123Z" * 2, "T" * 24]
    done = subprocess.run([*loader, "utc"], input=json.dumps(values), capture_output=True,
                          text=True, check=True, timeout=300)
    assert json.loads(done.stdout) == [], done.stdout
