"""What an operator sees of the episode it acts in, and the operator protocol itself.

The runtime implements `Context`; operators (and the baseline operators shipped with the
built-in environments) only rely on this protocol, which keeps the dependency direction of
DESIGN.md: environments and operators never import the runtime.
"""

from __future__ import annotations

import random
from typing import Protocol, runtime_checkable

from palaestra.core._events import Payload
from palaestra.core._types import Action, Observation, Usage


@runtime_checkable
class Context(Protocol):
    """The episode, as seen by one agent during one of its turns."""

    @property
    def episode_id(self) -> str:
        """Id of the running episode."""
        ...

    @property
    def agent(self) -> str:
        """Name of the agent this context belongs to."""
        ...

    @property
    def step(self) -> int:
        """Current environment step."""
        ...

    @property
    def turn_event(self) -> int:
        """Handle of the event that opened this turn (the observation): a parent."""
        ...

    def rng(self, purpose: str) -> random.Random:
        """A generator derived from (run seed, episode, agent, purpose)."""
        ...

    def emit(self, payload: Payload, *, parent: int | None = None, duration_s: float = 0.0) -> int:
        """Record an event of this agent; returns a handle usable as `parent`.
        `duration_s` is the wall-clock time of what it reports (e.g. a call's latency)."""
        ...

    def add_usage(self, usage: Usage) -> None:
        """Count tokens against the episode's budget (raises when it is exceeded)."""
        ...

    def child(self, name: str, *, parent: int | None = None) -> Context:
        """A context for an agent inside this one (a worker of a multi-agent system),
        named ``f"{agent}/{name}"``, in the same step, whose turn hangs under `parent`
        (default: this turn's event).

        Its events are placed in the log where `child` was called, in call order, however
        the agents' work interleaves in time, so concurrent internal agents still give
        the same log run after run. Its seeds derive from its own name: give concurrent
        children distinct names. A `parent` must be an event recorded before the call.
        """
        ...


@runtime_checkable
class Operator(Protocol):
    """Anything that decides: maps an observation to an action, asynchronously."""

    async def act(self, observation: Observation, ctx: Context) -> Action:
        """Return this agent's action for the current step."""
        ...
