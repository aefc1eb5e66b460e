"""What every multi-agent topology shares: members are operators, each internal exchange
is a `message` event, and each member's turn runs in its own child context.

A topology (`Single`, `Independent`, `Centralized`, `Decentralized`, `Hybrid`,
`Recursive`, `Pipeline`) is itself an `Operator`: the runtime gives it the observation of
one environment agent and a `Context`, and it returns that agent's action. Inside, it
talks to its members only through `consult`, so the log shows who said what to whom:

1. a `message` event from the sender (``ctx.agent`` or an internal agent) to the member,
   holding the text the member is given (round number when there are rounds);
2. the member acts in ``ctx.child(name, parent=<that message>)``: its model requests,
   tool calls and anything it consults in turn are recorded under the agent
   ``{ctx.agent}/{name}`` and hang under the message;
3. its reply is returned (a `message` from the member back is the caller's to emit when
   the reply is passed on, see `reply`).

Members may themselves be topologies (nesting); each member is forked per episode
(`fork_member`) so that conversations never leak between episodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, cast, runtime_checkable

from palaestra.core import Action, Context, MessageEvent, Observation, Operator, described, forked


@runtime_checkable
class Forkable(Protocol):
    """An operator with per-episode state that can hand out a fresh copy."""

    def fork(self) -> Any: ...


def fork_member(member: Operator) -> Operator:
    """A fresh per-episode copy of `member` when it keeps state (`fork()`), else itself."""
    return cast(Operator, forked(member))


def fork_members(members: Mapping[str, Operator]) -> dict[str, Operator]:
    """`fork_member` of each member, same names and order."""
    return {name: fork_member(member) for name, member in members.items()}


def describe_member(member: Operator) -> str:
    """One-line description of a member for `episode_start.operators`."""
    return described(member)


def action_text(action: Action) -> str:
    """The text an action carries (empty if none), stripped."""
    return (action.text or "").strip()


def check_name(name: str, where: str) -> str:
    """Member names become agent names (``parent/name``): non-empty, no ``/``."""
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(
            f"{where}: member names must be non-empty strings without '/', got {name!r}"
        )
    return name


async def consult(
    ctx: Context,
    member: Operator,
    name: str,
    text: str,
    *,
    sender: str | None = None,
    parent: int | None = None,
    round: int | None = None,
    base: Observation | None = None,
    data: dict[str, Any] | None = None,
) -> tuple[Action, Context]:
    """Send `text` to member `name` and let it act on it; returns its action and the
    child context it acted in.

    The member sees an `Observation` with `text` (and, from `base`, the environment's
    tools and messages when it should act on the environment itself); `data` is added
    to the observation's data. The `message` event's sender is `sender` (default
    ``ctx.agent``) and it hangs under `parent` (default the turn's event).
    """
    observation, child = open_consult(
        ctx, name, text, sender=sender, parent=parent, round=round, base=base, data=data
    )
    action = await member.act(observation, child)
    return action, child


def open_consult(
    ctx: Context,
    name: str,
    text: str,
    *,
    sender: str | None = None,
    parent: int | None = None,
    round: int | None = None,
    base: Observation | None = None,
    data: dict[str, Any] | None = None,
) -> tuple[Observation, Context]:
    """The first half of `consult`, without awaiting anything: record the `message` to
    member `name`, open its child context, and return the observation it is to act on
    with that context. Systems that run members concurrently open every member's
    consultation in member order first, then gather the `act` calls, so the log's order
    never depends on scheduling."""
    handle = ctx.emit(
        MessageEvent(
            sender=sender or ctx.agent,
            recipients=[f"{ctx.agent}/{name}"],
            content=text,
            round=round,
        ),
        parent=ctx.turn_event if parent is None else parent,
    )
    child = ctx.child(name, parent=handle)
    if base is not None:
        observation = base.model_copy(update={"text": text, "data": {**base.data, **(data or {})}})
    else:
        observation = Observation(text=text, data=dict(data or {}))
    return observation, child


def reply(ctx: Context, member_ctx: Context, action: Action, *, to: str | None = None,
          round: int | None = None) -> int:  # fmt: skip
    """Record the member's answer as a `message` from it to `to` (default the system's
    agent), under the member's turn; returns the event's handle."""
    return member_ctx.emit(
        MessageEvent(
            sender=member_ctx.agent,
            recipients=[to or ctx.agent],
            content=action_text(action),
            round=round,
        ),
        parent=member_ctx.turn_event,
    )
