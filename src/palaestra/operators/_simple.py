"""Operators without a model: a Python function, a fixed script, a person at a terminal."""

from __future__ import annotations

import asyncio
import inspect
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from palaestra.core import Action, Context, Observation, ToolCall


def _as_action(value: Any) -> Action:
    if isinstance(value, Action):
        return value
    if isinstance(value, str):
        return Action(text=value)
    if isinstance(value, dict):
        return Action.model_validate(value)
    raise TypeError(
        f"an operator function must return an Action, a str or a dict, got {type(value).__name__}"
    )


class FunctionOperator:
    """Wraps `fn(observation, ctx)` (sync or async) returning an Action, str or dict."""

    def __init__(self, fn: Callable[[Observation, Context], Any], *, name: str | None = None):
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "function")

    def describe(self) -> str:
        return f"function:{self.name}"

    async def act(self, observation: Observation, ctx: Context) -> Action:
        result = self.fn(observation, ctx)
        if inspect.isawaitable(result):
            result = await result
        return _as_action(result)


class ScriptedOperator:
    """Plays a fixed list of actions, one per step; `repeat_last` after the end.

    Each item is an `Action`, a text, or a dict in the `Action` shape. One instance
    serves one agent in one episode (`fork()` gives a fresh cursor).
    """

    def __init__(self, actions: Sequence[Action | str | dict[str, Any]], *, repeat_last=True):
        if not actions:
            raise ValueError("ScriptedOperator needs at least one action")
        self.actions = [_as_action(a) for a in actions]
        self.repeat_last = repeat_last
        self._cursor = 0

    def fork(self) -> ScriptedOperator:
        return ScriptedOperator(self.actions, repeat_last=self.repeat_last)

    def describe(self) -> str:
        return f"scripted:{len(self.actions)} actions"

    async def act(self, observation: Observation, ctx: Context) -> Action:
        if self._cursor >= len(self.actions):
            if not self.repeat_last:
                raise IndexError(
                    f"ScriptedOperator for agent {ctx.agent!r} ran out of its "
                    f"{len(self.actions)} scripted actions at step {ctx.step}"
                )
            return self.actions[-1].model_copy(deep=True)
        action = self.actions[self._cursor]
        self._cursor += 1
        return action.model_copy(deep=True)


class HumanOperator:
    """A person at a terminal: shows the observation, reads the action.

    Type a reply as plain text, or call an environment tool with
    `/call NAME {"arg": value}`. An empty line sends an empty reply.
    """

    def __init__(self, *, stdin: TextIO | None = None, stdout: TextIO | None = None):
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    def describe(self) -> str:
        return "human"

    async def act(self, observation: Observation, ctx: Context) -> Action:
        out = self.stdout
        out.write(f"\n=== {ctx.agent} — step {ctx.step} ===\n{observation.text}\n")
        for message in observation.messages:
            out.write(f"[{message.role}] {message.content}\n")
        if observation.tools:
            names = ", ".join(t.name for t in observation.tools)
            out.write(f"tools: {names}  (call with /call NAME {{json args}})\n")
        out.write("> ")
        out.flush()
        line = await asyncio.to_thread(self.stdin.readline)
        return parse_human_line(line.rstrip("\n"), step=ctx.step)


def parse_human_line(line: str, *, step: int = 0) -> Action:
    """`/call NAME {json}` → a tool call; anything else → text."""
    if line.startswith("/call "):
        rest = line[len("/call ") :].strip()
        name, _, raw = rest.partition(" ")
        try:
            arguments = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            arguments = {"__raw__": raw}
        if not isinstance(arguments, dict):
            arguments = {"__raw__": raw}
        return Action(tool_calls=[ToolCall(id=f"human_{step}", name=name, arguments=arguments)])
    return Action(text=line)
