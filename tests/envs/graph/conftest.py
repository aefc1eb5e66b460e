"""Test helpers for the graph environments: a minimal `Context` and an episode loop.

The real runner lives in `palaestra.runtime`; these tests exercise the environments and
their baseline operators without it, the way the protocol in `palaestra.core._context`
describes: one context per agent, one generator per (run seed, episode, agent, purpose).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from palaestra.core import Action, Observation, Operator, Payload, Usage, derive_rng
from palaestra.envs import Environment, Score, Step


class EpisodeContext:
    """What an operator sees of one agent's episode (no recording, no budget)."""

    def __init__(self, run_seed: int, episode_id: str, agent: str):
        self._run_seed = run_seed
        self._episode_id = episode_id
        self._agent = agent
        self._rngs: dict[str, random.Random] = {}
        self.step = 0
        self.events: list[Payload] = []

    @property
    def episode_id(self) -> str:
        return self._episode_id

    @property
    def agent(self) -> str:
        return self._agent

    @property
    def turn_event(self) -> int:
        return len(self.events)

    def rng(self, purpose: str) -> random.Random:
        if purpose not in self._rngs:
            self._rngs[purpose] = derive_rng(self._run_seed, self._episode_id, self._agent, purpose)
        return self._rngs[purpose]

    def emit(self, payload: Payload, *, parent: int | None = None) -> int:
        self.events.append(payload)
        return len(self.events)

    def add_usage(self, usage: Usage) -> None:
        return None


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
    contexts = {agent: EpisodeContext(run_seed, episode_id, agent) for agent in env.agents}
    episode = Episode(score=Score(0.0, False), first=observations)
    for index in range(max_steps):
        actions: dict[str, Action] = {}
        for agent, observation in observations.items():
            contexts[agent].step = index
            actions[agent] = await operators[agent].act(observation, contexts[agent])
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

    async def act(self, observation: Observation, ctx: EpisodeContext) -> Action:
        return self.fn(observation)


@pytest.fixture
def episode_context() -> type[EpisodeContext]:
    return EpisodeContext


@pytest.fixture
def play_episode() -> Callable[..., object]:
    return play


@pytest.fixture
def scripted() -> type[Scripted]:
    return Scripted
