"""The LLM operator: a model, a system prompt, its own tools, and a conversation.

Each environment step is one *turn*. The operator appends the observation to its
conversation and asks the model; if the model calls one of the operator's own tools, the
tool runs, its result is appended and the model is asked again (a bounded loop within the
turn). The turn ends, and becomes the step's action, when the model answers in text or
calls one of the *environment's* tools (those listed in the observation).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from pydantic import TypeAdapter

from palaestra.core import (
    Action,
    Context,
    Message,
    Observation,
    ToolCall,
    ToolCallEvent,
    ToolResultEvent,
    call_scope,
)
from palaestra.models import Model, ModelRequest
from palaestra.operators._recording import RecordedModel, call_tool
from palaestra.tools import Tool, ToolOutcome, as_tools, execute_tool_call

_T = TypeVar("_T")

DEFAULT_SYSTEM_PROMPT = (
    "You are an agent acting in an interactive environment. Read each observation "
    "carefully and reply exactly in the format it asks for. Use the available tools "
    "when they help."
)


# The validators called directly (pydantic's public `TypeAdapter.validator`): what
# `Message(...)` / `Action(...)` run, without their Python `__init__` frame; these run
# once per model call.
_new_message = TypeAdapter(Message).validator.validate_python
_new_action = TypeAdapter(Action).validator.validate_python


class LLMOperator:
    """An operator driven by a language model.

    Options are keyword-only. `max_tool_rounds` bounds the model calls made within one
    turn for the operator's own tools; when it is reached, the turn ends with the last
    text the model produced. The conversation is kept across the steps of an episode
    (`keep_history=False` sends only the system prompt and the current observation).
    One instance serves one agent in one episode; the runner calls `fork()` to get a
    fresh one per (episode, agent).
    """

    def __init__(
        self,
        model: Model,
        *,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        max_tool_rounds: int = 8,
        temperature: float | None = None,
        top_p: float | None = None,
        max_tokens: int | None = None,
        keep_history: bool = True,
    ):
        if max_tool_rounds < 1:
            raise ValueError(f"max_tool_rounds must be >= 1, got {max_tool_rounds}")
        self.model = model
        self.system_prompt = system_prompt
        self.tools = as_tools(tools)
        self._own_specs = [t.spec for t in self.tools.values()]
        self.max_tool_rounds = max_tool_rounds
        self.temperature = temperature
        self.top_p = top_p
        self.max_tokens = max_tokens
        self.keep_history = keep_history
        self._history: list[Message] = []
        self._system_message: Message | None = None
        self._concurrent_tools = False

    def fork(self) -> LLMOperator:
        """A fresh operator with the same configuration and an empty conversation."""
        clone = object.__new__(LLMOperator)
        clone.__dict__.update(self.__dict__)
        clone._history = []
        return clone

    def with_tools(
        self, tools: Sequence[Tool | Callable[..., Any]], *, concurrent: bool = False
    ) -> LLMOperator:
        """A fresh fork (empty conversation) that also has `tools` as its own tools.

        This is how a multi-agent system hands an orchestrator per-episode tools (e.g.
        one `delegate_to_<worker>` tool per worker). With `concurrent=True` the own-tool
        calls of one model message run concurrently: their `tool_call` events are
        recorded first, in call order, then the calls run together, then their
        `tool_result` events follow in call order, so the log does not depend on which
        call finished first. A name already taken by one of its tools raises
        `ValueError`.
        """
        clone = self.fork()
        added = as_tools(tools)
        taken = sorted(set(added) & set(self.tools))
        if taken:
            raise ValueError(f"tool names already used by this operator: {', '.join(taken)}")
        clone.tools = {**self.tools, **added}
        clone._own_specs = [t.spec for t in clone.tools.values()]
        clone._concurrent_tools = concurrent
        return clone

    def describe(self) -> str:
        """One-line description for the log (`episode_start.operators`)."""
        return f"llm:{self.model.name}"

    async def act(self, observation: Observation, ctx: Context) -> Action:
        if not self.keep_history or not self._history:
            system = self._system_message
            if system is None or system.content != self.system_prompt:
                system = self._system_message = Message(role="system", content=self.system_prompt)
            self._history = [system]
        self._history.extend(_observation_messages(observation))
        specs = self._own_specs + observation.tools if observation.tools else self._own_specs
        seeds = ctx.rng("model")
        model = RecordedModel(self.model, ctx)
        text: str | None = None
        for _ in range(self.max_tool_rounds):
            request = ModelRequest(
                messages=list(self._history),
                tools=specs,
                temperature=self.temperature,
                top_p=self.top_p,
                max_tokens=self.max_tokens,
                seed=seeds.randrange(2**31),
                agent=ctx.agent,
            )
            message = (await model.generate(request)).message
            handle = model.response_event
            assert handle is not None
            self._history.append(message)
            text = message.content if message.content is not None else text
            if not message.tool_calls:
                return _new_action({"text": message.content or ""})
            env_tools = {spec.name for spec in observation.tools}
            to_env = [c for c in message.tool_calls if c.name in env_tools]
            if to_env:
                # Calls to our own tools made in the same message still run, so the
                # conversation stays well-formed for the next turn.
                await self._run_own(message.tool_calls, env_tools, ctx, handle)
                return Action(text=message.content, tool_calls=to_env)
            await self._run_own(message.tool_calls, env_tools, ctx, handle)
        return Action(text=text or "")

    async def _run_own(
        self, calls: list[ToolCall], env_tools: set[str], ctx: Context, parent: int
    ) -> None:
        if self._concurrent_tools:
            own = [c for c in calls if c.name not in env_tools]
            if len(own) > 1:
                await self._run_concurrently(own, ctx, parent)
                return
        for call in calls:
            if call.name in env_tools:
                continue
            _, tool_message = await call_tool(ctx, self.tools, call, parent=parent)
            self._history.append(tool_message)

    async def _run_concurrently(self, calls: list[ToolCall], ctx: Context, parent: int) -> None:
        """Run own-tool calls together; calls and results recorded in call order."""
        handles = [ctx.emit(ToolCallEvent(call=call), parent=parent) for call in calls]

        async def timed(call: ToolCall, handle: int) -> tuple[ToolOutcome, float]:
            start = time.perf_counter()
            with call_scope(ctx, handle, call.name):
                outcome = await execute_tool_call(self.tools, call)
            return outcome, time.perf_counter() - start

        # Tasks start in call order, so whatever a call records before its first
        # suspension (e.g. a child context) is placed in call order too.
        results = await _gather_or_cancel(
            [timed(call, handle) for call, handle in zip(calls, handles, strict=True)]
        )
        for call, handle, (outcome, duration) in zip(calls, handles, results, strict=True):
            ctx.emit(
                ToolResultEvent(
                    call_id=call.id,
                    name=call.name,
                    content=outcome.content,
                    is_error=outcome.is_error,
                ),
                parent=handle,
                duration_s=duration,
            )
            self._history.append(
                Message(role="tool", content=outcome.content, tool_call_id=call.id)
            )


async def _gather_or_cancel(coros: list[Coroutine[Any, Any, _T]]) -> list[_T]:
    """Run `coros` as tasks started in order; results in order. If one raises, the
    others are cancelled and the first failure (in call order) is re-raised as is, so a
    budget or model error keeps its type."""
    tasks = [asyncio.ensure_future(coro) for coro in coros]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        pending = [task for task in tasks if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
    for task in tasks:
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            raise failure
    return [task.result() for task in tasks]


def _observation_messages(observation: Observation) -> list[Message]:
    """The observation as chat messages: the environment's own messages (e.g. results
    of environment tool calls), else its text as a user message."""
    if observation.messages:
        messages = list(observation.messages)
        has_user_text = any(m.role == "user" for m in messages)
        if observation.text and not has_user_text and messages[-1].role != "tool":
            messages.append(Message(role="user", content=observation.text))
        return messages
    return [_new_message({"role": "user", "content": observation.text})]
