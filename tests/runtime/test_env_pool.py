"""Environment instances in a run: one per episode unless the environment declares the
reset contract, then one pool per job, at most one instance per episode in flight,
reused across episodes and closed at the end of the run."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest

import palaestra
from palaestra.boundaries import FaultPlan
from palaestra.envs import EnvSpec, register
from palaestra.runtime import Concurrency, Experiment, Job
from palaestra.store import Store
from tests.runtime.toy_env import CounterBaseline, CounterEnv, CounterParams


class Tally:
    """What the environments of one test did: built, reset, closed (by serial number:
    an `id` is reused once its object is collected)."""

    built: ClassVar[list[int]] = []
    resets: ClassVar[list[int]] = []
    closed: ClassVar[list[int]] = []


class TrackedCounter(CounterEnv):
    """The counter, telling `Tally` when it is built, reset and closed."""

    def __init__(self, params: CounterParams):
        super().__init__(params)
        self.serial = len(Tally.built)
        Tally.built.append(self.serial)

    async def reset(self, seed, task=None):
        Tally.resets.append(self.serial)
        return await super().reset(seed, task)

    async def step(self, actions):
        await asyncio.sleep(0)  # let the other worker's episode run meanwhile
        return await super().step(actions)

    async def aclose(self) -> None:
        assert self.serial not in Tally.closed, "closed twice"
        Tally.closed.append(self.serial)


class ReusableCounter(TrackedCounter):
    reusable: ClassVar[bool] = True


def _register(env_id: str, cls: type, **options) -> None:
    register(
        EnvSpec(
            env_id,
            cls,
            CounterParams,
            baseline=lambda params, agent: CounterBaseline(params.target),
            **options,
        ),
        replace=True,
    )


@pytest.fixture(autouse=True)
def _tally():
    for kept in (Tally.built, Tally.resets, Tally.closed):
        kept.clear()
    _register("test.pooled", ReusableCounter)
    _register("test.fresh", TrackedCounter)


def _experiment(env: str, episodes: int = 2, **job) -> Experiment:
    return Experiment(
        name="pool",
        concurrency=Concurrency(episodes=episodes),
        jobs=[Job(env=env, params={"num_tasks": 4}, tasks=4, seeds=2, **job)],
    )


def test_a_reusable_environment_is_pooled_per_worker(db_path):
    result = palaestra.run(_experiment("test.pooled"), store=db_path)
    assert result.env_instances == {"test.pooled": "pooled"}
    assert [row.outcome for row in result.episodes] == ["success"] * 8
    # the instance built to read the tasks is the pool's first; two workers, two instances
    assert len(Tally.built) == 2 and len(Tally.resets) == 8
    assert set(Tally.resets) == set(Tally.built)
    assert sorted(Tally.closed) == sorted(Tally.built)  # each once, at the end


def test_other_environments_get_a_fresh_instance_per_episode(db_path):
    result = palaestra.run(_experiment("test.fresh"), store=db_path)
    assert result.env_instances == {"test.fresh": "fresh"}
    assert len(Tally.resets) == 8 and len(set(Tally.resets)) == 8
    assert set(Tally.resets) <= set(Tally.closed)  # each closed after its episode


def test_a_spec_can_turn_reuse_off(db_path):
    _register("test.pooled", ReusableCounter, reusable=False)
    result = palaestra.run(_experiment("test.pooled", episodes=1), store=db_path)
    assert result.env_instances == {"test.pooled": "fresh"}
    assert len(set(Tally.resets)) == 8


def test_pooled_and_fresh_runs_record_the_same_episodes(db_path, tmp_path):
    pooled = palaestra.run(_experiment("test.pooled", episodes=1), store=db_path)
    fresh = palaestra.run(_experiment("test.fresh", episodes=1), store=tmp_path / "b.db")
    assert [r.hash for r in pooled.episodes] != []
    with Store(db_path) as a, Store(tmp_path / "b.db") as b:
        for x, y in zip(a.episodes(pooled.run_id), b.episodes(fresh.run_id), strict=True):
            steps_a = [e.payload for e in a.events(pooled.run_id, x.episode_id)][1:]
            steps_b = [e.payload for e in b.events(fresh.run_id, y.episode_id)][1:]
            assert steps_a == steps_b


def test_a_fault_plan_wraps_the_pooled_instance_per_episode(db_path):
    plan = FaultPlan.model_validate({"rules": [{"at": "env", "fault": "error", "schedule": [0]}]})
    exp = _experiment("test.pooled", faults=plan)
    result = palaestra.run(exp, store=db_path)
    assert {row.outcome for row in result.episodes} == {"error"}
    assert len(Tally.built) <= 2
    assert sorted(Tally.closed) == sorted(Tally.built)  # closed once, by the pool
