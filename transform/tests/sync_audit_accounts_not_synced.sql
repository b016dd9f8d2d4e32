-- Alarm (warn): accounts whose latest run started more than var sync_stale_hours (default 24) ago:
-- a schedule switched off, runs failing before they could land their audit, keys refused. Every
-- account that ever synced is watched; one removed on purpose stays here until its rows are
-- deleted from sync_audit.
-- What to do: docs/troubleshooting.md, then run the account (docs/operations.md "Alarms").
{{ config(severity='warn') }}

select
    account,
    max(run_started_at) as last_run_started_at,
    {{ nxcloud_hours_between('max(run_started_at)', nxcloud_utc_now()) }} as hours_since
from {{ ref('stg_nxcloud__sync_audit') }}
group by account
having {{ nxcloud_hours_between('max(run_started_at)', nxcloud_utc_now()) }}
       > {{ nxcloud_number_var('sync_stale_hours') }}
