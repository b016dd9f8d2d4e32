"""target-duckdb 0.8.0, loading its temporary CSV with an explicit dialect.

target-duckdb 0.8.0 writes each batch to a CSV file and runs `COPY tmp FROM 'file' WITH
(new_line '\\r\\n')`: DuckDB's sniffer guesses the header, delimiter, quote and escape from a sample
of the file.  It guesses wrong on ordinary data (a header row that is really the first record; an
escape of `\\` when the sample holds quoted values but no doubled quote, which then fails on the
first `"` past the sample).  It also turns an empty string into NULL, and (duckdb >= 1.4) a
date-time with a UTC offset into its wall-clock time.

This replaces only DbSync.load_rows: the batch is written with a fixed dialect (every non-null value
quoted, quotes doubled, NULL an unquoted empty field, date-times converted to UTC) and read back
with every option stated (AUTO_DETECT false).  Everything else (settings, table layout, upsert by
key, state) is target-duckdb 0.8.0's.  The settings `delimiter` and `quotechar` are ignored.
"""
import datetime as _dt
import json
import os
from decimal import Decimal
from importlib.metadata import version

import target_duckdb
from target_duckdb import db_sync

__all__ = ["main", "patch"]

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


def patch():
    found = version("target-duckdb")
    if found != "0.8.0":
        raise RuntimeError(f"target-duckdb-exact patches target-duckdb 0.8.0, found {found}")
    db_sync.DbSync.load_rows = _load_rows


def main():
    patch()
    target_duckdb.main()
