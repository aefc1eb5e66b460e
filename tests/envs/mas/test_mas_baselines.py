"""The baselines of `mas.controlled`: the exact solver scores 1 on a grid of every axis
(alone and split over agents) in the fewest turns; the naive one is hurt by robustness,
exactly as predicted by trusting the first record."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from palaestra.core import Observation, UserError
from palaestra.envs import make
from palaestra.envs.mas import ChainSolver, ControlledEnv, NaiveSolver, generate, solve
from palaestra.envs.mas._task import parse_task_id
from palaestra.runtime import AgentContext, EpisodeRecorder

Play = Callable[..., Awaitable[Any]]

GRID = {
    "depth": [1, 2, 5],
    "horizon": [1, 3],
    "breadth": [1, 3, 5],
    "parallel": [1, 2, 5],
    "robustness": [0, 0.5, 1],
    "instances": 1,
}


def _env(**params: Any) -> ControlledEnv:
    env = make("mas.controlled", **params)
    assert isinstance(env, ControlledEnv)
    return env


async def test_exact_solver_scores_one_everywhere_in_horizon_plus_one_steps(play_episode: Play):
    env = _env(**GRID)
    assert len(env.tasks()) == 3 * 2 * 6 * 3
    for task in env.tasks():
        episode = await play_episode(env, lambda agent: ChainSolver(agent=agent), task)
        assert episode.score.success, (task, episode.score.explanation)
        assert len(episode.steps) == parse_task_id(task).horizon + 1, task
        assert episode.score.metrics["tool_errors"] == 0
        assert episode.score.metrics["lookups"] == env.task.axes.breadth * env.task.axes.depth


@pytest.mark.parametrize("agents", [2, 3, 7])
async def test_exact_solver_split_over_agents(play_episode: Play, agents: int):
    env = _env(
        depth=3,
        horizon=2,
        breadth=[1, 5],
        parallel=[1, 2],
        robustness=0.5,
        instances=2,
        agents=agents,
    )
    for task in env.tasks():
        episode = await play_episode(env, lambda agent: ChainSolver(agent=agent), task)
        assert episode.score.success and len(episode.steps) == 3, task
        answered_by = episode.steps[-1].observations[env.agents[0]].data["answered"]
        n = len(answered_by)
        assert answered_by == {f"Q{j}": env.agents[(j - 1) % agents] for j in range(1, n + 1)}
        # each agent looked up only the keys of its share and their ancestors
        first = episode.actions[0]
        if parse_task_id(task).breadth == 5 and parse_task_id(task).parallel == 2 and agents == 2:
            keys = [c.arguments["key"] for c in first["agent_1"].tool_calls]
            wanted = [s.steps[0].key for s in env.task.subproblems if s.name in {"Q1", "Q3", "Q5"}]
            assert keys == wanted


async def test_naive_solver_is_right_without_noise_and_misled_by_it(play_episode: Play):
    env = _env(
        depth=3, horizon=2, breadth=4, parallel=2, robustness=[0, 0.25, 0.5, 1], instances=20
    )
    means = {}
    for r in (0, 0.25, 0.5, 1):
        scores = []
        for task in [t for t in env.tasks() if f"-r{r:g}-" in t]:
            episode = await play_episode(env, lambda agent: NaiveSolver(agent=agent), task)
            truth, credulous = env.task.answers, solve(env.task, "first")
            predicted = sum(credulous[n] == truth[n] for n in truth) / len(truth)
            assert episode.score.value == predicted, task
            scores.append(episode.score.value)
        means[r] = sum(scores) / len(scores)
    assert means[0] == 1.0
    assert 1.0 > means[0.25] > means[0.5] > means[1]
    assert means[1] < 0.3


async def test_one_solver_instance_serves_interleaved_episodes():
    env_a, env_b = _env(), _env()
    solver = ChainSolver()
    tasks = ("d2-h2-b2-p1-r0.5-s0", "d2-h2-b2-p2-r0.5-s1")
    obs = {"a": (await env_a.reset(0, tasks[0]))["agent"]}
    obs["b"] = (await env_b.reset(0, tasks[1]))["agent"]
    envs = {"a": env_a, "b": env_b}
    recorders = {name: EpisodeRecorder(name, run_seed=0) for name in envs}
    done = set()
    for index in range(10):
        for name, env in envs.items():
            if name in done:
                continue
            ctx = AgentContext(recorders[name], "agent", index, 0)
            step = await env.step({"agent": await solver.act(obs[name], ctx)})
            obs[name] = step.observations["agent"]
            if step.terminated:
                done.add(name)
    assert done == {"a", "b"} and env_a.score().success and env_b.score().success


async def test_solver_refuses_observations_of_another_environment():
    recorder = EpisodeRecorder("ep", run_seed=0)
    with pytest.raises(UserError, match="needs observation.data\\['subproblems'\\]"):
        await ChainSolver().act(Observation(text="hi"), AgentContext(recorder, "agent", 0, 0))


def test_generated_answers_are_what_the_solver_computes():
    task = generate(parse_task_id("d4-h3-b3-p1-r0.5-s2"))
    assert solve(task) == task.answers
