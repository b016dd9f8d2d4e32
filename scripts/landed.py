"""Print what the demo loaded into DuckDB: per stream its rows, keys and time range; one SMS row.

target-duckdb 0.8.0 stores every date-time column as TIMESTAMP (no zone) holding the UTC instant
of the tap's RFC 3339 value, so min/max are UTC as they stand. Column names are lower-cased.
"""

import sys
from pathlib import Path

import duckdb

# table: (key properties, replication key)
STREAMS = {
    "flash_call_cdrs": ("id", "gmtcreate"),
    "cc_cdrs": ("callid", "starttime"),
    "sms_cdrs": ("msgid, phone", "date"),
    "voice_cdrs": ("request_voice_type, id", "start_time"),
    "sip_cdrs": ("id", "start_time"),
    "did_cdrs": ("id", "starttime"),
}
SMS_SAMPLE = "msgid, phone, date, senderid, body, dr_status, dr_time, billing_price"
UTC = "'%Y-%m-%d %H:%M:%S'"

con = duckdb.connect(sys.argv[1], read_only=True)
schema = f'"{Path(sys.argv[1]).stem}".nxcloud'  # qualified: "nxcloud" alone is ambiguous
present = set()
for table, (key, when) in STREAMS.items():
    try:
        rows, distinct, first, last = con.execute(
            f"select count(*), count(distinct ({key})), strftime(min({when}), {UTC}), "
            f"strftime(max({when}), {UTC}) from {schema}.{table}").fetchone()
    except duckdb.CatalogException:
        print(f"   {table:16} (no table: stream skipped)")
        continue
    present.add(table)
    print(f"   {table:16} {rows:6d} rows, {distinct:6d} distinct ({key}), "
          f"{when} from {first} to {last} UTC")

if "sms_cdrs" in present:
    cursor = con.execute(f"select {SMS_SAMPLE} from {schema}.sms_cdrs "
                         "order by date, msgid, phone limit 1")
    row = cursor.fetchone()
    if row:
        print("   One sms_cdrs row (times in UTC):")
        for (name, *_), value in zip(cursor.description, row, strict=True):
            print(f"     {name:13} {value}")

# Hard text as it landed: quotes, backslashes, line breaks, CJK, emoji (shown with Python's repr,
# so a line break reads \n), and an object kept in extra_fields.
HARD = [("cc_cdrs", "callid", "agentnickname", "agentnickname like '%\"%'"),
        ("sms_cdrs", "msgid", "body", "body like '%\\%' or body like '%' || chr(10) || '%'"),
        ("sip_cdrs", "id", "mobile_name", "mobile_name similar to '.*[^ -~].*'"),
        ("did_cdrs", "id", "extra_fields", "extra_fields is not null")]
shown = [h for h in HARD if h[0] in present]
if shown:
    print("   Hard values as they landed (Python repr):")
for table, key, column, where in shown:
    found = con.execute(f"select {key}, {column} from {schema}.{table} where {where} "
                        f"order by {key} limit 2").fetchall()
    for ident, value in found:
        text = repr(value)
        print(f"     {table}.{column} of {ident}: {text[:90]}{'...' if len(text) > 90 else ''}")
