"""`example.shifts`: a topology where the members take turns, one environment step each.

Step 0 is played by the first member of `order`, step 1 by the second, and so on round
the list; each member acts directly in the system's own context (as in `single`: no
messages between members) and sees only the observations of its own steps. It is the
smallest useful multi-agent system: a hand-over between shifts, showing how an agent
copes with a state another agent left half done.

```yaml
operator:
  topology: example.shifts
  order: [early, late]          # default: every member, as listed
  members:
    early: baseline
    late: {kind: llm, model: clerk}
```

A topology is a config model (a `SystemBase` subclass: `members`, the topology's own
fields, and `roles()` saying which field names which member, so that a misspelt or
unused member is an error pointing at its line) and a build function; the
`register_topology` decorator below is the one registration, run when this module is
imported (by the entry point in pyproject.toml, or ``--import``).
"""

from __future__ import annotations

from pydantic import Field

from palaestra.core import Action, Context, Observation, Operator
from palaestra.runtime import Members, SystemBase, register_topology
from palaestra.systems import describe_member, fork_member


class ShiftsConfig(SystemBase):
    """`example.shifts`: members take turns, one environment step each."""

    order: list[str] | None = Field(
        None, description="The members in turn order (default: every member, as listed)."
    )
    shift: int = Field(1, ge=1, description="Consecutive steps each member plays.")

    def _defaults(self) -> None:
        if self.order is None:
            self.order = list(self.members)

    def roles(self) -> list[tuple[str, str]]:
        return [(f"order.{index}", name) for index, name in enumerate(self.order or [])]


class Shifts:
    """The operator: hands each step to the member whose shift it is."""

    def __init__(self, members: list[Operator], shift: int = 1):
        if not members:
            raise ValueError("shifts: at least one member")
        self.members = members
        self.shift = shift
        self.steps = 0

    def fork(self) -> Shifts:
        """A fresh per-episode copy (members forked, the turn counter at 0)."""
        return Shifts([fork_member(member) for member in self.members], self.shift)

    def describe(self) -> str:
        """``shifts(baseline, llm:clerk)``."""
        return f"shifts({', '.join(describe_member(m) for m in self.members)})"

    async def act(self, observation: Observation, ctx: Context) -> Action:
        member = self.members[(self.steps // self.shift) % len(self.members)]
        self.steps += 1
        return await member.act(observation, ctx)


@register_topology("example.shifts", ShiftsConfig)
def build_shifts(config: ShiftsConfig, members: Members) -> Operator:
    """Each member acts as the system's own agent (its model asked under that name)."""
    return Shifts([members(name, agent=members.agent) for name in config.order or []], config.shift)
