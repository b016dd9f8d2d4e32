-- The account balance, one row per account and reading (fetched_at: when the tap read it).
-- Columns read from the raw table are declared in stg_nxcloud__balances.yml (meta.source).
with latest as (
    {{ nxcloud_latest('balances', key=['account', 'fetched_at']) }}
)

select
    latest.*,
    {{ nxcloud_key(['account', 'fetched_at']) }} as record_key
from latest
