"""Contact-center agents: POST /saas/cc/openapi/agent/page, signed as cc, the whole table."""

from ..auth import CC_ACTION, CC_BIZ_TYPE, SignedHeaders
from ..spec import FULL_TABLE, Envelope, Offset, StreamSpec
from .cc import SPEC as CC

SPEC = StreamSpec(
    name="cc_agents", product="cc", label="contact-center",
    credentials=("cc_access_key", "cc_access_secret"), host=CC.host, nxlink=True,
    path="/saas/cc/openapi/agent/page", method="POST", encoding="json",
    auth=SignedHeaders(CC_BIZ_TYPE, CC_ACTION),
    envelope=Envelope(success=0, rows=("data",), total=("total",), transient=CC.envelope.transient,
                      skew_code=1004, fatal={**CC.envelope.fatal,
                                             1002: "a parameter was refused; check cc_tenant_id"}),
    kind=FULL_TABLE, paging=Offset(200, size_param="size"), row_time="epoch_ms",
    primary_keys=("userName",), params={"cc_tenant_id": "tenantId"},
)
