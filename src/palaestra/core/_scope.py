"""The call in progress: which agent's context a model or tool call runs in.

Models and tools have no `Context` parameter (a `Model` is `generate(request)`, a `Tool`
is `call(arguments)`), yet boundaries that wrap them (fault injection, governance,
memory) must record events in the log of the agent that made the call, nested under the
call. The operators' recording functions (`call_model`, `call_tool`) set this scope
around each call; a wrapper reads it with `current_scope()`. It is a `ContextVar`, so
concurrent calls (tasks) each see their own.
"""

from __future__ import annotations

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


class call_scope:  # noqa: N801 - used like a function: `with call_scope(ctx, parent):`
    """Make `(ctx, parent)` the current scope for the duration of a `with` block.

    A class rather than a generator-based context manager: it wraps every model and tool
    call, and this costs less per call (docs/benchmarks.md)."""

    __slots__ = ("scope", "_token")

    def __init__(self, ctx: Context, parent: int, target: str = "") -> None:
        self.scope = CallScope(ctx, parent, target)

    def __enter__(self) -> CallScope:
        self._token = _SCOPE.set(self.scope)
        return self.scope

    def __exit__(self, *exc: object) -> None:
        _SCOPE.reset(self._token)
