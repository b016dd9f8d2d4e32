-- One row per contact-center agent group and account: the latest version of each
-- (account, groupNo).
-- Columns read from the raw table are declared in stg_nxcloud__cc_agent_groups.yml (meta.source).
with latest as (
    {{ nxcloud_latest('cc_agent_groups', key=['account', 'group_no']) }}
)

select
    latest.*,
    {{ nxcloud_key(['account', 'group_no']) }} as record_key
from latest
