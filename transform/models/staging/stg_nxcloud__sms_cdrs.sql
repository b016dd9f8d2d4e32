-- One row per SMS and destination phone and account: the latest version of each
-- (account, msgid, phone); a version with a delivery report is newer than one without.
-- Columns read from the raw table are declared in stg_nxcloud__sms_cdrs.yml (meta.source).
with latest as (
    {{ nxcloud_latest('sms_cdrs', key=['account', 'msgid', 'phone'],
                      newest_first=['delivery_report_at']) }}
)

select
    latest.*,
    {{ nxcloud_key(['msgid', 'phone']) }} as source_key,
    {{ nxcloud_key(['account', 'msgid', 'phone']) }} as record_key,
    'sms' as channel,
    'outbound' as direction,
    sender_id as from_number,
    phone as to_number,
    sent_at as started_at,
    case when delivery_receipt = 'DELIVRD' then true
         when delivery_receipt is not null then false end as succeeded,
    case when delivery_receipt = 'DELIVRD' then 'delivered'
         when delivery_receipt is not null then 'failed'
         else 'pending' end as status,
    delivery_receipt as vendor_status,
    cast(null as decimal(18, 3)) as duration_seconds,
    cast(billing_size as decimal(18, 4)) as billed_units,
    'sms_part' as billed_unit,
    cast(null as decimal(18, 3)) as billed_seconds,
    -- billed parts x price per part; nothing when NXCloud says it did not bill the message
    cast(case when billing_status = 'No' then 0 else billing_size * billing_price end
         as decimal(18, 6)) as cost,
    cast(null as text) as currency
from latest
