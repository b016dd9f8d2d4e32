-- One row per flash call (OTP call) and account: the latest version of each (account, id).
-- Columns read from the raw table are declared in stg_nxcloud__flash_call_cdrs.yml (meta.source).
with latest as (
    {{ nxcloud_latest('flash_call_cdrs', key=['account', 'flash_call_id'],
                      newest_first=['modified_at', 'call_ended_at', 'callback_at']) }}
)

select
    latest.*,
    {{ nxcloud_key(['flash_call_id']) }} as source_key,
    {{ nxcloud_key(['account', 'flash_call_id']) }} as record_key,
    'flash_call' as channel,
    'outbound' as direction,
    calling_number as from_number,
    msisdn as to_number,
    created_at as started_at,
    cast(null as boolean) as succeeded,  -- callStatus codes are not documented
    'unknown' as status,
    cast(call_status as text) as vendor_status,
    {{ nxcloud_seconds_between('call_started_at', 'call_ended_at') }} as duration_seconds,
    cast(null as decimal(18, 4)) as billed_units,
    cast(null as text) as billed_unit,
    cast(null as decimal(18, 3)) as billed_seconds,
    price as cost,
    cast(null as text) as currency
from latest
