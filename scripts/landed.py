"""Print what the demo loaded into DuckDB: rows per stream and a sample of each."""

import sys
from pathlib import Path

import duckdb

con = duckdb.connect(sys.argv[1], read_only=True)
catalog = Path(sys.argv[1]).stem  # the file's name: qualify, or "nxcloud" is ambiguous
for table, key, when in (("flash_call_cdrs", "id", "gmtcreate"),
                         ("cc_cdrs", "callid", "epoch_ms(starttime::BIGINT)")):
    try:
        rows, first, last, distinct = con.execute(
            f"select count(*), min({when}), max({when}), count(distinct {key}) "
            f'from "{catalog}".nxcloud.{table}').fetchone()
    except duckdb.CatalogException:
        print(f"   {table:16} (no table: stream skipped)")
        continue
    print(f"   {table:16} {rows:7d} rows ({distinct} distinct keys), from {first} to {last} UTC")
