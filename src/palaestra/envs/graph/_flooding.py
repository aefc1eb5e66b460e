"""Non-LLM baselines of leader election and consensus: flood the greatest name.

Every round each agent tells all its neighbours the greatest agent name it has heard of
(names compared as strings, the same order everywhere), with that agent's starting value
for consensus. After r rounds an agent knows the greatest name within r hops, so once the
rounds reach the diameter — the default 2·diameter + 1 always does — every agent knows
the global maximum: exactly one agent (that maximum) says Yes to "are you the leader?",
and everybody answers the maximum's starting value to consensus. With fewer rounds,
local maxima that have not heard of a greater name also say Yes.

They act only on what one agent observes (its name, neighbours, inbox), implement the
`Operator` protocol structurally and import nothing from the runtime or the operators
package. One instance may serve several agents and episodes (its state is kept per
episode id and agent).
"""

from __future__ import annotations

import re
from typing import Any

from palaestra.core import Action, Context, Observation

_LEADER_RE = re.compile(r"\bleader\s+([A-Za-z][A-Za-z0-9]*)(?:\s+value\s+([01]))?")


class _Flooding:
    """The shared loop: keep the greatest (name, value) heard of; answer from it."""

    def __init__(self) -> None:
        self._best: dict[tuple[str, str], tuple[str, Any]] = {}

    def _answer(self, me: str, best: tuple[str, Any]) -> str:
        raise NotImplementedError

    async def act(self, observation: Observation, ctx: Context) -> Action:
        data = observation.data
        phase = data.get("phase")
        me = str(data.get("agent", ctx.agent))
        key = (ctx.episode_id, me)
        if key not in self._best or (phase == "message" and data.get("round") == 1):
            self._best[key] = (me, data.get("value"))
        best = self._best[key]
        for text in data.get("inbox", {}).values():
            match = _LEADER_RE.search(str(text))
            if match and match.group(1) > best[0]:
                value = match.group(2)
                best = (match.group(1), None if value is None else int(value))
        if phase == "message":
            self._best[key] = best
            text = f"leader {best[0]}" + ("" if best[1] is None else f" value {best[1]}")
            return Action(data={"messages": {nb: text for nb in data.get("neighbors", [])}})
        self._best.pop(key, None)
        answer = self._answer(me, best)
        return Action(text=f"ANSWER: {answer}", data={"answer": answer})


class LeaderElectionBaseline(_Flooding):
    """Flood the greatest name; answer Yes iff it is one's own (see the module doc)."""

    def _answer(self, me: str, best: tuple[str, Any]) -> str:
        return "Yes" if best[0] == me else "No"


class ConsensusBaseline(_Flooding):
    """Flood the greatest name with its starting value; answer that value."""

    def _answer(self, me: str, best: tuple[str, Any]) -> str:
        return str(best[1] if best[1] in (0, 1) else 0)


def leader_election_baseline(params: Any, agent: str) -> LeaderElectionBaseline:
    """The `EnvSpec.baseline` factory of ``graph.leader_election``."""
    return LeaderElectionBaseline()


def consensus_baseline(params: Any, agent: str) -> ConsensusBaseline:
    """The `EnvSpec.baseline` factory of ``graph.consensus``."""
    return ConsensusBaseline()
