-- One row per voice call (group call, or verification/notification call) and account: the latest
-- version of each (account, request_voice_type, id); a version with costs is newer (NXCloud
-- computes them late). request_voice_type is the tap's voiceType column, under either name.
-- Columns read from the raw table are declared in stg_nxcloud__voice_cdrs.yml (meta.source).
with latest as (
    {{ nxcloud_latest('voice_cdrs', key=['account', 'request_voice_type', 'voice_call_id'],
                      newest_first=['customer_price', 'ended_at']) }}
),

calls as (
    select
        latest.*,
        case when result = 'Successful connection' then true
             when result is not null then false end as succeeded
    from latest
)

select
    calls.*,
    {{ nxcloud_key(['request_voice_type', 'voice_call_id']) }} as source_key,
    {{ nxcloud_key(['account', 'request_voice_type', 'voice_call_id']) }} as record_key,
    'voice' as channel,
    'outbound' as direction,
    show_phone as from_number,
    phone as to_number,
    case when succeeded then 'answered' when not succeeded then 'not_answered' else 'unknown' end
        as status,
    result as vendor_status,
    cast(billed_cycles as decimal(18, 4)) as billed_units,
    'cycle' as billed_unit,
    cast(billed_cycles * billing_cycle_seconds as decimal(18, 3)) as billed_seconds,
    -- billed cycles x unit price, plus the basic fee of an unsuccessful group call
    cast(coalesce(billed_cycles, 0) * customer_price
         + case when not succeeded then coalesce(basic_price, 0) else 0 end
         as decimal(18, 6)) as cost,
    cast(null as text) as currency
from calls
