"""AI-agent (NXLink "nxai") call tasks: {gateway}/openapi/aiagent/task/list, signed, by creation
time; tasks still calling are read again by every run."""

from ..auth import SignedHeaders
from ..spec import NXLINK_REGIONS, Envelope, Offset, Option, StreamSpec

# The newest page (Dec 2025) says this path, bizType 100 and action nxai; the staff tooling used
# bizType 8 and the OpenAPI file /openapi/task/list: settings, for a gateway that differs.
OPTIONS = (
    Option("ai_agent_path_prefix", "/openapi/aiagent",
           "Path prefix of the AI-agent APIs (the July 2025 OpenAPI file has /openapi)."),
    Option("ai_agent_biz_type", "100", "bizType header of the AI-agent APIs (8 in older "
           "tooling)."),
    Option("ai_agent_action", "nxai", "action header of the AI-agent APIs."),
)
ENVELOPE = Envelope(
    success=0, rows=("list",), total=("total",), wrapper="data",  # `data` sent or not
    message=("message", "msg"), skew_code=1004, transient={-1: "request failed"},
    fatal={1001: "a required header is missing (a bug in the tap: please report it)",
           1002: "a parameter was refused; check ai_agent_biz_type and ai_agent_action",
           1003: "check ai_agent_access_secret",
           1005: "check ai_agent_access_key and its permission for the AI agent"})
# taskStatus of a task that calls no more (not documented: a guess, see
# docs/nxcloud-api/contradictions.md#ai-agent)
FINISHED = 3

SPEC = StreamSpec(
    name="ai_agent_tasks", product="ai_agent", label="AI-agent",
    credentials=("ai_agent_access_key", "ai_agent_access_secret"),
    host=NXLINK_REGIONS["hk"], nxlink=True, path="{ai_agent_path_prefix}/task/list",
    method="POST", encoding="json", auth=SignedHeaders("{ai_agent_biz_type}", "{ai_agent_action}"),
    envelope=ENVELOPE, paging=Offset(100, page_param="pageNumber", size_param="pageSize"),
    clock="epoch", row_time="epoch_s",
    query=lambda b: {"createStartTs": b.lo, "createEndTs": b.hi},
    primary_keys=("taskId",), replication_key="createTs",
    lookback_setting="ai_agent_lookback_minutes", lookback_minutes=120,
    still_open=lambda row: row.get("taskStatus") != FINISHED, options=OPTIONS,
)
