"""target-duckdb 0.8.0, loading its temporary CSV with an explicit dialect, one pass per row.

target-duckdb 0.8.0 writes each batch to a CSV file and runs `COPY tmp FROM 'file' WITH
(new_line '\\r\\n')`: DuckDB's sniffer guesses the header, delimiter, quote and escape from a sample
of the file.  It guesses wrong on ordinary data (a header row that is really the first record; an
escape of `\\` when the sample holds quoted values but no doubled quote, which then fails on the
first `"` past the sample).  It also turns an empty string into NULL, and (duckdb >= 1.4) a
date-time with a UTC offset into its wall-clock time.

Here each batch is written with a fixed dialect (every non-null value quoted, quotes doubled, NULL
an unquoted empty field, date-times converted to UTC) and read back with every option stated
(AUTO_DETECT false).  The settings `delimiter` and `quotechar` are ignored.

Per row, target-duckdb 0.8.0 flattens each record twice (once only to build its primary key) and
keeps the record dicts of a whole batch until the batch is written.  With
`data_flattening_max_level` 0 (the default) this loader reads the key straight from the record
and turns the record into its CSV line as it arrives (`Encoder`), written at once to the batch's
file (`Batch`): a batch holds a key and a file offset per row, and every value is written exactly
as the flattening path writes it (tests/test_duckdb_loader_exact.py compares both).  With
flattening on, target-duckdb's own flatten_record builds both, as before.

Memory (README.md beside this package): the batch's keys (~150 bytes a row), then DuckDB's COPY
and upsert of `batch_size_rows` rows, ~2 KB a row of the contact center's at their peak.  So the
default batch is 40 000 rows here (target-duckdb's is 100 000), and DuckDB runs one thread and
gives freed memory back (DUCKDB_SETTINGS; the config's `settings` override them).  DuckDB also
keeps some of the tables it has written, growing slowly with them (its setting memory_limit
bounds that).  Everything else (settings, table layout, upsert by key, STATE, a flush each
`batch_size_rows` keys of a stream) is target-duckdb 0.8.0's.
"""
import argparse
import copy
import datetime as _dt
import io
import json
import os
import sys
import tempfile
from decimal import Decimal
from importlib.metadata import version

import target_duckdb
from target_duckdb import db_sync

__all__ = ["Encoder", "main", "patch", "persist_lines"]

_MAX_LINE = 2_097_152  # duckdb's default max_line_size
# target-duckdb's default is 100 000: a flush then peaks at ~290 MB, 50 000 at ~230-270 MB (218 463
# rows, README.md beside this package)
DEFAULT_BATCH_SIZE_ROWS = 40_000
# DuckDB settings unless the config's `settings` has them (and if this duckdb knows them): one
# thread (a second one cost more CPU than it saved, beside the tap), and freed memory given back
# to the system after each statement instead of kept for the next batch (peak RSS ~20 % lower)
DUCKDB_SETTINGS = {"threads": "1", "allocator_background_threads": "true",
                   "allocator_flush_threshold": "8MB"}


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


# --- _utc without fromisoformat for the usual shapes ---------------------------------------------
# YYYY-MM-DDTHH:MM:SS[.fff|.ffffff] then Z or +HH:MM/-HH:MM. An offset of whole minutes moves only
# the date, hour and minute, so the UTC text is two parts: the first 16 characters and the zone
# give "YYYY-MM-DD HH:MM" (what `_utc` makes of that minute with seconds 00, kept once
# `_utc_shaped` has checked the shape), and ":SS[.ffffff]" follows as isoformat writes it (no
# fraction when it is 0). A value of any other shape, or a minute that `_utc` leaves unchanged
# (not a valid date-time), goes through `_utc` itself.
_SECONDS = frozenset(f":{s:02d}" for s in range(60))
_MINUTES: dict[str, str] = {}  # "YYYY-MM-DDTHH:MM" + zone -> "YYYY-MM-DD HH:MM", in UTC
_KEPT = 50_000  # minutes kept, at most (a month of minutes in one zone: 44 640)


def _utc_text(value):
    """_utc(value) for a str value, exactly (tests/test_duckdb_loader_exact.py)."""
    if value[-1:] == "Z":
        minute = _MINUTES.get(value[:16] + "Z")
        tail = value[16:-1]
    else:
        minute = _MINUTES.get(value[:16] + value[-6:])
        tail = value[16:-6]
    if minute is not None and tail[:3] in _SECONDS:
        n = len(tail)
        if n == 3:
            return minute + tail
        fraction = tail[4:]
        if n in (7, 10) and tail[3] == "." and fraction.isdigit() and fraction.isascii():
            return minute + (tail[:3] if fraction.count("0") == n - 4 else tail.ljust(10, "0"))
    return _utc_shaped(value)


def _utc_shaped(value):
    """_utc(value), keeping its minute when the value has the usual shape."""
    n = len(value)
    if value[-1:] == "Z":
        zone, end = "Z", n - 1
    elif n > 6 and value[-3] == ":" and value[-6] in "+-":
        zone, end = value[-6:], n - 6
    else:
        return _utc(value)
    tail = value[16:end]
    if (end not in (19, 23, 26) or value[10] != "T" or value[13] != ":"
            or tail[:3] not in _SECONDS):
        return _utc(value)
    if end == 19:
        out = tail
    else:
        fraction = tail[4:]
        if tail[3] != "." or not (fraction.isascii() and fraction.isdigit()):
            return _utc(value)
        out = tail[:3] if fraction.count("0") == len(fraction) else tail.ljust(10, "0")
    minute = _utc(value[:16] + ":00" + zone)
    if minute[10:11] != " ":  # unchanged: not a valid date-time
        return _utc(value)
    if len(_MINUTES) >= _KEPT:
        _MINUTES.clear()
    _MINUTES[value[:16] + zone] = minute = minute[:16]
    return minute + out


# --- one record, one CSV line --------------------------------------------------------------------
def _plain(value):
    """_field of a flattened value (level 0) that is not a str."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value)  # flatten_record's JSON text
    return _field(value)


def _stamp(value):
    """_field(_utc(...)) of a flattened date-time value (level 0) that is not a str."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
        return '"' + _utc_text(value).replace('"', '""') + '"'
    return _field(_utc(value))


class Encoder:
    """A record as its CSV line and its primary key string, without flatten_record.

    With data_flattening_max_level 0, flatten_record(record) keeps the record's keys; its value is
    json.dumps(v) for a dict or list, and for any value present in a column typed exactly
    ["null", "object", "array"] (even null); else v. The line holds, for each column of the
    flattened schema, _field(value), through _utc first for date-time columns; an absent key is
    NULL. The key is ",".join(str(flattened[p]) for each key property), as target-duckdb builds
    it. The line is one function generated per stream, so that a str value (most of them) is
    quoted in line, without a call. With flattening on, both come from flatten_record, as
    target-duckdb 0.8.0 builds them."""

    def __init__(self, sync):
        self.sync = sync
        schema = sync.flatten_schema
        self.names = list(schema)
        self.keys = list(sync.stream_schema_message["key_properties"])
        self.dumped = {n for n, s in schema.items()  # flatten_record's _should_json_dump_value
                       if "type" in s and set(s["type"]) == {"null", "object", "array"}}
        self.stamps = {n for n, s in schema.items() if db_sync.column_type(s) == "timestamp"}
        self.flat = sync.data_flattening_max_level != 0
        self.line = self._flat_line if self.flat else self._generated_line()

    def _generated_line(self):
        # names reach the code as variables (n0, n1, ... and the tuple names), never as its text
        scope = {"_plain": _plain, "_stamp": _stamp, "_utc_text": _utc_text,
                 "_dumps": json.dumps, "str": str, "repr": repr, "names": tuple(self.names)}
        body = ["def line(record):"]
        if self.names:
            body.append(f"    ({''.join(f'v{i}, ' for i in range(len(self.names)))}) = "
                        f"map(record.get, names)")
        parts = []
        for i, name in enumerate(self.names):
            scope[f"n{i}"] = name
            quoted = "'\"' + {}.replace('\"', '\"\"') + '\"'"
            if name in self.dumped:
                body.append(f"    v{i} = _dumps(record[n{i}]) if n{i} in record else None")
                parts.append(f"({quoted.format(f'v{i}')} if v{i} is not None else '')")
            elif name in self.stamps:
                parts.append(f"({quoted.format(f'_utc_text(v{i})')} "
                             f"if v{i}.__class__ is str else '' if v{i} is None "
                             f"else _stamp(v{i}))")
            else:
                parts.append(f"({quoted.format(f'v{i}')} "
                             f"if v{i}.__class__ is str else '' if v{i} is None "
                             f"else '\"' + str(v{i}) + '\"' if v{i}.__class__ is int "
                             f"else '\"' + repr(v{i}) + '\"' if v{i}.__class__ is float "
                             f"else '\"true\"' if v{i} is True else '\"false\"' if v{i} is False "
                             f"else _plain(v{i}))")
        body.append(f"    return ','.join(({', '.join(parts)},))" if parts else "    return ''")
        exec("\n".join(body), scope)  # noqa: S102 (built above from indices, quotes and calls)
        return scope["line"]

    def _flat_line(self, record):
        sync, stamps = self.sync, self.stamps
        flat = db_sync.flatten_record(record, sync.flatten_schema,
                                      max_level=sync.data_flattening_max_level)
        return ",".join(_field(_utc(flat.get(n)) if n in stamps else flat.get(n))
                        for n in self.names)

    def key(self, record):
        """DbSync.record_primary_key_string(record), reading the key from the record."""
        if self.flat or not self.keys:
            return self.sync.record_primary_key_string(record)
        try:
            values = [record[p] for p in self.keys]
        except KeyError:
            return self.sync.record_primary_key_string(record)  # its log line, then KeyError
        dumped = self.dumped
        return ",".join(
            json.dumps(v) if isinstance(v, (dict, list)) or p in dumped else str(v)
            for p, v in zip(self.keys, values, strict=True))


def _encoder(sync):
    found = getattr(sync, "_exact_encoder", None)
    if found is None:
        found = sync._exact_encoder = Encoder(sync)
    return found


# --- loading a batch -----------------------------------------------------------------------------
class Batch:
    """A stream's batch as its CSV file, each line written when its record arrives.

    target-duckdb keeps a batch as a dict of records by key: a key sent again replaces its
    record at the place of its first one, and the batch's size is the number of keys. Here the
    dict `at` keeps each key's offset in the file; a key sent again keeps its last line in
    `again`, and `close` rewrites the file with it in the first one's place. So the batch holds
    a key and an offset a row in memory, not the row."""

    def __init__(self, temp_dir):
        fd, self.path = tempfile.mkstemp(prefix="tmp_", suffix=".csv", dir=temp_dir)
        self.file = os.fdopen(fd, "wb")
        self.at = {}  # key -> offset of its line
        self.again = {}  # key -> its last line, when sent again in this batch
        self.end = 0
        self.longest = 0

    def add(self, key, line):
        if key in self.at:
            self.again[key] = line
            return
        self.at[key] = self.end
        self.file.write(line)
        self.end += len(line)
        self.longest = max(self.longest, len(line))

    def close(self):
        """The file complete: every key's last line at its first place. Returns its longest
        line, in bytes."""
        self.file.close()
        if not self.again:
            return self.longest
        longest, again, ends = 0, self.again, [*list(self.at.values())[1:], self.end]
        fd, path = tempfile.mkstemp(prefix="tmp_", suffix=".csv",
                                    dir=os.path.dirname(self.path))
        with open(self.path, "rb") as old, os.fdopen(fd, "wb") as new:
            for (key, start), end in zip(self.at.items(), ends, strict=True):
                line = old.read(end - start)
                line = again.get(key, line)
                longest = max(longest, len(line))
                new.write(line)
        os.replace(path, self.path)
        return longest

    def discard(self):
        self.file.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


def _load_file(self, path, longest):
    """COPY the batch's CSV file into a temporary table, then upsert it, in one transaction."""
    cur = self.conn
    temp_table = self.table_name(self.stream_schema_message["stream"], is_temporary=True)
    max_line = max(_MAX_LINE, longest + 1024)
    path = path.replace("'", "''")
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


def _load_batch(sync, batch, count):
    sync.logger.info("Loading %d rows into '%s'", count,
                     sync.table_name(sync.stream_schema_message["stream"], False))
    try:
        _load_file(sync, batch.path, batch.close())
    finally:
        batch.discard()


def _load_rows(self, records, count, temp_dir):
    """DbSync.load_rows, for target-duckdb's own persist_lines: `records` are record dicts."""
    batch = Batch(temp_dir)
    encode = _encoder(self).line
    try:
        for n, record in enumerate(records):
            batch.add(n, encode(record).encode() + b"\n")
    except BaseException:
        batch.discard()
        raise
    _load_batch(self, batch, count)


# --- reading the messages ------------------------------------------------------------------------
def persist_lines(connection, config, lines) -> None:
    """target_duckdb.persist_lines of 0.8.0, line for line, but a RECORD goes to its stream's
    Batch as Encoder.line(record) under Encoder.key(record) (encoded by the DbSync of the SCHEMA
    then in force: the one that loads it, since a new SCHEMA flushes the stream's rows first),
    and flush_streams loads Batches. Open batch files are removed if it fails."""
    batches = {}
    try:
        _persist_lines(connection, config, lines, batches)
    finally:
        for batch in batches.values():
            if batch is not None:
                batch.discard()


def _persist_lines(connection, config, lines, records_to_load) -> None:
    # pylint: disable=too-many-locals,too-many-branches,too-many-statements,invalid-name
    state = None
    flushed_state = None
    schemas = {}
    key_properties = {}
    validators = {}
    row_count = {}
    stream_to_sync = {}
    total_row_count = {}
    batch_size_rows = config.get("batch_size_rows", DEFAULT_BATCH_SIZE_ROWS)
    validate_records = config.get("validate_records")
    add_metadata = config.get("add_metadata_columns") or config.get("hard_delete")
    temp_dir = config.get("temp_dir", tempfile.gettempdir())

    for line in lines:
        try:
            o = json.loads(line)
        except json.decoder.JSONDecodeError:
            target_duckdb.LOGGER.error("Unable to parse:\n%s", line)
            raise

        if "type" not in o:
            raise Exception(f"Line is missing required key 'type': {line}")
        t = o["type"]

        if t == "RECORD":
            if "stream" not in o:
                raise Exception(f"Line is missing required key 'stream': {line}")
            if o["stream"] not in schemas:
                raise Exception(
                    "A record for stream {} was encountered before a corresponding schema".format(
                        o["stream"]))

            stream = o["stream"]

            if validate_records:
                try:
                    validators[stream].validate(target_duckdb.float_to_decimal(o["record"]))
                except Exception as ex:
                    if type(ex).__name__ == "InvalidOperation":
                        raise target_duckdb.InvalidValidationOperationException(
                            "Data validation failed and cannot load to destination. RECORD: "
                            f"{o['record']}\n"
                            "multipleOf validations that allows long precisions are not supported"
                            " (i.e. with 15 digitsor more) Try removing 'multipleOf' methods from "
                            "JSON schema.") from ex
                    raise target_duckdb.RecordValidationException(
                        f"Record does not pass schema validation. RECORD: {o['record']}") from ex

            encoder = _encoder(stream_to_sync[stream])
            primary_key_string = encoder.key(o["record"])
            if not primary_key_string:
                primary_key_string = f"RID-{total_row_count[stream]}"

            batch = records_to_load.get(stream)
            if batch is None:
                batch = records_to_load[stream] = Batch(temp_dir)

            # increment row count only when a new PK is encountered in the current batch
            if primary_key_string not in batch.at:
                row_count[stream] += 1
                total_row_count[stream] += 1

            record = (target_duckdb.add_metadata_values_to_record(o) if add_metadata
                      else o["record"])
            batch.add(primary_key_string, encoder.line(record).encode() + b"\n")

            row_count[stream] = len(batch.at)

            if row_count[stream] >= batch_size_rows:
                filter_streams = None if config.get("flush_all_streams") else [stream]
                flushed_state = flush_streams(
                    records_to_load, row_count, stream_to_sync, config, state, flushed_state,
                    filter_streams=filter_streams)
                target_duckdb.emit_state(copy.deepcopy(flushed_state))

        elif t == "STATE":
            target_duckdb.LOGGER.debug("Setting state to %s", o["value"])
            state = o["value"]
            if not flushed_state:
                flushed_state = copy.deepcopy(state)

        elif t == "SCHEMA":
            if "stream" not in o:
                raise Exception(f"Line is missing required key 'stream': {line}")
            stream = o["stream"]

            schemas[stream] = target_duckdb.float_to_decimal(o["schema"])
            validators[stream] = target_duckdb.Draft7Validator(
                schemas[stream], format_checker=target_duckdb.FormatChecker())

            # flush records from previous stream SCHEMA
            if row_count.get(stream, 0) > 0:
                flushed_state = flush_streams(
                    records_to_load, row_count, stream_to_sync, config, state, flushed_state)
                target_duckdb.emit_state(flushed_state)

            if "key_properties" not in o:
                raise Exception("key_properties field is required")
            if config.get("primary_key_required", True) and len(o["key_properties"]) == 0:
                target_duckdb.LOGGER.critical(
                    "Primary key is set to mandatory but not defined in the [%s] stream", stream)
                raise Exception("key_properties field is required")

            key_properties[stream] = o["key_properties"]

            if add_metadata:
                stream_to_sync[stream] = db_sync.DbSync(
                    connection, config, target_duckdb.add_metadata_columns_to_schema(o))
            else:
                stream_to_sync[stream] = db_sync.DbSync(connection, config, o)

            stream_to_sync[stream].create_schema_if_not_exists()
            stream_to_sync[stream].sync_table()

            row_count[stream] = 0
            total_row_count[stream] = 0

        elif t == "ACTIVATE_VERSION":
            target_duckdb.LOGGER.debug("ACTIVATE_VERSION message")
            if not flushed_state:
                flushed_state = copy.deepcopy(state)

        else:
            raise Exception("Unknown message type {} in message {}".format(o["type"], o))

    if sum(row_count.values()) > 0:
        flushed_state = flush_streams(
            records_to_load, row_count, stream_to_sync, config, state, flushed_state)

    target_duckdb.emit_state(copy.deepcopy(flushed_state))


def flush_streams(streams, row_count, stream_to_sync, config, state, flushed_state,
                  filter_streams=None):
    """target_duckdb.flush_streams of 0.8.0 (with load_stream_batch), for Batches: a stream
    without rows is not loaded, but still gets hard_delete's DELETE."""
    streams_to_flush = filter_streams if filter_streams else list(streams.keys())

    for stream in streams_to_flush:
        sync = stream_to_sync[stream]
        if row_count[stream] > 0:
            _load_batch(sync, streams[stream], row_count[stream])
        streams[stream] = None  # loaded (and its file removed) or empty
        if config.get("hard_delete"):
            sync.delete_rows(stream)
        row_count[stream] = 0

    for stream in streams_to_flush:
        if filter_streams:
            if state is not None and stream in state.get("bookmarks", {}):
                if "bookmarks" not in flushed_state:
                    flushed_state["bookmarks"] = {}
                flushed_state["bookmarks"][stream] = copy.deepcopy(state["bookmarks"][stream])
        else:
            flushed_state = copy.deepcopy(state)

    return flushed_state


def tune(connection, config):
    """DUCKDB_SETTINGS the config's `settings` leave unset."""
    given = {name.lower() for name in config.get("settings", {})}
    known = {name for (name,) in connection.execute("SELECT name FROM duckdb_settings()")
             .fetchall()}
    for name, value in DUCKDB_SETTINGS.items():
        if name not in given and name in known:
            connection.execute(f"SET {name} = '{value}'")


def patch():
    found = version("target-duckdb")
    if found != "0.8.0":
        raise RuntimeError(f"target-duckdb-exact patches target-duckdb 0.8.0, found {found}")
    db_sync.DbSync.load_rows = _load_rows


def main():
    """target_duckdb.main, with this module's persist_lines."""
    patch()
    arg_parser = argparse.ArgumentParser()
    arg_parser.add_argument("-c", "--config", help="Config file")
    args = arg_parser.parse_args()
    if args.config:
        with open(args.config) as config_input:
            config = json.load(config_input)
    else:
        config = {}
    singer_messages = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")
    connection = target_duckdb.duckdb_connect(config)
    tune(connection, config)
    persist_lines(connection, config, singer_messages)
    connection.close()
    target_duckdb.LOGGER.debug("Exiting normally")
