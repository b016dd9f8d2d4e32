-- Alarm (warn): records lost to retention. A run that started after records had fallen out of
-- what NXCloud keeps names the range it could no longer read (lost_from, lost_to, on the lane's
-- first window). Shown for var loss_alarm_days (default 7) after the run, so that a loss found on a
-- Friday night is still in the alarms on Monday. The range cannot be read again: tell whoever
-- relies on those days.
{{ config(severity='warn') }}

select
    account,
    stream,
    partition_key,
    lost_from,
    lost_to,
    {{ nxcloud_hours_between('lost_from', 'lost_to') }} as hours_lost,
    run_id,
    run_started_at
from {{ ref('stg_nxcloud__sync_audit') }}
where lost_from is not null
  and {{ nxcloud_hours_between('run_started_at', nxcloud_utc_now()) }}
      <= {{ nxcloud_number_var('loss_alarm_days') }} * 24
