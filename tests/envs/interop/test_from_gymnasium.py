"""`from_gymnasium`: real Gymnasium envs (FrozenLake, Pendulum, a Text-space env) as
palaestra environments that pass `check_env`, parse text actions into their action
spaces, answer unparsable ones with "Invalid Action" and reward 0, and keep
``terminated`` and ``truncated`` apart."""

from __future__ import annotations

from typing import Any

import gymnasium
import pytest
from gymnasium import spaces
from pydantic import BaseModel, ConfigDict

from palaestra.core import Action, UserError
from palaestra.envs import EnvSpec, check_env, register
from palaestra.envs import _registry as registry
from palaestra.envs.interop import from_gymnasium
from palaestra.runtime import run

# FrozenLake 4x4, not slippery: S at 0, G at 15. down, down, right, right, down, right.
PATH = ["1", "1", "2", "2", "1", "2"]


def frozen_lake(**options: Any):
    kwargs = {"is_slippery": False, "render_mode": "ansi"}
    return from_gymnasium("FrozenLake-v1", make_kwargs=kwargs, **options)


async def test_frozen_lake_passes_check_env_and_is_solved_by_the_path():
    env = frozen_lake()
    moves = iter(PATH * 2)  # check_env plays the episode twice
    report = await check_env(env, actions=lambda agent, obs: Action(text=next(moves)))
    assert report.task == "FrozenLake-v1" and report.agents == ["agent"]
    assert report.steps == 6 and report.score.value == 1.0 and report.score.success
    assert report.score.metrics == {
        "return": 1.0,
        "steps": 6.0,
        "invalid_actions": 0.0,
        "terminated": 1.0,
    }


async def test_observations_are_text_with_the_map_and_the_action_format():
    env = frozen_lake(instructions="Reach G without falling into a hole H.")
    first = (await env.reset(0))["agent"]
    assert first.text == (
        "Reach G without falling into a hole H.\n\n"
        "[S]FFF\nFHFH\nFFFH\nHFFG\n\n"  # the ANSI highlight of the position, in brackets
        "Observation: 0\n\n"
        "Action: reply with one whole number from 0 to 3."
    )
    assert first.data == {"observation": 0, "info": {"prob": 1}, "action_space": "Discrete(4)"}
    step = await env.step({"agent": Action(text="I go down: 1")})  # first number read
    assert step.observations["agent"].data["observation"] == 4
    assert "  (Down)\nSFFF\n[F]HFH" in step.observations["agent"].text
    step = await env.step({"agent": Action(data={"action": 2})})  # structured form
    assert step.observations["agent"].data["observation"] == 5  # a hole
    assert step.terminated and not step.truncated and step.rewards == {"agent": 0.0}
    assert env.score().value == 0.0 and not env.score().success
    with pytest.raises(UserError, match="call reset"):
        await env.step({"agent": Action(text="1")})


async def test_an_unparsable_action_is_an_invalid_action_with_reward_zero():
    env = frozen_lake(max_invalid_actions=3)
    start = (await env.reset(0))["agent"]
    for n, text in enumerate(["go left", "7", None], start=1):
        step = await env.step({"agent": Action(text=text)})
        seen = step.observations["agent"]
        assert seen.text.startswith("Invalid Action: expected a whole number from 0 to 3, got ")
        assert seen.text.endswith(start.text)  # the state is unchanged
        assert seen.data["observation"] == 0
        assert step.rewards == {"agent": 0.0} and not step.terminated
        assert step.info["invalid_actions"] == n
        assert step.truncated == (n == 3)  # the third one ends the episode
    assert env.score().metrics["invalid_actions"] == 3.0 and env.score().metrics["steps"] == 0.0


async def test_time_limit_truncation_stays_a_truncation():
    kwargs = {"is_slippery": False, "max_episode_steps": 3}
    env = from_gymnasium("FrozenLake-v1", make_kwargs=kwargs)
    await env.reset(0)
    steps = [await env.step({"agent": Action(text="0")}) for _ in range(3)]  # left: a wall
    assert [(s.terminated, s.truncated) for s in steps] == [(False, False)] * 2 + [(False, True)]
    assert env.score().metrics["terminated"] == 0.0


async def test_box_actions_are_json():
    env = from_gymnasium("Pendulum-v1", success_return=1e9)
    first = (await env.reset(1))["agent"]
    assert first.text.startswith("Observation: [") and "Box(-2.0, 2.0, (1,), float32)" in first.text
    ok = await env.step({"agent": Action(text="[0.5]")})
    assert "invalid_action" not in ok.info and ok.rewards["agent"] < 0
    bad = await env.step({"agent": Action(text="[5.0]")})  # outside [-2, 2]
    assert bad.info["invalid_action"].startswith("expected an action in Box(")
    word = await env.step({"agent": Action(text="push")})
    assert word.info["invalid_action"].startswith("expected JSON")


class Reverse(gymnasium.Env[str, str]):
    """A Text-space env: observe a word, answer it reversed (reward 1, terminated)."""

    metadata: dict[str, Any] = {"render_modes": []}
    observation_space = spaces.Text(12)
    action_space = spaces.Text(12)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.word = ["stressed", "drawer", "reward"][int(self.np_random.integers(3))]
        return self.word, {}

    def step(self, action: str):
        solved = action == self.word[::-1]
        return self.word, float(solved), solved, False, {"tried": action}


async def test_text_spaces_pass_strings_through():
    env = from_gymnasium(Reverse(), agent="solver", task="reverse")
    assert env.agents == ["solver"] and env.tasks() == ["reverse"]
    word = (await env.reset(5))["solver"].data["observation"]
    assert (await env.reset(5))["solver"].text.startswith(f"Observation: {word}\n")
    wrong = await env.step({"solver": Action(text="nope!")})  # "!" is not in the charset
    assert wrong.info["invalid_action"].startswith("expected text in Text(")
    miss = await env.step({"solver": Action(text="nope")})
    assert miss.rewards == {"solver": 0.0} and miss.info == {"gym_info": {"tried": "nope"}}
    hit = await env.step({"solver": Action(text=word[::-1])})
    assert hit.terminated and env.score().success
    with pytest.raises(UserError, match="one task: 'reverse'"):
        await env.reset(0, "other")


def test_bad_options_are_user_errors():
    with pytest.raises(UserError, match=r"gymnasium.make\('NoSuchEnv-v0'\) failed"):
        from_gymnasium("NoSuchEnv-v0")
    with pytest.raises(UserError, match="make_kwargs apply to a Gymnasium id"):
        from_gymnasium(Reverse(), make_kwargs={"x": 1})
    with pytest.raises(UserError, match="success_return must be > 0"):
        from_gymnasium(Reverse(), success_return=0)


@pytest.fixture
def frozen_lake_id():
    env_id = "test.frozen_lake"
    register(EnvSpec(id=env_id, factory=lambda params: frozen_lake(), params=_NoParams))
    try:
        yield env_id
    finally:
        registry._REGISTRY.pop(env_id, None)


class _NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def test_the_runner_plays_a_gymnasium_env(frozen_lake_id, tmp_path):
    experiment = {
        "jobs": [
            {"env": frozen_lake_id, "seeds": 2, "operator": {"kind": "scripted", "actions": PATH}},
            {
                "env": frozen_lake_id,
                "label": "lost",
                "operator": {"kind": "scripted", "actions": ["left"]},
                "max_steps": 5,
            },
        ]
    }
    result = run(experiment, store=tmp_path / "runs.db")
    assert result.jobs[frozen_lake_id].successes == 2 and result.jobs["lost"].successes == 0
    assert result.errors == 0
