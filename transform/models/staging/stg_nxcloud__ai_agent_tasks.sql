-- One row per AI-agent call task and account: the latest version of each (account, taskId).
-- Columns read from the raw table are declared in stg_nxcloud__ai_agent_tasks.yml (meta.source).
with latest as (
    {{ nxcloud_latest('ai_agent_tasks', key=['account', 'task_id']) }}
)

select
    latest.*,
    task_status = 3 as finished,  -- 3 is a finished task (the other codes are not documented)
    {{ nxcloud_key(['account', 'task_id']) }} as record_key
from latest
