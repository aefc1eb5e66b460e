"""Non-LLM baseline of vertex cover: the complement of a maximal independent set.

The agents build a maximal independent set (MIS) the way Luby's algorithm does, one
message round per step: every agent starts ``undecided`` and sends its state to all its
neighbours each round. On reading round r's messages, an undecided agent

- becomes ``cover`` if a neighbour announced ``independent`` (it joined the set);
- else becomes ``independent`` if its priority beats that of every neighbour that
  announced ``undecided`` (an absent or unreadable message counts as undecided).

Priorities are a hash of the episode id, the round and the name, drawn afresh each round,
so both ends of an edge compare the same two numbers without talking and never join
together; a neighbour that joined in round r announces it in round r + 1, before anyone
next to it can join. At the answer step an agent says No if it is independent and Yes
otherwise (undecided agents too: that keeps every edge covered).

Why not both ends of a maximal matching (a 2-approximate cover)? AgentsNet scores
minimality, not size, and the complement of a maximal independent set is exactly a
minimal vertex cover: every agent outside the set has a neighbour in it, so none of them
is redundant. Both matching ends, even with a pruning pass, measured far lower with the
default 4 rounds of small graphs (see `_vertex_cover`).

It acts only on what one agent observes, implements the `Operator` protocol structurally
and imports nothing from the runtime or the operators package. One instance may serve
several agents and episodes (its state is kept per episode id and agent).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Literal, cast

from palaestra.core import Action, Context, Observation

State = Literal["undecided", "independent", "cover"]

_STATE_RE = re.compile(r"\bstate\s+(undecided|independent|cover)\b", re.IGNORECASE)


def priority(episode: str, round_: int, name: str) -> int:
    """An agent's priority in one round of one episode (all distinct in practice)."""
    text = f"{episode}\x1f{round_}\x1f{name}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


class VertexCoverBaseline:
    """Yes iff not in a distributed maximal independent set (see the module doc)."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, str], State] = {}

    async def act(self, observation: Observation, ctx: Context) -> Action:
        data = observation.data
        phase = data.get("phase")
        me = str(data.get("agent", ctx.agent))
        neighbors: list[str] = list(data.get("neighbors", []))
        key = (ctx.episode_id, me)
        if key not in self._states or (phase == "message" and data.get("round") == 1):
            self._states[key] = "undecided"
        state = self._states[key]
        inbox: dict[str, Any] = data.get("inbox", {})
        round_ = int(data.get("inbox_round", 0))
        if state == "undecided" and round_ >= 1:
            heard = {nb: _read_state(inbox.get(nb)) for nb in neighbors}
            mine = priority(ctx.episode_id, round_, me)
            if "independent" in heard.values():
                state = "cover"
            elif all(
                mine > priority(ctx.episode_id, round_, nb)
                for nb, theirs in heard.items()
                if theirs == "undecided"
            ):
                state = "independent"
        if phase == "message":
            self._states[key] = state
            text = f"state {state}"
            return Action(data={"messages": {nb: text for nb in neighbors}})
        self._states.pop(key, None)
        answer = "No" if state == "independent" else "Yes"
        return Action(text=f"ANSWER: {answer}", data={"answer": answer})


def _read_state(text: Any) -> State:
    match = _STATE_RE.search(str(text)) if text is not None else None
    found = match.group(1).lower() if match else "undecided"
    return cast(State, found)


def vertex_cover_baseline(params: Any, agent: str) -> VertexCoverBaseline:
    """The `EnvSpec.baseline` factory of ``graph.vertex_cover``."""
    return VertexCoverBaseline()
