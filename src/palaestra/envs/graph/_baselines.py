"""Non-LLM baseline operators of the graph problems: distributed algorithms that act only
on what one agent observes (its name, neighbours, inbox), through messages.

They implement the `Operator` protocol structurally and import nothing from the runtime
or the operators package, so an environment stays usable without either.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from palaestra.core import Action, Context, Observation

_MESSAGE_RE = re.compile(r"\b(propose|fixed)\s+(\d+)", re.IGNORECASE)


@dataclass
class _ColoringState:
    proposal: int | None = None
    fixed: int | None = None
    taken: dict[str, int] = field(default_factory=dict)
    """Colours that neighbours announced as fixed."""


class ColoringBaseline:
    """Randomised distributed (Δ+1)-colouring with name priority.

    Each message round, an agent that has not fixed its colour yet proposes one at random
    from the palette minus the colours its neighbours have fixed (avoiding, where
    possible, the colours they proposed last round), and sends ``propose C`` to every
    neighbour. When the next inbox arrives, its proposal becomes fixed unless a neighbour
    announced the same colour as fixed, or a neighbour with a greater name (string order)
    proposed the same colour; both ends of an edge see the same two proposals, so they
    never both keep one colour. A fixed agent sends ``fixed C`` from then on. At the answer
    step it answers its fixed colour, or (if its last proposal lost) its best guess.

    With k = Δ + 1 colours an unfixed agent always has a colour left, and every round a
    constant share of the unfixed agents settles, so a few rounds colour most graphs.
    Randomness: ``ctx.rng("coloring")``, mixed with the step number so the draws differ
    from step to step whether or not the context hands out the same generator each call.
    One instance may serve several agents and episodes (its state is kept per episode id
    and agent).
    """

    def __init__(self) -> None:
        self._states: dict[tuple[str, str], _ColoringState] = {}

    async def act(self, observation: Observation, ctx: Context) -> Action:
        data = observation.data
        phase = data.get("phase")
        me = str(data.get("agent", ctx.agent))
        neighbors: list[str] = list(data.get("neighbors", []))
        palette: list[int] = list(data.get("colors", []))
        key = (ctx.episode_id, me)
        state = self._states.get(key)
        if state is None or (phase == "message" and data.get("round") == 1):
            state = self._states[key] = _ColoringState()
        proposals = _read_inbox(data.get("inbox", {}), state)
        if state.fixed is None and state.proposal is not None:
            lost = state.proposal in state.taken.values() or any(
                colour == state.proposal and sender > me for sender, colour in proposals.items()
            )
            if not lost:
                state.fixed = state.proposal
        rng = random.Random(f"{ctx.rng('coloring').getrandbits(64)}:{ctx.step}")
        if phase == "message":
            if state.fixed is not None:
                text = f"fixed {state.fixed}"
            else:
                state.proposal = _choose(palette, state, proposals, rng)
                text = f"propose {state.proposal}"
            return Action(data={"messages": {nb: text for nb in neighbors}})
        answer = state.fixed if state.fixed is not None else _choose(palette, state, proposals, rng)
        self._states.pop(key, None)
        return Action(text=f"ANSWER: {answer}", data={"answer": answer})


def _read_inbox(inbox: dict[str, Any], state: _ColoringState) -> dict[str, int]:
    """Record neighbours' fixed colours; return their proposals of the last round."""
    proposals: dict[str, int] = {}
    for sender, text in inbox.items():
        match = _MESSAGE_RE.search(str(text))
        if match is None:
            continue
        colour = int(match.group(2))
        if match.group(1).lower() == "fixed":
            state.taken[sender] = colour
        else:
            proposals[sender] = colour
    return proposals


def _choose(
    palette: list[int], state: _ColoringState, proposals: dict[str, int], rng: random.Random
) -> int:
    taken = set(state.taken.values())
    free = [c for c in palette if c not in taken] or palette or [1]
    fresh = [c for c in free if c not in proposals.values()]
    return rng.choice(fresh or free)


def coloring_baseline(params: Any, agent: str) -> ColoringBaseline:
    """The `EnvSpec.baseline` factory of ``graph.coloring``: one operator per agent."""
    return ColoringBaseline()
