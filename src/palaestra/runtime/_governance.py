"""Governance as a run extension (`governance`): with a policy (the job's own
`governance:` block, else the experiment's; `palaestra.config.job_setting`) an LLM
operator's own tools become `GovernedTool`s and every agent's operator is wrapped in
`Governed`, so the calls to the environment's tools in its actions are decided before
`env.step`.

One `Governor` per job: its rate and spend counters are kept per (episode, agent).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from palaestra.boundaries import Governed, GovernedTool, Governor
from palaestra.core import Operator
from palaestra.runtime._extensions import ExtensionContext, RunExtension, register_extension

if TYPE_CHECKING:
    from palaestra.tools import Tool


class GovernanceExtension(RunExtension):
    """Decides tool calls and actions under one `Governor` (see the module docstring)."""

    def __init__(self, governor: Governor):
        self.governor = governor

    def wrap_tool(self, tool: Tool, *, agent: str) -> Tool:
        return tool if isinstance(tool, GovernedTool) else GovernedTool(tool, self.governor)

    def wrap_operator(self, operator: Operator, *, agent: str) -> Operator:
        return Governed(operator, self.governor)


@register_extension("governance")
def governance(context: ExtensionContext, options: dict[str, Any]) -> GovernanceExtension | None:
    """The job's policy as an extension; None when there is none or it is switched off
    (`enabled: false`)."""
    policy = context.setting("governance")
    if policy is None or not policy.enabled:
        return None
    return GovernanceExtension(Governor(policy))
