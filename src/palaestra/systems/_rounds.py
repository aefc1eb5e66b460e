"""Members acting together: concurrent turns with a deterministic log, communication
graphs, and rounds of discussion among peers (shared by `Independent`, `Decentralized`
and `Hybrid`).

**Concurrency.** `act_all` runs already opened consultations (`open_consult`, called in
member order) concurrently. However the members' work interleaves, their events are
placed in member order, and when several fail the first failure *in member order* is
raised (after every member has finished), so even a failing step logs the same way.

**Graph.** Peers talk along edges. Edges are undirected by default (``("a", "b")``:
a and b see each other's answers); with ``directed=True`` an edge ``("a", "b")`` only
carries a's answers to b. No edges given means everyone talks to everyone.

**Rounds** (`discuss`). Round 1: every peer answers its first text. Round r in 2..R:
every peer is told its in-neighbours' answers of round r - 1 and answers again, keeping
or changing its answer. After each round r < R, each peer's answer is recorded as one
`message` event (``round=r``) from ``agent/peer`` to its out-neighbours. The answers of
round R are returned; what happens to them (a vote, a coordinator) is the caller's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from palaestra.core import (
    Action,
    Context,
    Message,
    MessageEvent,
    Observation,
    Operator,
    UserError,
)
from palaestra.systems._base import open_consult
from palaestra.systems._relay import not_executed, relay, render_action

DISCUSSION = "Not executed: this was a discussion round; the system acts after the last round."
"""Tool result given to a peer for a tool call it proposed in a discussion round."""


def check_members(
    members: Mapping[str, Operator], where: str, *, reserved: Sequence[str] = ()
) -> dict[str, Operator]:
    """`members` as a dict, checked: at least one; names non-empty strings without ``/``
    (they become agent names ``parent/name``) and not `reserved`; each has `act`."""
    if not isinstance(members, Mapping) or not members:
        raise UserError(f"{where} needs at least one member, as a mapping name -> operator")
    for name, member in members.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise UserError(
                f"{where}: member names must be non-empty strings without '/', got {name!r}"
            )
        if name in reserved:
            raise UserError(
                f"{where}: member name {name!r} is reserved for the system's own agent; "
                f"reserved: {', '.join(reserved)}"
            )
        check_operator(member, f"{where}: member {name!r}")
    return dict(members)


def check_operator(operator: object, where: str) -> None:
    """An operator has an `act(observation, ctx)` method."""
    if not isinstance(operator, Operator):
        raise UserError(
            f"{where} must be an operator (with `async act(observation, ctx)`), "
            f"got {type(operator).__name__}"
        )


@dataclass(frozen=True)
class Opened:
    """A consultation opened in the log, waiting for the member to act."""

    name: str
    member: Operator
    observation: Observation
    ctx: Context


async def act_all(opened: Sequence[Opened]) -> list[Action]:
    """Every opened member's action, in the same order; members act concurrently."""
    if len(opened) == 1:  # nothing to interleave: no task to create
        results: list[object] = [await opened[0].member.act(opened[0].observation, opened[0].ctx)]
    else:
        results = await asyncio.gather(
            *(o.member.act(o.observation, o.ctx) for o in opened), return_exceptions=True
        )
    for item, result in zip(opened, results, strict=True):
        if isinstance(result, BaseException):
            raise result
        if not isinstance(result, Action):
            raise TypeError(
                f"member {item.ctx.agent!r} returned {type(result).__name__}, "
                "expected palaestra.core.Action"
            )
    return results  # type: ignore[return-value]


class Graph:
    """Who hears whom among named peers. `hears[b]` lists, in peer order, the peers whose
    answers b is shown; `tells[a]` those a's answers go to."""

    def __init__(
        self,
        names: Sequence[str],
        edges: Sequence[tuple[str, str]] | None,
        *,
        directed: bool = False,
        where: str,
    ):
        names = list(names)
        pairs: set[tuple[str, str]] = set()
        if edges is None:
            pairs = {(a, b) for a in names for b in names if a != b}
        else:
            for index, edge in enumerate(edges):
                if not (
                    isinstance(edge, Sequence) and not isinstance(edge, str) and len(edge) == 2
                ):
                    raise UserError(
                        f"{where}: edges[{index}] must be a pair (sender, receiver), got {edge!r}"
                    )
                a, b = edge
                unknown = [n for n in (a, b) if n not in names]
                if unknown:
                    raise UserError(
                        f"{where}: edges[{index}] {tuple(edge)!r} names undefined peer "
                        f"{unknown[0]!r}; defined: {', '.join(names)}"
                    )
                if a == b:
                    raise UserError(
                        f"{where}: edges[{index}] {tuple(edge)!r} is a self-loop; a peer "
                        "always knows its own answer"
                    )
                pairs.add((a, b))
                if not directed:
                    pairs.add((b, a))
        self.names = names
        self.directed = directed
        self.complete = edges is None
        self.edges = sorted(pairs, key=lambda p: (names.index(p[0]), names.index(p[1])))
        self.hears = {b: [a for a in names if (a, b) in pairs] for b in names}
        self.tells = {a: [b for b in names if (a, b) in pairs] for a in names}

    def describe(self) -> str:
        """``complete``, ``no edges``, or the edges (``a-b,b-c``; ``a->b`` if directed)."""
        if self.complete:
            return "complete"
        if not self.edges:
            return "no edges"
        arrow = "->" if self.directed else "-"
        order = self.names.index
        shown = [(a, b) for a, b in self.edges if self.directed or order(a) < order(b)]
        return ",".join(f"{a}{arrow}{b}" for a, b in shown)


def round_text(number: int, rounds: int, heard: Mapping[str, str]) -> str:
    """What a peer reads at a discussion round: its neighbours' previous answers."""
    if heard:
        shown = "\n".join(f"- {name}: {answer or '(empty)'}" for name, answer in heard.items())
        said = f"Your peers answered in round {number - 1}:\n{shown}"
    else:
        said = f"No peer's answer reached you in round {number - 1}."
    return (
        f"Round {number} of {rounds}. {said}\n"
        "Give your answer again, in the same format: keep it or change it."
    )


async def discuss(
    ctx: Context,
    peers: Mapping[str, Operator],
    first: Mapping[str, str],
    *,
    base: Observation,
    graph: Graph,
    rounds: int,
    sender: str | None = None,
    previous: Mapping[str, Action] | None = None,
    executed: Action | None = None,
) -> tuple[dict[str, Action], dict[str, Context]]:
    """Run `rounds` rounds among `peers` (see the module docstring); returns each peer's
    last action and the context it acted in.

    Round 1 gives each peer the text `first[name]` on the environment observation `base`
    (its tools included), relayed with the peer's own proposal of the previous step
    (`previous`) and the action the system then executed (`executed`); the round-1
    messages come from `sender` (default the system's agent).
    """
    previous = previous or {}
    actions: dict[str, Action] = {}
    contexts: dict[str, Context] = {}
    for number in range(1, rounds + 1):
        opened = []
        for name, peer in peers.items():
            if number == 1:
                text = first[name]
                view = relay(base, executed=executed, own=previous.get(name), text=text)
                data: dict[str, object] = {"round": 1, "rounds": rounds}
                message_sender = sender
            else:
                heard = {a: render_action(actions[a]) for a in graph.hears[name]}
                text = round_text(number, rounds, heard)
                calls = actions[name].tool_calls
                messages = not_executed(calls, DISCUSSION)
                if messages:
                    messages.append(Message(role="user", content=text))
                view = base.model_copy(update={"messages": messages})
                data = {"round": number, "rounds": rounds, "peers": heard}
                message_sender = None
            observation, child = open_consult(
                ctx, name, text, sender=message_sender, round=number, base=view, data=data
            )
            opened.append(Opened(name, peer, observation, child))
        results = await act_all(opened)
        actions = {o.name: a for o, a in zip(opened, results, strict=True)}
        contexts = {o.name: o.ctx for o in opened}
        if number < rounds:
            for name, child in contexts.items():
                tells = graph.tells[name]
                if tells:
                    child.emit(
                        MessageEvent(
                            sender=child.agent,
                            recipients=[f"{ctx.agent}/{b}" for b in tells],
                            content=render_action(actions[name]),
                            round=number,
                        ),
                        parent=child.turn_event,
                    )
    return actions, contexts
