"""Non-LLM baseline of matching: mutual proposals along the heaviest free edge.

Every message round, an agent that is not paired proposes to one neighbour it does not
know to be paired: the one joined to it by the heaviest edge, where an edge's weight is a
hash of the episode id, the round number and the two names — both ends compute the same
weight without talking, and fresh weights each round keep agents from proposing to the
same (perhaps already paired) neighbour over and over. It sends ``pick NAME`` to every
neighbour (``free`` when no neighbour is left); a paired agent sends ``matched with
NAME``. When two neighbours proposed to each other in the same round they are paired.
At the answer step an agent names its partner, or None.

Pairs are always consistent (both ends see the same two proposals). Each round the
heaviest edge between free agents is mutual, so the matching becomes maximal given
enough rounds; in practice a few rounds suffice (see `_matching` for the measured
scores). An agent learns that a neighbour is paired one round late, from its
``matched with`` message, so a proposal may go to a neighbour that has just paired.

It acts only on what one agent observes, implements the `Operator` protocol structurally
and imports nothing from the runtime or the operators package. One instance may serve
several agents and episodes (its state is kept per episode id and agent).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from palaestra.core import Action, Context, Observation
from palaestra.envs.graph._answers import NO_PARTNER

_MESSAGE_RE = re.compile(r"\b(matched with|pick)\s+([A-Za-z][A-Za-z0-9]*)", re.IGNORECASE)


def edge_weight(episode: str, round_: int, a: str, b: str) -> int:
    """The weight of edge {a, b} in one round of one episode (symmetric in a, b)."""
    low, high = sorted((a, b))
    text = f"{episode}\x1f{round_}\x1f{low}\x1f{high}".encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big")


@dataclass
class _MatchingState:
    partner: str | None = None
    pick: str | None = None
    """Whom this agent proposed to in the last round."""
    paired: set[str] = field(default_factory=set)
    """Neighbours known to be paired with someone."""


class MatchingBaseline:
    """Distributed maximal matching by mutual proposals (see the module doc)."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, str], _MatchingState] = {}

    async def act(self, observation: Observation, ctx: Context) -> Action:
        data = observation.data
        phase = data.get("phase")
        me = str(data.get("agent", ctx.agent))
        neighbors: list[str] = list(data.get("neighbors", []))
        key = (ctx.episode_id, me)
        state = self._states.get(key)
        if state is None or (phase == "message" and data.get("round") == 1):
            state = self._states[key] = _MatchingState()
        _read_inbox(me, data.get("inbox", {}), state)
        if phase != "message":
            self._states.pop(key, None)
            answer = state.partner or NO_PARTNER
            return Action(text=f"ANSWER: {answer}", data={"answer": answer})
        if state.partner is not None:
            text = f"matched with {state.partner}"
        else:
            free = [nb for nb in neighbors if nb not in state.paired]
            round_ = int(data.get("round", 0))
            state.pick = max(
                free, key=lambda nb: edge_weight(ctx.episode_id, round_, me, nb), default=None
            )
            text = "free" if state.pick is None else f"pick {state.pick}"
        return Action(data={"messages": {nb: text for nb in neighbors}})


def _read_inbox(me: str, inbox: dict[str, Any], state: _MatchingState) -> None:
    """Note who is paired; pair with the neighbour we proposed to if it proposed to us."""
    for sender, text in inbox.items():
        match = _MESSAGE_RE.search(str(text))
        if match is None:
            continue
        if match.group(1).lower() == "pick":
            if match.group(2) == me and state.pick == sender and state.partner is None:
                state.partner = sender
        else:
            state.paired.add(sender)


def matching_baseline(params: Any, agent: str) -> MatchingBaseline:
    """The `EnvSpec.baseline` factory of ``graph.matching``."""
    return MatchingBaseline()
