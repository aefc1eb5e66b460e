"""An episode loop without the runner, so the tool-use env and its baseline can be tested
on their own; operators get the runtime's real per-turn context."""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest

from palaestra.core import Action, Context, Observation, Operator
from palaestra.envs import Environment, Score
from palaestra.runtime import AgentContext, EpisodeRecorder


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
    recorder = EpisodeRecorder(episode_id, run_seed=0)
    seen, actions, rewards = [observations["agent"]], [], []
    while True:
        ctx = AgentContext(recorder, "agent", len(actions), 0)
        assert isinstance(ctx, Context)
        action = await operator.act(observations["agent"], ctx)
        actions.append(action)
        step = await env.step({"agent": action})
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


@pytest.fixture
def frozen_gc() -> Iterator[None]:
    """Run with the objects alive now out of the collector's reach, as the runner does
    (`gc.freeze()`): tests that reload a database hundreds of times then pay for their
    own allocations, not for full collections over everything imported."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
