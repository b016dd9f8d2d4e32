-- One row per contact-center agent and account: the latest version of each (account, userName).
-- Columns read from the raw table are declared in stg_nxcloud__cc_agents.yml (meta.source).
with latest as (
    {{ nxcloud_latest('cc_agents', key=['account', 'user_name'], newest_first=['modified_at']) }}
)

select
    latest.*,
    {{ nxcloud_key(['account', 'user_name']) }} as record_key
from latest
