-- The SMS app's own daily statement, one row per account and day (the platform's calendar day),
-- latest version of each; daily_usage puts these figures beside its own for SMS.
-- Columns read from the raw table are declared in stg_nxcloud__sms_daily_reports.yml.
with latest as (
    {{ nxcloud_latest('sms_daily_reports', key=['account', 'report_date']) }}
)

select
    latest.*,
    {{ nxcloud_key(['account', 'report_date']) }} as record_key
from latest
