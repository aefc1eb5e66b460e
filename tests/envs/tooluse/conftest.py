"""A minimal `Context` and episode loop, so the tool-use env and its baseline can be tested
without the runtime (which owns the real ones)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from palaestra.core import Action, Context, Observation, Operator, Payload, Usage, derive_rng
from palaestra.envs import Environment, Score


@dataclass
class TinyContext:
    """Implements the `Context` protocol: records what an operator emits."""

    episode_id: str
    agent: str = "agent"
    step: int = 0
    turn_event: int = 0
    run_seed: int = 0
    emitted: list[Payload] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)

    def rng(self, purpose: str) -> random.Random:
        return derive_rng(self.run_seed, self.episode_id, self.agent, purpose)

    def emit(self, payload: Payload, *, parent: int | None = None) -> int:
        self.emitted.append(payload)
        return len(self.emitted) - 1

    def add_usage(self, usage: Usage) -> None:
        self.usage = self.usage + usage


@dataclass
class Transcript:
    """What one episode produced."""

    observations: list[Observation]
    actions: list[Action]
    score: Score
    terminated: bool
    truncated: bool
    rewards: list[float]


async def play(
    env: Environment, operator: Operator, task: str, *, seed: int = 0, episode_id: str = "ep"
) -> Transcript:
    """reset, then act and step until terminated or truncated; then score."""
    observations = await env.reset(seed, task)
    ctx = TinyContext(episode_id=episode_id)
    assert isinstance(ctx, Context)
    seen, actions, rewards = [observations["agent"]], [], []
    while True:
        action = await operator.act(observations["agent"], ctx)
        actions.append(action)
        step = await env.step({"agent": action})
        ctx.step += 1
        rewards.append(step.rewards["agent"])
        observations = step.observations
        seen.append(observations["agent"])
        if step.terminated or step.truncated:
            return Transcript(seen, actions, env.score(), step.terminated, step.truncated, rewards)


class Scripted:
    """An operator that plays a fixed list of actions (then repeats the last one)."""

    def __init__(self, actions: list[Action]) -> None:
        self.actions = actions
        self.index = 0

    async def act(self, observation: Observation, ctx: Context) -> Action:
        action = self.actions[min(self.index, len(self.actions) - 1)]
        self.index += 1
        return action


@pytest.fixture
def run_episode() -> Callable[..., Awaitable[Transcript]]:
    return play


@pytest.fixture
def scripted() -> type[Scripted]:
    return Scripted
