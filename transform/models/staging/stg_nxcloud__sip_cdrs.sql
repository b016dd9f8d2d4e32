-- One row per SIP phone call and account: the latest version of each (account, id).
-- Columns read from the raw table are declared in stg_nxcloud__sip_cdrs.yml (meta.source).
with latest as (
    {{ nxcloud_latest('sip_cdrs', key=['account', 'sip_call_id'], newest_first=['ended_at']) }}
)

select
    latest.*,
    {{ nxcloud_key(['sip_call_id']) }} as source_key,
    {{ nxcloud_key(['account', 'sip_call_id']) }} as record_key,
    'sip' as channel,
    case direction_code when 0 then 'inbound' when 1 then 'outbound' end as direction,
    show_phone as from_number,
    phone as to_number,
    duration_seconds > 0 as succeeded,
    case when duration_seconds > 0 then 'answered'
         when duration_seconds is not null then 'not_answered' else 'unknown' end as status,
    hangup_cause as vendor_status,
    cast(null as decimal(18, 4)) as billed_units,
    cast(null as text) as billed_unit,
    cast(null as decimal(18, 3)) as billed_seconds,
    cast(null as decimal(18, 6)) as cost,  -- the SIP records carry no price
    cast(null as text) as currency
from latest
