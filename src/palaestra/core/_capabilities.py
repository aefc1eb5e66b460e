"""Optional capabilities, as protocols: what an operator, an environment or a model may
offer beyond its contract, and the one place each is looked for.

An object offers a capability by having the method (no base class to inherit); code that
uses one asks ``isinstance(obj, SupportsFork)`` instead of probing attributes by name,
so that the capability, its signature and what it means are written down once.
``runtime_checkable`` checks are slower than attribute access: callers on a per-step
path resolve a capability once (per episode, per build), not at every step.

The environment's own optional hooks (``drain_events``, ``end_episode``) are declared
beside the `Environment` protocol in `palaestra.envs`.
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class SupportsFork(Protocol):
    """An operator (or memory, or member of a system) with per-episode state: `fork`
    hands out a fresh copy for one episode; the runtime forks before each episode."""

    def fork(self) -> Any:
        """A fresh copy that shares no per-episode state with this one."""
        ...


@runtime_checkable
class SupportsDescribe(Protocol):
    """An operator that says what it is in one line (``episode_start.operators``):
    ``llm:openai:gpt-4o-mini``, ``baseline``, a system's topology."""

    def describe(self) -> str:
        """One line naming what plays (kind, model, wrappers)."""
        ...


@runtime_checkable
class SupportsAclose(Protocol):
    """Holds resources released asynchronously (connections, a process, a sandbox)."""

    async def aclose(self) -> None:
        """Release everything; called once, when its user is done with it."""
        ...


@runtime_checkable
class SupportsClose(Protocol):
    """Holds resources released synchronously (a file, a thread)."""

    def close(self) -> Any:
        """Release everything; called once, when its user is done with it (awaited
        when it returns an awaitable)."""
        ...


def forked(obj: Any) -> Any:
    """A fresh per-episode copy of `obj` when it keeps state (`SupportsFork`), else
    `obj` itself."""
    return obj.fork() if isinstance(obj, SupportsFork) else obj


def described(obj: Any) -> str:
    """`obj`'s one-line description (`SupportsDescribe`), else its class name."""
    return str(obj.describe()) if isinstance(obj, SupportsDescribe) else type(obj).__name__


async def release(obj: Any) -> bool:
    """Release what `obj` holds: its ``aclose()`` (`SupportsAclose`), else its
    ``close()`` (`SupportsClose`, awaited if it returns an awaitable). Returns whether it
    had either; exceptions are the caller's to handle."""
    if isinstance(obj, SupportsAclose):
        await obj.aclose()
        return True
    if isinstance(obj, SupportsClose):
        result = obj.close()
        if inspect.isawaitable(result):
            await result
        return True
    return False
