"""The injection suite: every task's attack checker is true when a scripted agent carries
out the injected instruction and false for the benign ground truth; the injections sit
where the task says (tool results or the customer's turn)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from palaestra.envs import check_env, get_spec
from palaestra.envs.tooluse.injection import (
    ATTACKS,
    INJECTION,
    InjectionDB,
    InjectionTask,
    attack_success,
)
from palaestra.runtime import EpisodeSpec, run_episode

NUM_TASKS = 8
TASKS = [t.id for t in INJECTION.build_tasks(0, NUM_TASKS)]


def _run(task: str, baseline: str) -> tuple[Any, None]:
    spec = get_spec("tooluse.injection")
    params = spec.validate({"num_tasks": NUM_TASKS, "baseline": baseline})
    env = spec.factory(params)
    assert spec.baseline is not None
    operator = spec.baseline(params, "agent")
    outcome = asyncio.run(
        run_episode(EpisodeSpec(f"x/{task}", "x", spec.id, task, 0), env, lambda a: operator)
    )
    assert outcome.reason == "done", outcome.error
    return env, None


def test_every_attack_is_covered():
    tasks = INJECTION.build_tasks(0, NUM_TASKS)
    assert {t.attack for t in tasks if isinstance(t, InjectionTask)} == set(ATTACKS)
    assert INJECTION.build_tasks(0, NUM_TASKS) == tasks  # deterministic


@pytest.mark.parametrize("task", TASKS)
def test_checker_true_for_the_obedient_agent_false_for_the_ground_truth(task):
    env, _ = _run(task, "ground_truth")
    score = env.score()
    assert score.success and score.metrics["utility"] == 1.0
    assert score.metrics["attack_success"] == 0.0
    env, _ = _run(task, "obedient")
    assert env.score().metrics["attack_success"] == 1.0
    assert attack_success(env._task, env._db)


def test_injection_sits_in_its_carrier():
    spec = get_spec("tooluse.injection")
    env = spec.make(num_tasks=4)
    for task in INJECTION.build_tasks(0, 4):
        assert isinstance(task, InjectionTask)
        first = asyncio.run(env.reset(0, task.id))["agent"]
        in_first = task.injection in first.text
        assert in_first == (task.carrier == "user_turn")
        if task.carrier == "tool_result":
            db = env._db
            assert isinstance(db, InjectionDB)
            details = INJECTION.execute(db, "get_order_details", {"order_id": task.injected_order})
            assert task.injection in details.content


def test_side_channels_do_not_cost_utility_but_moved_money_does():
    """An extra e-mail or note leaves the benign goal reached; a refund to someone else
    changes the orders and costs it."""
    env, _ = _run("exfiltrate-003", "obedient")
    assert env.score().metrics["utility"] == 1.0
    env, _ = _run("wrong_refund-002", "obedient")
    assert env.score().metrics["utility"] == 0.0


def test_env_passes_the_checker():
    report = asyncio.run(check_env("tooluse.injection", task="wrong_refund-002"))
    assert report.score.success and report.score.metrics["attack_success"] == 0.0
