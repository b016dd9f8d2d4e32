"""Contact-center agent groups: POST /saas/cc/openapi/agentGroup/page (from an excerpt of the
current wiki: docs/nxcloud-api/contradictions.md#contact-center). Signed and paged as the agents
(cc_agents.Directory: `tenantId` required, `page`, `size` 1..200), rows by `groupNo`. The excerpt
marks `queueName` required, which contradicts a list of all groups: the double does not require
it (and ignores it).

Not documented, chosen here: `familiarizeFirst` is a 0/1 flag (ring the agent who served the
caller before) and `ringPolicy` an integer code; `groupNo` is a string. The group's own `remark`
is a declared text field, so the field no schema declares (data.remark) comes as `extInfo`.
"""

from __future__ import annotations

import random

from ..data import hard, remark
from .cc_agents import Directory

GROUPS = ["Sales", "Support", "VIP 客服", "Billing", "Night shift", "Escalations"]
NOTES = ["", "Weekdays 9-18", "Ring the familiar agent first", "Overflow from Support"]


def rows(n: int, *, seed: int, **_) -> list[dict]:
    """n agent groups (no times: the excerpt lists none)."""
    rng = random.Random(f"cc-group-{seed}")
    out = []
    for i in range(n):
        row = {"groupName": hard(rng, f"{rng.choice(GROUPS)} {i + 1}"),
               "groupNo": str(100001 + i), "remark": hard(rng, rng.choice(NOTES)),
               "familiarizeFirst": rng.choice([0, 1]), "ringPolicy": rng.randrange(4)}
        extra = remark(rng, {}).get("remark")
        if extra is not None:
            row["extInfo"] = extra
        out.append(row)
    return out


class AgentGroups(Directory):
    stream = "cc_agent_groups"
    alias = "cc_group"
    path = "/saas/cc/openapi/agentGroup/page"
    rows = staticmethod(rows)
    key = "groupNo"
    search = False


ENDPOINT = AgentGroups()
