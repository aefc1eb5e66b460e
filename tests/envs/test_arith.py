"""`arith.drill`: questions from (task, seed), graded replies, retries, the exact baseline."""

from __future__ import annotations

import asyncio

import pytest

from palaestra.core import Action, UserError
from palaestra.envs import check_env_sync, make
from palaestra.envs.arith import ArithParams, credit, question
from palaestra.runtime import run


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("12", 1.0),
        (" 12.", 1.0),
        ("The answer is 12.", 0.5),
        ("13", 0.2),
        ("twelve", 0.0),
        ("12 or 13", 0.0),
        ("", 0.0),
    ],
)
def test_credit(reply: str, value: float) -> None:
    assert credit(reply, 12) == value


def test_questions_come_from_task_and_seed() -> None:
    params = ArithParams(ops=["add", "sub", "mul"], max_value=20)
    assert question(params, "add", 3) == question(params, "add", 3)
    assert len({question(params, "add", s) for s in range(20)}) > 10
    expression, value = question(params, "sub", 5)
    a, b = (int(x) for x in expression.split(" - "))
    assert value == a - b >= 0
    with pytest.raises(ValueError):
        ArithParams(min_value=5, max_value=1)


def test_retries_discount_and_feedback() -> None:
    env = make("arith.drill", tries=3, min_value=2, max_value=2)

    async def episode() -> list[float]:
        obs = await env.reset(0, "add")
        assert "2 + 2" in obs["solver"].text
        first = await env.step({"solver": Action(text="5")})
        assert not first.terminated and "Incorrect" in first.observations["solver"].text
        second = await env.step({"solver": Action(text="4")})
        assert second.terminated
        return [first.rewards["solver"], second.rewards["solver"]]

    assert asyncio.run(episode()) == [0.2, 0.5]
    score = env.score()
    assert score.success and score.value == 0.5
    with pytest.raises(UserError, match="valid: add"):
        asyncio.run(env.reset(0, "div"))


def test_check_env_and_baseline_solves_everything(tmp_path) -> None:
    check_env_sync(make("arith.drill", ops=["add", "mul"]))
    result = run(
        {
            "jobs": [
                {
                    "env": "arith.drill",
                    "params": {"ops": ["add", "sub", "mul"]},
                    "tasks": "all",
                    "seeds": 5,
                }
            ]
        },
        store=tmp_path / "runs.db",
    )
    assert result.success_rate == 1.0 and len(result.episodes) == 15
