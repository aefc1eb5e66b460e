"""The call in progress: which agent's context a model or tool call runs in.

Models and tools have no `Context` parameter (a `Model` is `generate(request)`, a `Tool`
is `call(arguments)`), yet boundaries that wrap them (fault injection, governance,
memory) must record events in the log of the agent that made the call, nested under the
call. The operators' recording functions (`call_model`, `call_tool`) set this scope
around each call; a wrapper reads it with `current_scope()`. It is a `ContextVar`, so
concurrent calls (tasks) each see their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

from palaestra.core._context import Context


class CallScope(NamedTuple):
    """The agent context and the event (`model_request` or `tool_call`) a call hangs
    under: events a boundary records about the call take `parent=scope.parent`."""

    ctx: Context
    """Context of the agent making the call."""
    parent: int
    """Handle of the event that opened the call."""
    target: str = ""
    """What is called: the model's name or the tool's name."""


_SCOPE: ContextVar[CallScope | None] = ContextVar("palaestra_call_scope", default=None)


def current_scope() -> CallScope | None:
    """The call in progress in this task, or None outside any recorded call (a model
    or tool used directly, without an operator)."""
    return _SCOPE.get()


@contextmanager
def call_scope(ctx: Context, parent: int, target: str = "") -> Iterator[CallScope]:
    """Make `(ctx, parent)` the current scope for the duration of the block."""
    scope = CallScope(ctx, parent, target)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)
