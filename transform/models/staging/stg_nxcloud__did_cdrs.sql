-- One row per DID (virtual number) call and account: the latest version of each (account, id).
-- Columns read from the raw table are declared in stg_nxcloud__did_cdrs.yml (meta.source).
with latest as (
    {{ nxcloud_latest('did_cdrs', key=['account', 'did_call_id'], newest_first=['ended_at']) }}
)

select
    latest.*,
    'CNY' as currency,  -- callPrice and callPriceUnit are in yuan (the vendor's table)
    {{ nxcloud_key(['did_call_id']) }} as source_key,
    {{ nxcloud_key(['account', 'did_call_id']) }} as record_key,
    'did' as channel,
    case call_type when 0 then 'inbound' when 1 then 'outbound' end as direction,
    case when call_type = 1 then did_number else other_number end as from_number,
    case when call_type = 1 then other_number else did_number end as to_number,
    duration_seconds > 0 as succeeded,
    case when duration_seconds > 0 then 'answered'
         when duration_seconds is not null then 'not_answered' else 'unknown' end as status,
    end_reason_name as vendor_status,
    billed_minutes as billed_units,
    'minute' as billed_unit,
    cast(billed_minutes * 60 as decimal(18, 3)) as billed_seconds,
    call_price as cost
from latest
