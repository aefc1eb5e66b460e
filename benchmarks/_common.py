"""Shared pieces of the runtime benchmarks: the fan-out environment and small helpers.

`bench.fanout` is the workload of `overhead.py` and `concurrency.py`: M agents that all
act at every step for exactly K steps. Each step every agent gets a short observation,
its operator answers (one model call for the LLM operator), and the environment moves
on; after K steps it terminates. The score is 1 when all K steps ran with an action from
every agent, so a broken run cannot pass for a fast one.
"""

from __future__ import annotations

import resource

from pydantic import BaseModel, Field

from palaestra.core import Action, Observation
from palaestra.envs import EnvSpec, Score, Step, register

ENV_ID = "bench.fanout"


class FanOutParams(BaseModel):
    agents: int = Field(8, ge=1, description="agents, all acting at every step")
    steps: int = Field(10, ge=1, description="steps until the episode terminates")


class FanOutEnv:
    """M agents act simultaneously at every one of K steps, then the episode ends."""

    def __init__(self, params: FanOutParams):
        self.params = params
        self._agents = [f"a{i}" for i in range(params.agents)]
        self.steps = 0
        self.complete_steps = 0

    @property
    def agents(self) -> list[str]:
        return self._agents

    def tasks(self) -> list[str]:
        return ["fanout"]

    def _observations(self) -> dict[str, Observation]:
        text = f"Step {self.steps}. Reply with one word."
        return {agent: Observation(text=text) for agent in self._agents}

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        self.steps = 0
        self.complete_steps = 0
        return self._observations()

    async def step(self, actions: dict[str, Action]) -> Step:
        if len(actions) == len(self._agents) and all(a.text for a in actions.values()):
            self.complete_steps += 1
        self.steps += 1
        done = self.steps >= self.params.steps
        return Step(
            observations={} if done else self._observations(),
            rewards=dict.fromkeys(actions, 0.0),
            terminated=done,
        )

    def score(self) -> Score:
        ok = self.complete_steps == self.params.steps
        return Score(value=float(ok), success=ok)


def register_fanout() -> None:
    """Register `bench.fanout` (idempotent)."""
    register(
        EnvSpec(
            id=ENV_ID,
            factory=FanOutEnv,
            params=FanOutParams,
            description="benchmark: M agents act at every one of K steps",
        ),
        replace=True,
    )


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft open-files limit towards `wanted` (capped by the hard limit);
    returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft
