"""check_reuse: a reused instance must play like fresh ones; leaks are named, the
built-in environments that declare the reset contract keep it."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import pytest

from palaestra.core import Action, Observation
from palaestra.envs import EnvSpec, Score, Step, registered
from palaestra.envs._checker import EnvCheckError
from palaestra.testing import check_reuse_sync


class Shop:
    """Each step takes one apple; the observation shows what is left. `copy` is how
    `reset` copies the initial state: deep (correct) or shallow (the leak)."""

    reusable: ClassVar[bool] = True
    history: ClassVar[list[str]] = []
    """Class-level state, used by `LoggingShop` only."""

    def __init__(self, copier: Any = copy.deepcopy) -> None:
        self.copier = copier
        self.initial: dict[str, Any] = {"shelf": {"apples": 3}}
        """Built once per instance (as a data set is loaded), copied at each reset."""
        self.state: dict[str, Any] = {}
        self.taken = 0

    @property
    def agents(self) -> list[str]:
        return ["a"]

    def tasks(self) -> list[str]:
        return ["buy-1", "buy-2"]

    def _obs(self) -> dict[str, Observation]:
        return {"a": Observation(text=f"apples left: {self.state['shelf']['apples']}")}

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        self.state = self.copier(self.initial)
        self.want = int((task or "buy-1").split("-")[1])
        self.taken = 0
        return self._obs()

    async def step(self, actions: dict[str, Action]) -> Step:
        self.state["shelf"]["apples"] -= 1
        self.taken += 1
        done = self.taken >= self.want
        return Step(observations={} if done else self._obs(), terminated=done)

    def score(self) -> Score:
        left = self.state["shelf"]["apples"]
        return Score(value=1.0, success=True, metrics={"left": float(left)})


class LoggingShop(Shop):
    """Deep copies its state, but counts steps in a class-level list it shows."""

    def _obs(self) -> dict[str, Observation]:
        return {"a": Observation(text=f"{len(self.history)} steps so far")}

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        self.history.clear() if not self.history else None  # cleared only when empty
        return await super().reset(seed, task)

    async def step(self, actions: dict[str, Action]) -> Step:
        self.history.append("step")
        return await super().step(actions)


def test_a_deep_copy_of_the_initial_state_passes() -> None:
    report = check_reuse_sync(Shop, seeds=(0, 1))
    assert report.episodes == [("buy-1", 0), ("buy-1", 1), ("buy-2", 0), ("buy-2", 1), ("buy-1", 0)]
    assert report.steps == 1 + 1 + 2 + 2 + 1
    assert report.actions.startswith("empty Action()s")


def test_nested_state_copied_shallowly_is_caught_at_the_second_episode() -> None:
    with pytest.raises(EnvCheckError) as caught:
        check_reuse_sync(lambda: Shop(copier=dict), seeds=(0, 1))
    message = str(caught.value)
    assert "state leaks between episodes: episode 2 of 5 (task 'buy-1', seed 1)" in message
    assert "reset(seed=1, task='buy-1')" in message
    assert "apples left: 3" in message and "apples left: 2" in message


def test_class_level_mutable_state_is_caught() -> None:
    LoggingShop.history.clear()
    with pytest.raises(EnvCheckError, match=r"state leaks between episodes: episode \d"):
        check_reuse_sync(LoggingShop, seeds=(0, 1))


def test_the_second_play_of_the_same_episode_catches_a_leak_within_one_task() -> None:
    with pytest.raises(EnvCheckError, match=r"episode 2 of 2 \(task 'buy-2', seed 0\)"):
        check_reuse_sync(lambda: Shop(copier=dict), tasks=["buy-2"], seeds=(0,))


REUSABLE = sorted(
    env_id
    for env_id, spec in registered().items()
    if spec.reusable or (spec.reusable is None and getattr(spec.factory, "reusable", False))
)
SMALL: dict[str, dict[str, Any]] = {
    "tooluse.store": {"num_tasks": 2},
    "tooluse.airline": {"num_tasks": 2},
    "tooluse.injection": {"num_tasks": 2},
}


def test_the_built_in_reusable_environments_are_the_expected_ones() -> None:
    assert {"arith.drill", "graph.coloring", "mas.controlled", "tooluse.store"} <= set(REUSABLE)
    assert not {"code.python", "code.workspace", "remote.http"} & set(REUSABLE)


@pytest.mark.parametrize("env_id", REUSABLE)
def test_built_in_reusable_environments_keep_the_reset_contract(env_id: str) -> None:
    report = check_reuse_sync(env_id, tasks=2, seeds=(0, 1), params=SMALL.get(env_id))
    assert report.actions == f"the registered baseline of {env_id!r}"
    assert len(report.episodes) >= 3 and report.steps > 0


def test_an_env_spec_can_declare_reuse_for_a_factory_function() -> None:
    from pydantic import BaseModel

    class NoParams(BaseModel):
        pass

    spec = EnvSpec("test.shop", lambda params: Shop(), NoParams, reusable=False)
    assert not spec.reuses(Shop())
    assert EnvSpec("test.shop", lambda params: Shop(), NoParams).reuses(Shop())
