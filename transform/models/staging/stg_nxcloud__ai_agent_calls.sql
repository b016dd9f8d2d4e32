-- One row per AI-agent call and account: the latest version of each (account, callId); a later
-- opTs (last operated on) or callEnd wins.
-- Columns read from the raw table are declared in stg_nxcloud__ai_agent_calls.yml (meta.source).
with latest as (
    {{ nxcloud_latest('ai_agent_calls', key=['account', 'call_id'],
                      newest_first=['operated_at', 'call_ended_at']) }}
)

select
    latest.*,
    {{ nxcloud_key(['call_id']) }} as source_key,
    {{ nxcloud_key(['account', 'call_id']) }} as record_key,
    'ai_agent' as channel,
    'outbound' as direction,  -- a task's calls to its numbers
    caller_phone as from_number,
    callee_phone as to_number,
    -- callStart; the record's creation time when NXCloud did not send it
    coalesce(call_started_at, created_at) as started_at,
    -- callAnswer is null when the call was not answered (the callStatus/callResult codes are
    -- not documented); not known while the call has not ended
    case when call_answered_at is not null then true
         when call_ended_at is not null then false end as succeeded,
    case when call_answered_at is not null then 'answered'
         when call_ended_at is not null then 'not_answered' else 'unknown' end as status,
    cast(call_result as text) as vendor_status,
    cast(null as decimal(18, 4)) as billed_units,
    cast(null as text) as billed_unit,
    cast(null as decimal(18, 3)) as billed_seconds,
    cast(null as decimal(18, 6)) as cost,  -- the AI-agent records carry no price
    cast(null as text) as currency
from latest
