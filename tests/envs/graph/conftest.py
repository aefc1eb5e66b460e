"""Test helpers for the graph environments: an episode loop without the runner.

Operators get the runtime's real per-turn context (`AgentContext` over an
`EpisodeRecorder`): one generator per (run seed, episode, agent, purpose) for the whole
episode.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pytest
from hypothesis import strategies as st

from palaestra.core import Action, Context, Observation, Operator
from palaestra.envs import Environment, Score, Step
from palaestra.envs.graph import GraphInstance
from palaestra.envs.graph._graphs import agent_names
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


def graph_of(n: int, pairs: Iterable[tuple[int, int]]) -> GraphInstance:
    """A graph on the first `n` agent names with edges between the given index pairs
    (any graph: disconnected or edgeless too, which the generators never make)."""
    names = agent_names(n)
    index = sorted({(min(i, j), max(i, j)) for i, j in pairs if i != j})
    adjacency: dict[str, list[str]] = {name: [] for name in names}
    for i, j in index:
        adjacency[names[i]].append(names[j])
        adjacency[names[j]].append(names[i])
    order = {name: k for k, name in enumerate(names)}
    return GraphInstance(
        family="ws",
        seed=0,
        names=names,
        edges=tuple((names[i], names[j]) for i, j in index),
        neighbors={a: tuple(sorted(nbs, key=order.__getitem__)) for a, nbs in adjacency.items()},
    )


PATH = graph_of(4, [(0, 1), (1, 2), (2, 3)])
"""Michael - Jennifer - David - Jessica."""
TRIANGLE = graph_of(3, [(0, 1), (1, 2), (0, 2)])
"""Michael, Jennifer, David, all adjacent."""
STAR = graph_of(5, [(0, 1), (0, 2), (0, 3), (0, 4)])
"""Michael in the centre; Jennifer, David, Jessica, James around."""


@st.composite
def graphs(draw: st.DrawFn, max_nodes: int = 9) -> GraphInstance:
    """Any small graph (hypothesis strategy)."""
    n = draw(st.integers(1, max_nodes))
    pairs = draw(st.sets(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=24))
    return graph_of(n, pairs)


async def measure_baseline(
    env_id: str, family: str, n: int, rounds: int | None = None, tasks: int = 20
) -> tuple[float, int]:
    """Mean score and successes of the registered baseline over ``{family}-{n}-0..tasks-1``
    (reset seed 0, run seed 0): the loop behind the tables in the env docstrings."""
    from palaestra.envs import get_spec

    spec = get_spec(env_id)
    raw: dict[str, object] = {"family": family, "n": n, "num_tasks": tasks}
    if rounds is not None:
        raw["rounds"] = rounds
    params = spec.validate(raw)
    env = spec.factory(params)
    baseline = spec.baseline
    assert baseline is not None
    scores = [
        (await play(env, lambda agent: baseline(params, agent), task=task)).score
        for task in env.tasks()
    ]
    return sum(s.value for s in scores) / len(scores), sum(s.success for s in scores)


def imported_modules(module: object) -> set[str]:
    """Every module a Python module imports (from its source)."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(module))  # type: ignore[arg-type]
    found = {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    return found | {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
