-- The tap's own audit of each sync (stream sync_audit): one row per account, stream, partition,
-- window and run. Read by the alarms (transform/tests/sync_audit_*.sql, docs/operations.md
-- "Alarms"). Columns read from the raw table are declared in stg_nxcloud__sync_audit.yml.
with latest as (
    {{ nxcloud_latest('sync_audit',
                      key=['account', 'stream', 'partition_key', 'window_start', 'run_id']) }}
)

select
    latest.*,
    {{ nxcloud_key(['account', 'stream', 'partition_key', 'window_start', 'run_id']) }}
        as record_key
from latest
