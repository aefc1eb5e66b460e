"""`Single`: the single-agent system, the baseline every other topology is measured
against.

``Single(member).act(observation, ctx)`` returns ``member.act(observation, ctx)``:

- the member acts **directly in the system's context**, on the environment's
  observation unchanged (text, tools, messages): no `message` event, no child context,
  its model requests and tool calls recorded under the environment agent's own name;
- the action returned is the member's, unchanged.

Why directly, rather than in a child ``agent/solo``: the coordination metrics divide a
system's tokens and model calls by those of `single` on the same tasks, and "Towards a
Science of Scaling Agent Systems" defines the single-agent system as one agent with no
coordination at all. Acting directly makes ``Single(op)`` record exactly the log of
``op`` alone (the same events; only its label in `episode_start.operators` differs),
so its overhead is 1 by construction and any overhead measured for another topology is
what that topology adds. A member that is
itself a system still gives its internal agents their own names (``agent/worker``).
"""

from __future__ import annotations

from palaestra.core import Action, Context, Observation, Operator
from palaestra.systems._base import describe_member, fork_member
from palaestra.systems._rounds import check_operator


class Single:
    """One operator acting alone; see the module docstring."""

    def __init__(self, member: Operator):
        check_operator(member, "single: the member")
        self.member = member

    def fork(self) -> Single:
        """A fresh per-episode copy (the member forked)."""
        return Single(fork_member(self.member))

    def describe(self) -> str:
        """``single(llm:model)``."""
        return f"single({describe_member(self.member)})"

    async def act(self, observation: Observation, ctx: Context) -> Action:
        return await self.member.act(observation, ctx)
