"""Where a job's episodes get their environment instance: a fresh one per episode, or
one from the job's pool when the environment declares the reset contract.

`Environment` (palaestra.envs) states the contract: an environment that declares
``reusable = True`` (or is registered with ``EnvSpec.reusable``) returns, at each
`reset`, to the state a fresh instance would have. The runner then keeps one
`EnvPool` per job: at most one instance per episode in flight (the pool grows only when
every instance it has is in use, which the run's ``concurrency.episodes`` bounds), each
reused episode after episode and closed when the run ends. Otherwise (`FreshEnvs`) every
episode builds its own instance and closes it afterwards, as before pools existed.

A job's fault plan wraps the instance per episode (`FaultyEnvironment` carries the
episode's id and seed); the pool holds and closes the unwrapped instance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from palaestra.core import release

logger = logging.getLogger("palaestra.runtime")

Instances = Literal["fresh", "pooled"]
"""How a job's episodes get their environment: built per episode, or from a pool."""


async def close_env(env: Any, episode_id: str = "") -> None:
    """Release what an environment holds (a remote instance, a sandbox, a browser) once
    it is no longer used: its `aclose()` or `close()`, when it has one. What it served
    is already recorded, so a failure here is logged, not raised."""
    try:
        await release(env)
    except Exception:
        logger.warning("closing the environment of %s failed", episode_id or "a run", exc_info=True)


class FreshEnvs:
    """A fresh instance for every episode, closed after it."""

    instances: Instances = "fresh"

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build

    def take(self) -> Any:
        return self._build()

    async def give_back(self, env: Any, episode_id: str) -> None:
        await close_env(env, episode_id)

    async def aclose(self) -> None:
        return None


class EnvPool:
    """The reusable instances of one job: taken for an episode, given back after it,
    closed at the end of the run (`aclose`). `first` is an instance already built (the
    one the runner built to read the job's tasks), used before building another."""

    instances: Instances = "pooled"

    def __init__(self, build: Callable[[], Any], first: Any | None = None) -> None:
        self._build = build
        self._idle: list[Any] = [] if first is None else [first]
        self._all: list[Any] = list(self._idle)
        self.built = len(self._all)
        """How many instances the pool has built or been given (at most the episodes
        that were in flight at once)."""

    def take(self) -> Any:
        if self._idle:
            return self._idle.pop()
        env = self._build()
        self._all.append(env)
        self.built += 1
        return env

    async def give_back(self, env: Any, episode_id: str) -> None:
        self._idle.append(env)

    async def aclose(self) -> None:
        """Close every instance (once), whatever state it was left in."""
        instances, self._all, self._idle = self._all, [], []
        for env in instances:
            await close_env(env)


EnvSource = FreshEnvs | EnvPool
"""What a planned episode takes its instance from."""
