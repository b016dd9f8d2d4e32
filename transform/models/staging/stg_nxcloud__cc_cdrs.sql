-- One row per contact-center call and account: the latest version of each (account, callId).
-- Columns read from the raw table are declared in stg_nxcloud__cc_cdrs.yml (meta.source).
with latest as (
    {{ nxcloud_latest('cc_cdrs', key=['account', 'call_id'], newest_first=['ended_at']) }}
)

select
    latest.*,
    {{ nxcloud_seconds_between('in_queue_at', 'out_queue_at') }} as queue_seconds,
    {{ nxcloud_key(['call_id']) }} as source_key,
    {{ nxcloud_key(['account', 'call_id']) }} as record_key,
    'contact_center' as channel,
    case direction_code when 0 then 'inbound' when 1 then 'outbound' when 2 then 'outbound' end
        as direction,
    caller as from_number,
    callee as to_number,
    answered as succeeded,
    case when answered then 'answered' when not answered then 'not_answered' else 'unknown' end
        as status,
    call_status as vendor_status,
    cast(call_duration_seconds as decimal(18, 3)) as duration_seconds,
    cast(null as decimal(18, 4)) as billed_units,
    cast(null as text) as billed_unit,
    cast(null as decimal(18, 3)) as billed_seconds,
    total_customer_price as cost,
    cast(null as text) as currency
from latest
