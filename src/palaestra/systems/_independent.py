"""`Independent`: n members answer the same observation in parallel, without talking to
each other; an aggregator picks the action (self-consistency, voting ensembles).

``Independent(members, aggregate=...).act(observation, ctx)``, at each step:

1. every member, in member order, is sent the observation: a `message` event from
   ``agent`` to ``agent/<member>`` (the observation's text), then the member acts in
   its child context on the observation *with the environment's tools*, so its
   proposal may be a tool call. Members act concurrently; their events are placed in
   member order whatever the timing;
2. each proposal is recorded as a `message` from ``agent/<member>`` to
   ``agent/aggregator`` (the action in one line, tool calls as ``name({...})``);
3. the aggregator chooses one proposal:

   - ``"majority"`` (default): the most common *valid* proposal, compared normalised
     (text stripped and case-folded; tool calls by name and arguments, ids ignored);
     ties go to the proposal made first in member order;
   - ``"first_valid"``: the first member's (in order) valid proposal;
   - an `Operator` (a judge): it acts as ``agent/aggregator`` on a message listing the
     task and the numbered candidates with their members' names, and replies with a
     number (the first candidate number in its reply counts; a reply equal to a
     candidate's text also does). An unparsable reply falls back to majority, and the
     decision says so.

   A proposal is valid when it has text or tool calls and every tool call names one of
   the observation's tools; with no valid proposal the first member's is taken;
4. the decision is recorded as a `message` from ``agent/aggregator`` to ``agent``:
   rule, winner, its action and the vote counts, e.g.
   ``majority: b wins with 2 of 3 votes: 42 | votes: 42 ×2 [b, c]; 41 ×1 [a]``;
5. the chosen proposal, unchanged, is the system's action.

At the next step each member sees the environment's answer relayed to its own
conversation (see `palaestra.systems._relay`): tool results under its own call ids if it
proposed the executed calls, else a "not executed" answer to its calls and a message
saying what was executed and with what result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from palaestra.core import Action, Context, MessageEvent, Observation, Operator, UserError
from palaestra.systems._base import (
    consult,
    describe_member,
    fork_member,
    fork_members,
    open_consult,
)
from palaestra.systems._relay import relay, render_action
from palaestra.systems._rounds import Opened, act_all, check_members, check_operator
from palaestra.systems._vote import (
    AGGREGATOR,
    Decision,
    first_valid,
    judge_prompt,
    majority,
    parse_choice,
    tally,
)

RULES = ("majority", "first_valid")


class Independent:
    """Parallel members and an aggregator; see the module docstring."""

    def __init__(
        self,
        members: Mapping[str, Operator],
        *,
        aggregate: Literal["majority", "first_valid"] | Operator = "majority",
    ):
        self.members = check_members(members, "independent", reserved=(AGGREGATOR,))
        if isinstance(aggregate, str):
            if aggregate not in RULES:
                raise UserError(
                    f"independent: unknown aggregate {aggregate!r}; valid: "
                    f"{', '.join(RULES)}, or a judge operator"
                )
        else:
            check_operator(aggregate, "independent: aggregate")
        self.aggregate = aggregate
        self._previous: dict[str, Action] = {}
        self._executed: Action | None = None

    def fork(self) -> Independent:
        """A fresh per-episode copy: members (and a judge) forked, no memory of steps."""
        aggregate = self.aggregate
        return Independent(
            fork_members(self.members),
            aggregate=aggregate if isinstance(aggregate, str) else fork_member(aggregate),
        )

    def describe(self) -> str:
        """``independent(majority: a=llm:m, b=llm:m)``; a judge shows as
        ``judge=<its description>``."""
        aggregate = self.aggregate
        rule = aggregate if isinstance(aggregate, str) else f"judge={describe_member(aggregate)}"
        members = ", ".join(f"{n}={describe_member(m)}" for n, m in self.members.items())
        return f"independent({rule}: {members})"

    async def act(self, observation: Observation, ctx: Context) -> Action:
        opened = []
        for name, member in self.members.items():
            view = relay(observation, executed=self._executed, own=self._previous.get(name))
            seen, child = open_consult(ctx, name, observation.text, base=view)
            opened.append(Opened(name, member, seen, child))
        results = await act_all(opened)
        actions = {o.name: a for o, a in zip(opened, results, strict=True)}
        to = f"{ctx.agent}/{AGGREGATOR}"
        for item, action in zip(opened, results, strict=True):
            item.ctx.emit(
                MessageEvent(sender=item.ctx.agent, recipients=[to], content=render_action(action)),
                parent=item.ctx.turn_event,
            )
        decision, where = await self._decide(observation, actions, ctx)
        where.emit(
            MessageEvent(sender=to, recipients=[ctx.agent], content=decision.text(actions)),
            parent=where.turn_event,
        )
        chosen = actions[decision.winner]
        self._previous, self._executed = actions, chosen
        return chosen

    async def _decide(
        self, observation: Observation, actions: dict[str, Action], ctx: Context
    ) -> tuple[Decision, Context]:
        """The decision, and the context to record it in (the judge's, if any)."""
        tools = [spec.name for spec in observation.tools]
        rule = self.aggregate
        if rule == "majority":
            return majority(actions, tools), ctx
        if rule == "first_valid":
            return first_valid(actions, tools), ctx
        assert not isinstance(rule, str)
        candidates = [{"member": n, "answer": render_action(a)} for n, a in actions.items()]
        verdict, judge_ctx = await consult(
            ctx,
            rule,
            AGGREGATOR,
            judge_prompt(observation.text, actions),
            data={"candidates": candidates},
        )
        reply = render_action(verdict)
        pick = parse_choice(reply, actions)
        if pick is None:
            fallback = majority(actions, tools)
            shown = reply if len(reply) <= 80 else reply[:77] + "..."
            decision = Decision(
                winner=fallback.winner,
                rule=f"judge reply {shown!r} names no candidate; fell back to majority",
                votes=fallback.votes,
                total=fallback.total,
            )
        else:
            decision = Decision(
                winner=pick, rule="judge", votes=tally(actions, tools), total=len(actions)
            )
        return decision, judge_ctx
