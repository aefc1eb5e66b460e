"""Fault injection around a model, a tool or a memory: wrappers with the interface of
what they wrap, that inject the faults of a `FaultPlan` and record each one as a
`fault` event in the calling agent's log.

Where the event goes: a model or tool call made through the operators' recording
functions runs in a `palaestra.core.current_scope()`, so the event is recorded in that
agent's context under the call's event (`model_request` / `tool_call`). A memory is
given the agent's context with each read and write; its events hang under the tool call
that reached it, or the agent's turn. Events are recorded when the decision is made,
before the wrapper first waits, so concurrent calls of one agent (a system's parallel
tool calls) record their faults in call order.

What each fault does at each boundary is in docs/faults.md; in short, `error` and
`timeout` fail the call the way that boundary fails (a `ModelError` for a model, an
error result the model can recover from for a tool, `FaultError` for a memory), `delay`
waits, and `malformed`, `truncate`, `inject_text` change what comes back.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from palaestra.boundaries._admission import Admission, MemoryEntry
from palaestra.boundaries._faults import (
    PRE_CALL,
    Decider,
    FaultError,
    FaultPlan,
    Hit,
    applied,
    error_message,
    garble,
    inject,
    transform_text,
    truncate,
)
from palaestra.boundaries._memory import Memory
from palaestra.core import Context, Message, ModelError, current_scope
from palaestra.models import Model, ModelRequest, ModelResponse
from palaestra.tools import Tool, ToolOutcome


def _pre_call(hits: list[Hit]) -> Hit | None:
    """The `error`/`timeout` hit that replaces the call, if any (`applied` puts it last)."""
    return hits[-1] if hits and hits[-1].rule.fault in ("error", "timeout") else None


async def _wait(hits: list[Hit]) -> None:
    """Sleep for every `delay` and `timeout` hit, in order."""
    for hit in hits:
        if hit.rule.fault in ("delay", "timeout"):
            await asyncio.sleep(hit.rule.seconds)


class FaultyModel:
    """A model that injects the `model` rules of `plan` into its calls.

    `aliases` are further names a rule's `target` may match (the runtime passes the
    model's key under `models:`). `error` raises `ModelError` (status 503) without
    calling the model, as a provider does once its retries are spent: the wrapper sits
    outside the provider's own retry loop, so the operator sees the failure;
    `timeout` waits `seconds` first. `malformed` breaks the reply (garbage text, or tool
    call arguments that are not JSON), `truncate` cuts its text (or the JSON of its last
    tool call's arguments), `inject_text` adds text to it.

    `replaying=True` (used by `palaestra replay`) records the same fault events and
    raises the same errors, but neither waits nor changes replies: a replayed reply is
    the recorded one, faults already applied.
    """

    def __init__(
        self,
        inner: Model,
        plan: FaultPlan,
        *,
        aliases: Sequence[str] = (),
        replaying: bool = False,
    ):
        self.inner = inner
        self.plan = plan
        self.name = inner.name
        self.replaying = replaying
        self._targets = (inner.name, *aliases)
        self._decider = Decider(plan, "model")

    async def generate(self, request: ModelRequest) -> ModelResponse:
        scope = current_scope()
        ctx = None if scope is None else scope.ctx
        agent = request.agent if ctx is None else ctx.agent
        hits = applied(self._decider.decide(ctx, agent, self._targets))
        if not hits:
            return await self.inner.generate(request)
        if scope is not None:
            for hit in hits:
                scope.ctx.emit(hit.event(self.name), parent=scope.parent)
        if not self.replaying:
            await _wait(hits)
        failed = _pre_call(hits)
        if failed is not None:
            raise ModelError(error_message(failed, f"model {self.name!r}"), status=503)
        response = await self.inner.generate(request)
        if self.replaying:
            return response
        message = response.message
        for hit in hits:
            if hit.rule.fault not in PRE_CALL:
                message = perturb_reply(message, hit)
        return replace(response, message=message)


def perturb_reply(message: Message, hit: Hit) -> Message:
    """A model reply as a `malformed`, `truncate` or `inject_text` hit leaves it."""
    fault = hit.rule.fault
    content = message.content
    calls = message.tool_calls
    if fault == "malformed" and calls:
        broken = [
            call.model_copy(update={"arguments": {"__raw__": _broken_json(call.arguments, hit)}})
            for call in calls
        ]
        return message.model_copy(update={"tool_calls": broken})
    if fault == "truncate" and not content and calls:
        last = calls[-1]
        text = truncate(json.dumps(last.arguments), hit.rule.fraction)
        cut = last.model_copy(update={"arguments": {"__raw__": text}})
        return message.model_copy(update={"tool_calls": [*calls[:-1], cut]})
    if fault == "inject_text":
        return message.model_copy(update={"content": inject(content or "", hit.rule)})
    return message.model_copy(update={"content": transform_text(content or "", hit)})


def _broken_json(arguments: Mapping[str, Any], hit: Hit) -> str:
    """The arguments' JSON cut short with garbage after it: never valid JSON."""
    text = json.dumps(arguments)
    return text[: max(1, len(text) // 2)] + garble("", hit.seed)[:8]


class FaultyTool(Tool):
    """A tool that injects the `tool` rules of `plan` into its calls.

    Same name, description and schema as the wrapped tool. `error` and `timeout`
    (after `seconds`) do not run the tool and answer with an error result the model
    can recover from (the episode goes on); `delay` waits, then runs it; `malformed`,
    `truncate` and `inject_text` change the result's text (an error stays an error).
    """

    def __init__(self, inner: Tool, plan: FaultPlan):
        # Not Tool.__init__: the schema and the call are the wrapped tool's.
        self.inner = inner
        self.plan = plan
        self.fn = inner.fn
        self.name = inner.name
        self.description = inner.description
        self.parameters = inner.parameters
        self._decider = Decider(plan, "tool")

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutcome:
        scope = current_scope()
        ctx = None if scope is None else scope.ctx
        hits = applied(self._decider.decide(ctx, "" if ctx is None else ctx.agent, self.name))
        if not hits:
            return await self.inner.call(arguments)
        if scope is not None:
            for hit in hits:
                scope.ctx.emit(hit.event(self.name), parent=scope.parent)
        await _wait(hits)
        failed = _pre_call(hits)
        if failed is not None:
            return ToolOutcome(
                f"Error: {error_message(failed, f'tool {self.name!r}')}. "
                "Try the call again, or another approach.",
                is_error=True,
            )
        outcome = await self.inner.call(arguments)
        content = outcome.content
        for hit in hits:
            if hit.rule.fault not in PRE_CALL:
                content = transform_text(content, hit)
        return ToolOutcome(content, is_error=outcome.is_error)

    def __repr__(self) -> str:
        return f"FaultyTool({self.inner!r})"


class FaultyMemory:
    """A memory that injects the `memory` rules of `plan` into reads and writes.

    `error` and `timeout` (after `seconds`) raise `FaultError` (through a memory tool,
    the model sees it as the tool's error); `delay` waits; `drop_message` loses the
    operation: a read finds nothing, a write is not stored although the writer is told
    it was; `malformed`, `truncate` and `inject_text` corrupt the value read or written
    (a value that is not text is corrupted as its JSON text). Both operations count as
    calls of the rule (`schedule` indices); the event's detail says which (`op`).
    """

    def __init__(self, inner: Memory, plan: FaultPlan):
        self.inner = inner
        self.plan = plan
        self._decider = Decider(plan, "memory")

    @property
    def name(self) -> str:
        return self.inner.name

    def _decide(self, ctx: Context, op: str, key: str) -> list[Hit]:
        hits = applied(self._decider.decide(ctx, ctx.agent, self.name))
        scope = current_scope()
        parent = scope.parent if scope is not None and scope.ctx is ctx else ctx.turn_event
        for hit in hits:
            ctx.emit(hit.event(self.name, op=op, key=key), parent=parent)
        return hits

    async def _before(self, hits: list[Hit], op: str) -> None:
        await _wait(hits)
        failed = _pre_call(hits)
        if failed is not None:
            raise FaultError(error_message(failed, f"memory {self.name!r} {op}"))

    async def read(self, query: str, ctx: Context, **options: Any) -> MemoryEntry | None:
        hits = self._decide(ctx, "read", query)
        await self._before(hits, "read")
        if any(hit.rule.fault == "drop_message" for hit in hits):
            return None
        entry = await self.inner.read(query, ctx, **options)
        if entry is None:
            return None
        value = entry.value
        for hit in hits:
            if hit.rule.fault not in PRE_CALL and hit.rule.fault != "drop_message":
                value = transform_text(_as_text(value), hit)
        return entry if value is entry.value else MemoryEntry(entry.key, value, entry.writer)

    async def write(self, key: str, value: Any, ctx: Context, **options: Any) -> Admission:
        hits = self._decide(ctx, "write", key)
        await self._before(hits, "write")
        if any(hit.rule.fault == "drop_message" for hit in hits):
            return Admission(True)
        for hit in hits:
            if hit.rule.fault not in PRE_CALL:
                value = transform_text(_as_text(value), hit)
        return await self.inner.write(key, value, ctx, **options)

    def keys(self, ctx: Context | None = None) -> list[str]:
        return self.inner.keys(ctx)

    def release(self, ctx: Context) -> None:
        release = getattr(self.inner, "release", None)
        if callable(release):
            release(ctx)

    def __repr__(self) -> str:
        return f"FaultyMemory({self.inner!r})"


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
