"""An episode loop without the runner, for `mas.controlled` and its baselines: every
agent acts at every step with the runtime's real per-turn context."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from palaestra.core import Action, Observation, Operator
from palaestra.envs import Environment, Score, Step
from palaestra.runtime import AgentContext, EpisodeRecorder


@dataclass
class Episode:
    """What one played episode gave."""

    score: Score
    first: dict[str, Observation]
    steps: list[Step] = field(default_factory=list)
    actions: list[dict[str, Action]] = field(default_factory=list)


async def play(
    env: Environment,
    operator: Callable[[str], Operator],
    task: str,
    *,
    seed: int = 0,
    max_steps: int = 1000,
) -> Episode:
    """reset; every observed agent acts; step until terminated or truncated; score."""
    observations = await env.reset(seed, task)
    operators = {agent: operator(agent) for agent in env.agents}
    recorder = EpisodeRecorder(task, run_seed=0)
    episode = Episode(score=Score(0.0, False), first=observations)
    for index in range(max_steps):
        actions = {
            agent: await operators[agent].act(obs, AgentContext(recorder, agent, index, 0))
            for agent, obs in observations.items()
        }
        step = await env.step(actions)
        episode.actions.append(actions)
        episode.steps.append(step)
        if step.terminated or step.truncated:
            episode.score = env.score()
            return episode
        observations = step.observations
    raise AssertionError(f"episode did not end within {max_steps} steps")


@pytest.fixture
def play_episode() -> Callable[..., Awaitable[Episode]]:
    return play
