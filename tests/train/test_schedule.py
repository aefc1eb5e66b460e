"""ScalingInter-RL horizon schedule, and a run that honours it."""

from __future__ import annotations

import pytest

import palaestra
from palaestra.core import UserError
from palaestra.runtime import Experiment, Job, Limits
from palaestra.store import Store
from palaestra.train import HorizonSchedule, with_max_steps
from tests.runtime.toy_env import register_counter


def test_horizon_by_hand():
    schedule = HorizonSchedule(rounds=(10, 20, 30), every=100)
    got = [schedule.max_steps(k) for k in (0, 99, 100, 199, 200, 250, 10**6)]
    assert got == [10, 10, 20, 20, 30, 30, 30]
    assert schedule.changes() == [(0, 10), (100, 20), (200, 30)]
    assert HorizonSchedule(rounds=(5,), every=1).max_steps(7) == 5
    with pytest.raises(ValueError, match=">= 0"):
        schedule.max_steps(-1)


@pytest.mark.parametrize(
    ("rounds", "every", "message"),
    [((), 10, "at least one"), ((10, 0), 10, "integer >= 1"), ((10,), 0, "`every`")],
)
def test_bad_schedules_are_user_errors(rounds, every, message):
    with pytest.raises(UserError, match=message):
        HorizonSchedule(rounds=rounds, every=every)


def test_with_max_steps_sets_every_job_and_leaves_the_original():
    experiment = Experiment(
        jobs=[Job(env="test.counter"), Job(env="test.counter", label="own", max_steps=50)],
        limits=Limits(max_steps=100),
    )
    short = with_max_steps(experiment, 2)
    assert short.limits.max_steps == 2
    assert [job.max_steps for job in short.jobs] == [2, 2]
    assert experiment.limits.max_steps == 100 and experiment.jobs[1].max_steps == 50


def test_a_run_honours_the_scheduled_horizon(tmp_path):
    register_counter()
    # the baseline adds 1 per step: a target of 5 needs 6 steps (5 adds, then DONE)
    experiment = Experiment(jobs=[Job(env="test.counter", params={"target": 5}, seeds=2)])
    schedule = HorizonSchedule(rounds=(2, 4, 8), every=10)
    reasons = {}
    for step in (0, 10, 25):
        run = palaestra.run(
            with_max_steps(experiment, schedule.max_steps(step)), store=tmp_path / "runs.db"
        )
        reasons[step] = {(row.steps, row.reason, row.success) for row in run.episodes}
    assert reasons[0] == {(2, "max_steps", False)}
    assert reasons[10] == {(4, "max_steps", False)}
    assert reasons[25] == {(6, "done", True)}
    with Store(tmp_path / "runs.db") as store:
        (last,) = [r for r in store.list_runs() if r.run_id == run.run_id]
        assert last.experiment["limits"]["max_steps"] == 8
        assert [e.kind for e in store.events(run.run_id, run.episodes[0].episode_id)].count(
            "env_step"
        ) == 6
