"""Print one day of daily_usage (the dbt model) from a DuckDB file: per account and channel.

    python transform/show_daily_usage.py output/nxcloud.duckdb            # yesterday
    python transform/show_daily_usage.py output/nxcloud.duckdb --day 2026-10-01 --zone UTC

"Yesterday" is the day before today in the zone: by default the platform's zone
(TAP_NXCLOUD_TIMEZONE, else Asia/Shanghai), whose days daily_usage also adds up. Needs the
`duckdb` module: run it with the Python of Meltano's dbt-duckdb (or target-duckdb) plugin.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from zoneinfo import ZoneInfo

import duckdb

COLUMNS = ("account", "channel", "communication_count", "succeeded_count", "duration_seconds",
           "billed_seconds", "billed_units", "billed_unit", "cost", "currency")
HEADERS = ("account", "channel", "count", "ok", "talk s", "billed s", "units", "unit", "cost",
           "cur")


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value).rstrip("0").rstrip(".") if "." in str(value) else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="the DuckDB file (output/nxcloud.duckdb)")
    parser.add_argument("--zone", default=os.environ.get("TAP_NXCLOUD_TIMEZONE")
                        or "Asia/Shanghai", help="day_zone: UTC or the platform's IANA zone")
    parser.add_argument("--day", type=dt.date.fromisoformat,
                        help="YYYY-MM-DD (default: yesterday in --zone)")
    parser.add_argument("--schema", default=os.environ.get("DBT_DUCKDB_SCHEMA") or "analytics")
    args = parser.parse_args(argv)
    day = args.day or dt.datetime.now(ZoneInfo(args.zone)).date() - dt.timedelta(days=1)
    con = duckdb.connect(args.path, read_only=True)
    try:
        rows = con.execute(
            f"select {', '.join(COLUMNS)} from {args.schema}.daily_usage "  # noqa: S608
            "where day_zone = ? and day = ? order by account, channel",
            [args.zone, day]).fetchall()
    except duckdb.CatalogException:
        print(f"no {args.schema}.daily_usage in {args.path}: run the dbt models first "
              "(meltano run nxcloud-to-duckdb-transformed)", file=sys.stderr)
        return 1
    print(f"daily_usage for {day} ({args.zone} day):")
    if not rows:
        print("   (no messages or calls that day)")
        return 0
    table = [HEADERS, *[tuple(_cell(v) for v in row) for row in rows]]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADERS))]
    for n, row in enumerate(table):
        cells = (c.ljust(w) if i in (0, 1, 7, 9) else c.rjust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        print(("   " + "  ".join(cells)).rstrip())
        if n == 0:
            print("   " + "  ".join("-" * w for w in widths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
