"""`Decentralized`: peers on a communication graph exchange answers for several rounds
(multi-agent debate, consensus), then the system acts on their last answers.

``Decentralized(peers, rounds=R, edges=..., decide=...).act(observation, ctx)``, at
each step:

1. **round 1**: every peer is sent the observation (`message` from ``agent`` to
   ``agent/<peer>``, ``round=1``) and answers it in its child context, with the
   environment's tools; peers act concurrently, their events placed in peer order;
2. **rounds 2..R**: after round r - 1 each peer's answer goes to its out-neighbours on
   the graph, recorded as one `message` from ``agent/<peer>`` to them with
   ``round=r-1``; then each peer is sent (`message` from ``agent``, ``round=r``)
   "Round r of R. Your peers answered in round r-1: - b: ... - c: ..." — only its
   in-neighbours' answers — and answers again, keeping or changing its answer (its
   model keeps the conversation, so it still has the task);
3. after round R each peer's last answer is recorded as a `message` to
   ``agent/aggregator`` (``round=R``), and the decision as a `message` from
   ``agent/aggregator`` to ``agent``:

   - ``decide="majority"`` (default): the most common valid last answer (normalised as
     in `Independent`; ties go to the first in peer order);
   - ``decide="first"``: the first peer's last answer;
4. the chosen answer, unchanged, is the system's action.

`edges` lists pairs of peer names, undirected unless ``directed=True``; None (default)
is the complete graph. ``rounds=1`` is `Independent` with a vote. A tool call a peer
proposes in a discussion round is not executed: its conversation gets a "not executed,
discussion round" tool result before the next round's message.

Bad parameters raise `UserError`: fewer than one round, an unknown `decide`, an edge
naming an undefined peer, a self-loop.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from palaestra.core import Action, Context, MessageEvent, Observation, Operator, UserError
from palaestra.systems._base import describe_member, fork_members
from palaestra.systems._relay import render_action
from palaestra.systems._rounds import Graph, check_members, discuss
from palaestra.systems._vote import AGGREGATOR, Decision, majority, tally

DECIDE = ("majority", "first")


def check_rounds(value: object, name: str, where: str, *, minimum: int) -> int:
    """`value` as a number of rounds, at least `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UserError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    return value


class Decentralized:
    """Peers debating on a graph for `rounds` rounds; see the module docstring."""

    def __init__(
        self,
        peers: Mapping[str, Operator],
        *,
        rounds: int = 2,
        edges: Sequence[tuple[str, str]] | None = None,
        decide: Literal["majority", "first"] = "majority",
        directed: bool = False,
    ):
        self.peers = check_members(peers, "decentralized", reserved=(AGGREGATOR,))
        self.rounds = check_rounds(rounds, "rounds", "decentralized", minimum=1)
        if decide not in DECIDE:
            raise UserError(f"decentralized: unknown decide {decide!r}; valid: {', '.join(DECIDE)}")
        self.decide = decide
        self.graph = Graph(list(self.peers), edges, directed=directed, where="decentralized")
        self.edges = None if edges is None else [(a, b) for a, b in edges]
        self.directed = directed
        self._previous: dict[str, Action] = {}
        self._executed: Action | None = None

    def fork(self) -> Decentralized:
        """A fresh per-episode copy: peers forked, no memory of steps."""
        return Decentralized(
            fork_members(self.peers),
            rounds=self.rounds,
            edges=self.edges,
            decide=self.decide,
            directed=self.directed,
        )

    def describe(self) -> str:
        """``decentralized(2 rounds, complete, majority: a=llm:m, b=llm:m)``."""
        peers = ", ".join(f"{n}={describe_member(m)}" for n, m in self.peers.items())
        return (
            f"decentralized({self.rounds} rounds, {self.graph.describe()}, {self.decide}: {peers})"
        )

    async def act(self, observation: Observation, ctx: Context) -> Action:
        actions, contexts = await discuss(
            ctx,
            self.peers,
            dict.fromkeys(self.peers, observation.text),
            base=observation,
            graph=self.graph,
            rounds=self.rounds,
            previous=self._previous,
            executed=self._executed,
        )
        to = f"{ctx.agent}/{AGGREGATOR}"
        for name, child in contexts.items():
            child.emit(
                MessageEvent(
                    sender=child.agent,
                    recipients=[to],
                    content=render_action(actions[name]),
                    round=self.rounds,
                ),
                parent=child.turn_event,
            )
        tools = [spec.name for spec in observation.tools]
        if self.decide == "majority":
            decision = majority(actions, tools)
        else:
            first = next(iter(actions))
            decision = Decision(
                winner=first, rule="first", votes=tally(actions, tools), total=len(actions)
            )
        ctx.emit(
            MessageEvent(
                sender=to,
                recipients=[ctx.agent],
                content=decision.text(actions),
                round=self.rounds,
            ),
            parent=ctx.turn_event,
        )
        chosen = actions[decision.winner]
        self._previous, self._executed = actions, chosen
        return chosen
