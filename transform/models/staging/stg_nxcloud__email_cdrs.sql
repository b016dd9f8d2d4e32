-- One row per email (verification code) and account: the latest version of each
-- (account, messageId); a version with a delivery result is newer than one without.
-- Columns read from the raw table are declared in stg_nxcloud__email_cdrs.yml (meta.source).
with latest as (
    {{ nxcloud_latest('email_cdrs', key=['account', 'message_id'],
                      newest_first=['message_result']) }}
)

select
    latest.*,
    {{ nxcloud_key(['message_id']) }} as source_key,
    {{ nxcloud_key(['account', 'message_id']) }} as record_key,
    'email' as channel,
    'outbound' as direction,
    sender as from_number,
    receiver as to_number,
    sent_at as started_at,
    case when message_result = 'DELIVRD' then true
         when message_result is not null then false end as succeeded,
    case when message_result = 'DELIVRD' then 'delivered'
         when message_result is not null then 'failed'
         else 'pending' end as status,
    message_result as vendor_status,
    cast(null as decimal(18, 3)) as duration_seconds,
    cast(null as decimal(18, 4)) as billed_units,
    cast(null as text) as billed_unit,
    cast(null as decimal(18, 3)) as billed_seconds,
    sell_price as cost,  -- the email's unit price (whether a failed email is billed: not stated)
    cast(null as text) as currency
from latest
