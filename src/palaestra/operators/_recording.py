"""Recording model and tool calls into the episode log, for any operator.

A model is recorded by wrapping it: `RecordedModel(model, ctx)` has the `Model`
interface and records each call it passes on (the request, every attempt, retries
included, and the response with its usage), like the boundaries' wrappers (retries,
faults, governance) that it composes with. Tool calls are recorded where they are
executed, by `call_tool` (a tool does not know the id of the call it serves; the
executor does, as in inspect-ai's `call_tools`). The `parent` links run request →
response → tool call → tool result.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from pydantic import TypeAdapter

from palaestra.core import (
    Context,
    Message,
    ModelError,
    ModelRequestEvent,
    ModelResponseEvent,
    ToolCall,
    ToolCallEvent,
    ToolResultEvent,
    call_scope,
)
from palaestra.models import Attempt, Model, ModelRequest, ModelResponse
from palaestra.tools import Tool, ToolOutcome, execute_tool_call

# The validators called directly (pydantic's public `TypeAdapter.validator`): what
# `ModelRequestEvent(...)` / `ModelResponseEvent(...)` run, without their Python
# `__init__` frame; these run once per model call.
_new_request = TypeAdapter(ModelRequestEvent).validator.validate_python
_new_response = TypeAdapter(ModelResponseEvent).validator.validate_python


def _record_failed(ctx: Context, attempts: list[Attempt], parent: int) -> None:
    for number, attempt in enumerate(attempts, start=1):
        ctx.emit(
            ModelResponseEvent(
                attempt=number,
                error=attempt.error,
                retry_after_s=attempt.retry_after_s,
                resent=attempt.resent,
            ),
            parent=parent,
            duration_s=attempt.latency_s,
        )


async def call_model(
    ctx: Context, model: Model, request: ModelRequest, *, parent: int | None = None
) -> tuple[ModelResponse, int]:
    """Send `request`, record it and its response(s); returns (response, response handle).

    A `ModelError` (after the provider's own retries) is recorded as failed attempts and
    re-raised: the episode ends with an error, and what was recorded stays.
    """
    request.agent = request.agent or ctx.agent
    request_handle = ctx.emit(
        _new_request(
            {
                "model": model.name,
                "messages": request.messages,
                "tools": request.tools,
                "params": request.params(),
            }
        ),
        parent=ctx.turn_event if parent is None else parent,
    )
    try:
        with call_scope(ctx, request_handle, model.name):
            response = await model.generate(request)
    except ModelError as exc:
        failed = list(getattr(exc, "failed_attempts", []) or [])
        if not failed:
            failed = [Attempt(error=str(exc), latency_s=0.0, retry_after_s=None)]
        _record_failed(ctx, failed, request_handle)
        raise
    if response.failed_attempts:
        _record_failed(ctx, response.failed_attempts, request_handle)
    response_handle = ctx.emit(
        _new_response(
            {
                "message": response.message,
                "usage": response.usage,
                "finish_reason": response.finish_reason,
                "model": response.model,
                "attempt": len(response.failed_attempts) + 1,
                "prompt_token_ids": response.prompt_token_ids,
                "token_ids": response.token_ids,
                "logprobs": response.logprobs,
            }
        ),
        parent=request_handle,
        duration_s=response.latency_s,
    )
    ctx.add_usage(response.usage)
    return response, response_handle


class RecordedModel:
    """A `Model` that records every call it passes on into `ctx`'s episode log.

    Built per agent turn by an operator (`LLMOperator` does), or by a user's own
    operator to get the same records: `model = RecordedModel(model, ctx)` then
    `await model.generate(request)`. `response_event` is the handle of the response it
    recorded last: what tool calls made from that response nest under. `parent` (default
    the agent's turn) is what each request nests under.
    """

    __slots__ = ("ctx", "inner", "parent", "response_event")

    def __init__(self, inner: Model, ctx: Context, *, parent: int | None = None) -> None:
        self.inner = inner
        self.ctx = ctx
        self.parent = parent
        self.response_event: int | None = None

    @property
    def name(self) -> str:
        return self.inner.name

    async def generate(self, request: ModelRequest) -> ModelResponse:
        response, self.response_event = await call_model(
            self.ctx, self.inner, request, parent=self.parent
        )
        return response


async def call_tool(
    ctx: Context, tools: Mapping[str, Tool], call: ToolCall, *, parent: int | None = None
) -> tuple[ToolOutcome, Message]:
    """Execute one tool call, record call and result; returns the outcome and the
    `tool` message to append to the conversation."""
    call_handle = ctx.emit(ToolCallEvent(call=call), parent=parent)
    start = time.perf_counter()
    with call_scope(ctx, call_handle, call.name):
        outcome = await execute_tool_call(tools, call)
    ctx.emit(
        ToolResultEvent(
            call_id=call.id,
            name=call.name,
            content=outcome.content,
            is_error=outcome.is_error,
        ),
        parent=call_handle,
        duration_s=time.perf_counter() - start,
    )
    return outcome, Message(role="tool", content=outcome.content, tool_call_id=call.id)
