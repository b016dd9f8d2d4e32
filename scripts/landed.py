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
    "voice_cdrs": ("voicetype, id", "start_time"),
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
