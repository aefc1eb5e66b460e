"""The environment contract: one interface for single- and multi-agent, turn-based and
simultaneous environments.

```
reset(seed, task) -> dict[agent, Observation]
step({agent: Action}) -> Step(observations, rewards, terminated, truncated, info)
score() -> Score
```

- `reset` starts a new episode of `task` (a task id from `tasks()`), deterministically in
  `seed`; it returns an observation for every agent that must act first.
- `step` takes one action for each agent that received an observation at the previous
  call and returns a `Step`:
  - `observations`: the agents that must act next, with what they see. Agents absent
    from it do not act at the next step.
  - `rewards`: reward of each agent for this step (may be empty).
  - `terminated`: the task reached a terminal state (solved, failed, answered). Once
    True, `step` must not be called again.
  - `truncated`: the environment cut the episode short by its own limit; also final.
  - `info`: diagnostics, JSON-serialisable, recorded in the log.
- `score` returns the verified outcome of the episode so far, computed from the
  environment's state (never from what an agent claims about itself).
- `agents` lists every agent name, in a fixed order.

Optional methods, which the runtime finds by name (`palaestra.runtime`'s episode loop,
the one place that calls them) and which an environment leaves out when it has no use
for them:

- ``drain_events() -> list[Payload]``: events the environment has for the log since the
  last call (an ``isolation: none`` warning, injected faults, a workspace's manifest).
  The runtime calls it after ``episode_start``, after each ``env_step`` (and after a
  failed step), and at the episode's end; it records them under agent ``env``.
- ``async end_episode() -> None``: the episode is over, whatever ended it: the
  environment itself (`terminated` / `truncated`), the runtime's step limit, a token
  or wall-time budget, an operator's or model's error, a contract. The runtime calls
  it exactly once for every episode whose `reset` returned, after the last step (after
  a wall-time cut too, under a bound of its own) and before `score`, then drains
  `drain_events`. It is where an environment records what it held (a workspace's
  files: a ``workspace`` event, see `palaestra.sandbox.EpisodeWorkspace`) and releases
  per-episode resources; `score` must still work after it. An exception in it ends the
  episode as an error (unless it already was one), keeping what was recorded. An
  environment that ends an episode itself may call it from its last `step` (so that
  what it records follows that step), and then must make the runtime's call a no-op.
- ``aclose()`` (or ``close()``): release everything; called once the runtime is done
  with the instance.

Reusing an instance (the life cycle):

By default the runner builds a fresh instance for every episode (``EnvSpec.factory``),
and closes it after the episode: an environment may then keep whatever state it likes
between `reset`s. Building can be costly (a data set loaded, a database generated), so an
environment may declare ``reusable = True`` (a class attribute; or `EnvSpec.reusable`
for its registration), which promises the **reset contract**:

- `reset(seed, task)` returns the instance to the state a fresh instance would have
  after the same `reset(seed, task)`: every observation, reward, info, drained event
  and score of the episode that follows is equal, whatever episodes the instance played
  before (and however they ended: terminated, truncated, or cut short by the runtime
  after any step, with or without `end_episode`).
- Nothing an episode changes is shared with what the next one starts from: a copy of
  initial state must be a deep one (nested dicts and lists included), or an immutable
  snapshot parsed afresh; no class-level mutable state.
- The instance serves one episode at a time (the runner never shares one between
  concurrent episodes) and what `tasks()` and `agents` return does not change.

The runner then keeps a pool per job: at most one instance per concurrent episode
(``concurrency.episodes``), each reused episode after episode and closed (``aclose`` /
``close``) when the run ends. A job's choice is logged and returned in
`RunResult.env_instances`; `palaestra envs` lists which environments are reusable.
`palaestra.testing.check_reuse` plays the same episodes on one reused instance and on
fresh ones and reports the first difference: run it before declaring ``reusable``.

`check_env` verifies all of this on any implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from palaestra.core import Action, Observation


@dataclass
class Step:
    """Result of `Environment.step`."""

    observations: dict[str, Observation]
    """Observation of every agent that acts at the next step."""
    rewards: dict[str, float] = field(default_factory=dict)
    """Per-agent reward for this step."""
    terminated: bool = False
    """The episode reached a terminal state of the task."""
    truncated: bool = False
    """The environment ended the episode early by its own limit."""
    info: dict[str, Any] = field(default_factory=dict)
    """JSON-serialisable diagnostics."""


@dataclass
class Score:
    """The verified outcome of an episode."""

    value: float
    """Score in [0, 1] (1 = fully solved)."""
    success: bool
    """Whether the episode counts as solved."""
    metrics: dict[str, float] = field(default_factory=dict)
    """Named sub-scores (e.g. edge fraction, validity)."""
    explanation: str = ""
    """One or two sentences a person can check the score against."""


@runtime_checkable
class Environment(Protocol):
    """An interactive environment for one or more agents."""

    @property
    def agents(self) -> list[str]:
        """Every agent name, in acting order; fixed after `reset`."""
        ...

    def tasks(self) -> list[str]:
        """Task ids this environment instance offers (in a stable order)."""
        ...

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        """Start an episode; returns the observations of the agents that act first."""
        ...

    async def step(self, actions: dict[str, Action]) -> Step:
        """Apply one action per acting agent."""
        ...

    def score(self) -> Score:
        """Verified score of the current episode."""
        ...


@runtime_checkable
class SupportsDrainEvents(Protocol):
    """An environment (or a wrapper of one) with events of its own for the log: see
    ``drain_events`` in this module's docstring."""

    def drain_events(self) -> list[Any]:
        """The event payloads (`palaestra.core.Payload`) since the last call."""
        ...


@runtime_checkable
class SupportsEndEpisode(Protocol):
    """An environment told when an episode is over: see ``end_episode`` in this
    module's docstring. (Sync or async: the runtime awaits what it returns.)"""

    def end_episode(self) -> Any:
        """The episode is over; record what it held, release per-episode resources."""
        ...


def is_reusable(env: Any) -> bool:
    """Whether `env` declares that one instance may play episode after episode (its
    class attribute ``reusable = True``): see "Reusing an instance" above."""
    return getattr(env, "reusable", False) is True
