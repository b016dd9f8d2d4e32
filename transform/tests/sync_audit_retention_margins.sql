-- Alarm (warn): streams that will lose records soon. For each account and stream with a stated
-- retention (voice 7 days, SIP 15, SMS 31): the margin of its latest run (that run's latest
-- window's retention_margin_hours, how long the next run may wait before records fall out of
-- what NXCloud keeps) less the hours since that run started, under var retention_warn_hours
-- (default 48, the tap's own setting). The run's start stands for the moment the margin was
-- taken, so the margin now is never overstated.
-- What to do: run the account now (docs/operations.md "Alarms").
{{ config(severity='warn') }}

with latest as (
    select
        account,
        stream,
        run_id,
        run_started_at,
        window_end,
        retention_margin_hours,
        row_number() over (partition by account, stream
                           order by run_started_at desc, window_end desc) as newest
    from {{ ref('stg_nxcloud__sync_audit') }}
    where retention_margin_hours is not null
),

margins as (
    select
        account,
        stream,
        run_id,
        run_started_at,
        window_end as complete_up_to,
        retention_margin_hours as margin_hours_at_run,
        retention_margin_hours
            - {{ nxcloud_hours_between('run_started_at', nxcloud_utc_now()) }} as margin_hours_now
    from latest
    where newest = 1
)

select *
from margins
where margin_hours_now < {{ nxcloud_number_var('retention_warn_hours') }}
