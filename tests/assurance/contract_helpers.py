"""Tools, operators and user contracts the contract tests run (imported by path from
experiment configs, as users' own code is)."""

from __future__ import annotations

import json
from typing import Any

from palaestra.assurance import Violation, step_contract
from palaestra.core import (
    Action,
    Context,
    Event,
    Governance,
    Observation,
    ToolCall,
    ToolCallEvent,
)


def lookup(key: str) -> str:
    """Look up a record by key."""
    return json.dumps({"key": key, "code": f"CODE-{key}-42"})


def no_big_adds(event: Event) -> str | None:
    """A user step contract as a plain function: no `add` of more than 2."""
    for call in getattr(event.payload, "action", Action()).tool_calls:
        if call.name == "add" and int(call.arguments.get("n", 0)) > 2:
            return f"add({call.arguments['n']}) adds more than 2"
    return None


@step_contract(name="first_action_is_add", kinds=["action"])
def first_action_is_add(event: Event, view: Any) -> str | None:
    """A user step contract with the view: the first action of an agent is a call."""
    earlier = [e for e in view.events if e.kind == "action" and e.agent == event.agent]
    if not earlier and not event.payload.action.tool_calls:  # type: ignore[attr-defined]
        return "the first action must call a tool"
    return None


def total_adds_at_most(limit: int):
    """A factory of a whole-log trace contract (a `python:` entry with parameters)."""

    def check(events: list[Event]) -> Violation | None:
        total = 0
        for event in events:
            if event.kind == "action":
                for call in event.payload.action.tool_calls:  # type: ignore[attr-defined]
                    total += int(call.arguments.get("n", 0))
                    if total > limit:
                        return Violation(f"adds total {total} > {limit}", seq=event.seq)
        return None

    return check


class SloppyOperator:
    """Step 0: records an own tool call but never its result, then adds 1; step 1: DONE."""

    def __init__(self, agent: str = ""):
        self.agent = agent

    async def act(self, observation: Observation, ctx: Context) -> Action:
        if ctx.step == 0:
            ctx.emit(ToolCallEvent(call=ToolCall(id="t0", name="lookup", arguments={"key": "a"})))
            return Action(tool_calls=[ToolCall(id="c0", name="add", arguments={"n": 1})])
        return Action(text="DONE")


class BlockIgnorer:
    """Records a governance block of `add(n=5)`, then sends that very call (or, with
    `obey`, a smaller one): what a broken governance wrapper would do."""

    def __init__(self, agent: str = "", obey: bool = False):
        self.obey = obey

    async def act(self, observation: Observation, ctx: Context) -> Action:
        if ctx.step > 0:
            return Action(text="DONE")
        ctx.emit(
            Governance(
                decision="block",
                rule="max-add",
                target="add",
                detail={"boundary": "env", "kind": "tool", "arguments": {"n": 5}},
            ),
            parent=ctx.turn_event,
        )
        n = 1 if self.obey else 5
        return Action(tool_calls=[ToolCall(id="c0", name="add", arguments={"n": n})])
