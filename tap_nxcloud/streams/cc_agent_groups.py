"""Contact-center agent groups: POST /saas/cc/openapi/agentGroup/page, signed, the whole table.
(The page marks `queueName` required, which contradicts a list of all groups: not sent.)"""

import dataclasses

from .cc_agents import SPEC as AGENTS

SPEC = dataclasses.replace(AGENTS, name="cc_agent_groups", primary_keys=("groupNo",),
                           path="/saas/cc/openapi/agentGroup/page")
