"""AI-agent calls: {gateway}/openapi/aiagent/call/list, signed, per task (taskId is required):
each task's calls by creation time, bookmarked per task."""

from ..spec import CHILD, Child, Offset, StreamSpec
from .ai_agent_tasks import ENVELOPE, OPTIONS
from .ai_agent_tasks import SPEC as TASKS

SPEC = StreamSpec(
    name="ai_agent_calls", product="ai_agent", label="AI-agent", credentials=TASKS.credentials,
    host=TASKS.host, nxlink=True, path="{ai_agent_path_prefix}/call/list", method="POST",
    encoding="json", auth=TASKS.auth, envelope=ENVELOPE,
    kind=CHILD, child=Child(parent="ai_agent_tasks", key="taskId", param="taskId",
                            since="createTs"),
    paging=Offset(1000, page_param="pageNumber", size_param="pageSize", min_size=10),
    clock="epoch", row_time="epoch_s", query=lambda b: {"startTs": b.lo, "endTs": b.hi},
    primary_keys=("callId",), replication_key="createTs",
    lookback_setting="ai_agent_lookback_minutes", lookback_minutes=120, options=OPTIONS,
)
