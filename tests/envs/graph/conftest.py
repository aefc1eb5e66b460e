"""Test helpers for the graph environments: an episode loop without the runner.

Operators get the runtime's real per-turn context (`AgentContext` over an
`EpisodeRecorder`): one generator per (run seed, episode, agent, purpose) for the whole
episode.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from palaestra.core import Action, Context, Observation, Operator
from palaestra.envs import Environment, Score, Step
from palaestra.runtime import AgentContext, EpisodeRecorder


@dataclass
class Episode:
    """What one played episode gave: every step, the final score."""

    score: Score
    steps: list[Step] = field(default_factory=list)
    first: dict[str, Observation] = field(default_factory=dict)


async def play(
    env: Environment,
    operator: Callable[[str], Operator],
    *,
    task: str | None = None,
    seed: int = 0,
    run_seed: int = 0,
    max_steps: int = 10_000,
) -> Episode:
    """reset; every observed agent acts; step until terminated or truncated; score."""
    observations = await env.reset(seed, task)
    episode_id = task or env.tasks()[0]
    operators = {agent: operator(agent) for agent in env.agents}
    recorder = EpisodeRecorder(episode_id, run_seed=run_seed)
    episode = Episode(score=Score(0.0, False), first=observations)
    for index in range(max_steps):
        actions: dict[str, Action] = {}
        for agent, observation in observations.items():
            ctx = AgentContext(recorder, agent, index, 0)
            actions[agent] = await operators[agent].act(observation, ctx)
        step = await env.step(actions)
        episode.steps.append(step)
        if step.terminated or step.truncated:
            episode.score = env.score()
            return episode
        observations = step.observations
    raise AssertionError(f"episode did not end within {max_steps} steps")


class Scripted:
    """An operator that answers `fn(observation)`: for hand-written agents in tests."""

    def __init__(self, fn: Callable[[Observation], Action]):
        self.fn = fn

    async def act(self, observation: Observation, ctx: Context) -> Action:
        return self.fn(observation)


@pytest.fixture
def play_episode() -> Callable[..., object]:
    return play


@pytest.fixture
def scripted() -> type[Scripted]:
    return Scripted
