"""check_env: passes on a real environment, names what a broken one does wrong."""

from __future__ import annotations

import itertools
import re

import pytest

from palaestra.core import Action, Observation
from palaestra.envs import EnvSpec, Score, Step, check_env, make, register, registered
from palaestra.envs._checker import EnvCheckError, check_env_sync
from tests.runtime.toy_env import CounterBaseline, CounterEnv, CounterParams


class Counter:
    """A correct toy environment: two agents count to 3 together, then it ends."""

    def __init__(self) -> None:
        self.count = 0
        self.said: list[str] = []

    @property
    def agents(self) -> list[str]:
        return ["a", "b"]

    def tasks(self) -> list[str]:
        return ["t"]

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        self.count, self.said = 0, []
        return {agent: Observation(text=f"seed {seed}, count 0") for agent in self.agents}

    async def step(self, actions: dict[str, Action]) -> Step:
        self.count += 1
        self.said += [actions[a].text or "" for a in sorted(actions)]
        done = self.count >= 3
        obs = {} if done else {a: Observation(text=f"count {self.count}") for a in self.agents}
        return Step(observations=obs, rewards={"a": 0.5}, terminated=done, info={"n": self.count})

    def score(self) -> Score:
        return Score(value=1.0 if self.count >= 3 else 0.0, success=self.count >= 3)


async def test_passes_on_a_correct_toy_env():
    report = await check_env(Counter())
    assert report.task == "t" and report.steps == 3 and report.score.success
    assert report.agents == ["a", "b"]


async def test_feeds_the_given_actions_sync_or_async():
    env = Counter()
    await check_env(env, actions=lambda agent, obs: Action(text=f"{agent}:{obs.text}"))
    assert env.said[:2] == ["a:seed 0, count 0", "b:seed 0, count 0"]

    async def act(agent: str, obs: Observation) -> Action:
        return Action(text=agent)

    await check_env(env, actions=act)
    assert env.said == ["a", "b"] * 3


@pytest.mark.parametrize("family", ["ws", "delaunay"])
async def test_passes_on_graph_coloring_with_its_baseline(family):
    # by id: the registered baseline plays, so the colouring succeeds
    report = await check_env("graph.coloring", params={"family": family, "n": 8}, seed=3)
    assert report.score.success and report.steps == 5
    # an instance of a registered class also finds its baseline
    assert (await check_env(make("graph.coloring", n=8))).score.success


async def test_graph_coloring_with_empty_actions_scores_zero():
    report = await check_env(make("graph.coloring", n=8), actions=lambda a, o: Action())
    # no answers: every agent is re-asked once, then the episode ends with score 0
    assert report.steps == 4 + 2 and report.score.value == 0.0


def test_sync_wrapper_and_error_type():
    assert check_env_sync(Counter()).steps == 3
    assert issubclass(EnvCheckError, AssertionError)


# -- broken environments: each must be caught, with a message naming what is wrong ------


class WrongResetType(Counter):
    async def reset(self, seed, task=None):
        await super().reset(seed, task)
        return [Observation()]


class NonBoolTerminated(Counter):
    async def step(self, actions):
        step = await super().step(actions)
        step.terminated = int(step.terminated)
        return step


class NondeterministicReset(Counter):
    ticks = itertools.count()

    async def reset(self, seed, task=None):
        await super().reset(seed, task)
        return {a: Observation(text=f"tick {next(self.ticks)}") for a in self.agents}


class NondeterministicStep(Counter):
    ticks = itertools.count()

    async def step(self, actions):
        step = await super().step(actions)
        step.info["tick"] = next(self.ticks)
        return step


class ScoreOutOfRange(Counter):
    def score(self):
        return Score(value=1.5, success=True)


class NonBoolSuccess(Counter):
    def score(self):
        return Score(value=1.0, success="yes")


class NeverEnds(Counter):
    async def step(self, actions):
        step = await super().step(actions)
        step.terminated = False
        step.observations = {"a": Observation()}
        return step


class InfoNotJson(Counter):
    async def step(self, actions):
        step = await super().step(actions)
        step.info["when"] = object()
        return step


class UnknownAgentObservation(Counter):
    async def step(self, actions):
        step = await super().step(actions)
        if not step.terminated:
            step.observations["zed"] = Observation()
        return step


class StringReward(Counter):
    async def step(self, actions):
        step = await super().step(actions)
        step.rewards = {"a": "1"}
        return step


class NoTasks(Counter):
    def tasks(self):
        return []


class EmptyAgents(Counter):
    @property
    def agents(self):
        return []


class StallsWithoutObservations(Counter):
    async def step(self, actions):
        step = await super().step(actions)
        step.observations = {}
        return step


class StepRaises(Counter):
    async def step(self, actions):
        raise KeyError("boom")


@pytest.mark.parametrize(
    "env_class, message",
    [
        (WrongResetType, "reset(seed=0, task='t'): expected dict[str, Observation], got list"),
        (NonBoolTerminated, "step() #0 terminated: expected bool, got int (0)"),
        (
            NondeterministicReset,
            "reset(seed=0, task='t') called twice: expected the same result",
        ),
        (NondeterministicStep, "step() #0 replayed with the same actions: expected the same"),
        (ScoreOutOfRange, "score(): expected value a float in [0, 1], got 1.5"),
        (NonBoolSuccess, "score(): expected success a bool, got str ('yes')"),
        (NeverEnds, "step(): expected the episode to end (terminated or truncated) within 200"),
        (InfoNotJson, "step() #0 info: expected JSON-serialisable values, got"),
        (UnknownAgentObservation, "step() #0 observations: expected keys among agents"),
        (StringReward, "step() #0 rewards: expected dict[str, float], got 'a': str ('1')"),
        (NoTasks, "tasks(): expected a non-empty list of str, got []"),
        (EmptyAgents, "agents: expected a non-empty list of str, got []"),
        (StallsWithoutObservations, "step() #0: expected observations for the agents that act"),
        (StepRaises, "step() #0: expected a Step, got KeyError: 'boom'"),
    ],
)
async def test_catches_broken_envs(env_class, message):
    with pytest.raises(EnvCheckError, match=re.escape(message)):
        await check_env(env_class())


async def test_difference_is_pointed_at():
    with pytest.raises(EnvCheckError, match=r"\['a'\]\['text'\]: expected 'tick \d+', got 'tick"):
        await check_env(NondeterministicReset())


async def test_max_steps_is_honoured():
    with pytest.raises(EnvCheckError, match="within 2 steps"):
        await check_env(Counter(), max_steps=2)


async def test_unknown_env_id_is_a_user_error():
    from palaestra.core import UserError

    with pytest.raises(UserError, match="unknown environment 'graph.nope'"):
        await check_env("graph.nope")


async def test_actions_that_are_not_actions_are_reported():
    with pytest.raises(EnvCheckError, match=r"agent 'a': expected Action, got str \('go'\)"):
        await check_env(Counter(), actions=lambda agent, obs: "go")


@pytest.mark.parametrize("env_id", sorted(registered()))
async def test_every_registered_environment_passes(env_id):
    # with default parameters and the registered baseline (or empty actions)
    report = await check_env(env_id)
    assert report.steps >= 1


class _BuiltByFunction(CounterEnv):
    """Its own class: no other registered spec builds it."""


def _build(params: CounterParams) -> _BuiltByFunction:
    return _BuiltByFunction(params)


async def test_an_instance_built_by_a_factory_function_plays_its_baseline():
    """A spec whose factory is a function (not the class) still finds its baseline from
    an instance: the function's return annotation names the class."""
    register(
        EnvSpec(
            "test.built_by_function",
            _build,
            CounterParams,
            baseline=lambda params, agent: CounterBaseline(params.target),
        ),
        replace=True,
    )
    # another spec takes the same parameters: the return annotation decides
    other = EnvSpec(
        "test.same_params", CounterEnv, CounterParams, baseline=lambda p, a: CounterBaseline(9)
    )
    register(other, replace=True)
    report = await check_env(_build(CounterParams(target=2)))
    assert report.actions == "the registered baseline of 'test.built_by_function'"
    assert report.score.success and report.steps == 3  # add, add, DONE


async def test_an_instance_without_a_baseline_says_why_its_actions_are_empty():
    report = await check_env(Counter())
    assert report.actions.startswith("empty Action()s: the instance has no `params`")
    by_id = await check_env("graph.coloring", params={"n": 4})
    assert by_id.actions == "the registered baseline of 'graph.coloring'"
