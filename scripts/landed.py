"""Print what the demo loaded into DuckDB: per stream its rows, keys and time range; one SMS row;
hard values as they landed; the run's sync_audit per stream.

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
    "email_cdrs": ("messageid", "sendtime"),
    "sms_daily_reports": ("date", "date"),
    "balances": ("fetched_at", "fetched_at"),
    "cc_agents": ("username", "gmtmodified"),
    "cc_agent_groups": ("groupno", None),
    "ai_agent_tasks": ("taskid", "createts"),
    "ai_agent_calls": ("callid", "createts"),
}
SMS_SAMPLE = "msgid, phone, date, senderid, body, dr_status, dr_time, billing_price"
UTC = "'%Y-%m-%d %H:%M:%S'"

con = duckdb.connect(sys.argv[1], read_only=True)
schema = f'"{Path(sys.argv[1]).stem}".nxcloud'  # qualified: "nxcloud" alone is ambiguous
present = set()
for table, (key, when) in STREAMS.items():
    span = (f"strftime(min({when}), {UTC}), strftime(max({when}), {UTC})" if when
            else "null, null")
    try:
        rows, distinct, first, last = con.execute(
            f"select count(*), count(distinct ({key})), {span} from {schema}.{table}").fetchone()
    except duckdb.CatalogException:
        print(f"   {table:17} (no table: stream skipped)")
        continue
    present.add(table)
    times = f", {when} from {first} to {last} UTC" if when else ""
    print(f"   {table:17} {rows:6d} rows, {distinct:6d} distinct ({key}){times}")

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

# The run's own audit (sync_audit): per stream, its windows and what NXCloud's counts said.
AUDIT = f"""
select stream, count(*), sum(api_rows), sum(api_count),
       count(*) filter (where reconciled), count(*) filter (where not reconciled),
       count(*) filter (where reconciled is null), sum(rows), sum(requests), sum(retries)
from {schema}.sync_audit
where run_id = (select run_id from {schema}.sync_audit order by run_started_at desc limit 1)
group by stream order by stream"""
try:
    audit = con.execute(AUDIT).fetchall()
except duckdb.CatalogException:
    audit = []
if audit:
    print("   The last run's sync_audit: per stream, the rows NXCloud's queries returned against "
          "the count NXCloud gave for them")
    print("   (windows reconciled / not / without a count), then the records emitted: fewer or "
          "more than returned where")
    print("   a query asked a second wider than its window (those rows are a neighbour "
          "window's) or the lookback read rows again:")
    for stream, windows, returned, count, ok, bad, none, rows, requests, retries in audit:
        stated = "-" if count is None else count
        got = "-" if returned is None else returned
        print(f"     {stream:17} {windows:4d} windows  returned {got!s:>6}  NXCloud {stated!s:>6}"
              f"  {ok:3d} / {bad} / {none:3d}  emitted {rows:6d}  {requests:4d} requests, "
              f"{retries} retries")
