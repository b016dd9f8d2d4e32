-- Alarm (warn): windows whose latest read did not reconcile. NXCloud's own count for the window
-- differed from the rows it returned (or, for an SMS day, the statement from the messages): the
-- rows the tap has may not be all there are. A window counts as read again once a later run read
-- its whole range (windows are sized to the data, so a later run's windows need not be the same
-- ones): its status is then that later read's, a window of its own. Windows that ended more than
-- var reconcile_horizon_days ago are left out: NXCloud no longer keeps them.
-- What to do: docs/reconciliation.md; to read a window again, docs/operations.md "Backfills".
{{ config(severity='warn') }}

with audit as (
    select *
    from {{ ref('stg_nxcloud__sync_audit') }}
    where {{ nxcloud_hours_between('window_end', nxcloud_utc_now()) }}
          <= {{ nxcloud_number_var('reconcile_horizon_days') }} * 24
),

unreconciled as (
    select * from audit where reconciled = false
),

-- each later run's reads of an unreconciled window: how many of its seconds they cover (a table
-- read whole has a window of no length: any later read of it covers it)
read_again as (
    select
        u.record_key,
        later.run_id,
        sum(case when u.window_start = u.window_end then 0
                 else {{ nxcloud_seconds_between(
                        'case when later.window_start > u.window_start then later.window_start else u.window_start end',
                        'case when later.window_end < u.window_end then later.window_end else u.window_end end') }}
            end) as covered_seconds
    from unreconciled as u
    inner join audit as later
        on later.account = u.account
        and later.stream = u.stream
        and coalesce(later.partition_key, '') = coalesce(u.partition_key, '')
        and later.run_started_at > u.run_started_at
        and ((u.window_start = u.window_end and later.window_start = later.window_end)
             or (later.window_start < u.window_end and later.window_end > u.window_start))
    group by u.record_key, later.run_id
)

select
    u.account,
    u.stream,
    u.partition_key,
    u.window_start,
    u.window_end,
    u.api_count,
    u.api_rows,
    u.statement_count,
    u.mismatch,
    u.run_id,
    u.run_started_at
from unreconciled as u
where not exists (
    select 1
    from read_again as r
    where r.record_key = u.record_key
      and r.covered_seconds >= {{ nxcloud_seconds_between('u.window_start', 'u.window_end') }}
)
