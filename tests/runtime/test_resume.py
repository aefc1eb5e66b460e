"""Resume: the same run id finishes what is missing and never duplicates a finished
episode, also after the runner process is killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

import palaestra
from palaestra.core import UserError
from palaestra.runtime import Experiment, Job
from palaestra.store import Store


def _experiment(tasks: int = 3) -> Experiment:
    return Experiment(name="resume", jobs=[Job(env="test.counter", tasks=tasks, seeds=2)])


def test_rerun_same_id_skips_finished(db_path):
    first = palaestra.run(_experiment(), run_id="r1", store=db_path)
    assert len(first.episodes) == 6 and first.skipped == 0
    again = palaestra.run(_experiment(), run_id="r1", store=db_path)
    assert again.skipped == 6
    assert [e.hash for e in again.episodes] == [e.hash for e in first.episodes]
    with Store(db_path) as store:
        assert len(store.episodes("r1")) == 6


def test_resume_refuses_a_different_experiment(db_path):
    palaestra.run(_experiment(), run_id="r1", store=db_path)
    with pytest.raises(UserError, match="run-id"):
        palaestra.run(_experiment(tasks=2), run_id="r1", store=db_path)


def test_resume_a_run_recorded_before_fields_were_added(db_path):
    first = palaestra.run(_experiment(), run_id="old", store=db_path)
    # a run written by an earlier version: its record lacks fields added since (with
    # defaults), as `contracts`, `faults` and `governance` once were
    with sqlite3.connect(db_path) as db:
        (text,) = db.execute("SELECT experiment FROM runs WHERE run_id = 'old'").fetchone()
        old = json.loads(text)
        for key in ("contracts", "faults", "governance"):
            del old[key]
        db.execute("UPDATE runs SET experiment = ? WHERE run_id = 'old'", (json.dumps(old),))
    again = palaestra.run(_experiment(), run_id="old", store=db_path)
    assert again.skipped == len(first.episodes)
    with Store(db_path) as store:
        run = store.get_run("old")
        assert run is not None and "contracts" not in run.experiment  # kept as recorded
    # a real difference is still refused
    with pytest.raises(UserError, match="run-id"):
        palaestra.run(_experiment(tasks=2), run_id="old", store=db_path)


SLOW_RUN = textwrap.dedent(
    """
    import asyncio, sys
    from palaestra.core import Action
    from palaestra.runtime import Experiment, Job, PythonOperatorConfig, Concurrency, run
    from tests.runtime.toy_env import register_counter

    register_counter()
    experiment = Experiment(
        name="killed",
        jobs=[Job(env="test.counter", tasks=3, seeds=4,
                  operator=PythonOperatorConfig(factory="tests.runtime.test_resume:Slow"))],
        concurrency=Concurrency(episodes=3),
    )
    from palaestra.store import Store

    with Store(sys.argv[1], flush_interval_s=0.05) as store:
        run(experiment, run_id="k1", store=store)
    """
)


class Slow:
    """Counts to the target slowly, so a kill lands mid-episode."""

    def __init__(self, agent: str = "") -> None:
        pass

    async def act(self, observation, ctx):
        import asyncio

        await asyncio.sleep(0.1)
        if observation.data["counter"] >= 3:
            return palaestra.Action(text="DONE")
        return palaestra.Action(
            tool_calls=[{"id": f"c{ctx.step}", "name": "add", "arguments": {"n": 1}}]
        )


@pytest.mark.slow
def test_resume_after_sigkill(db_path, tmp_path):
    script = tmp_path / "slow_run.py"
    script.write_text(SLOW_RUN)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, str(script), str(db_path)], env=env)
    # wait until a few episodes are finished, then kill without warning
    deadline = time.time() + 60
    finished: set[str] = set()
    while time.time() < deadline:
        time.sleep(0.05)
        if db_path.exists():
            try:
                with Store(db_path) as store:
                    if store.get_run("k1") is not None:
                        finished = store.finished_episode_ids("k1")
            except Exception:
                continue
        if len(finished) >= 4:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 4 <= len(finished) < 12, "the kill must land mid-run"

    with Store(db_path) as store:
        before = {r.episode_id: r.hash for r in store.episodes("k1", status="finished")}
        for episode_id in before:
            events = store.events("k1", episode_id)
            assert events[-1].kind == "episode_end"
    assert len(before) >= 4

    from tests.runtime.toy_env import register_counter

    register_counter()
    experiment = Experiment(
        name="killed",
        jobs=[
            Job(
                env="test.counter",
                tasks=3,
                seeds=4,
                operator={"kind": "python", "factory": "tests.runtime.test_resume:Slow"},
            )
        ],
        concurrency={"episodes": 3},
    )
    result = palaestra.run(experiment, run_id="k1", store=db_path)
    assert result.skipped == len(before)
    assert len(result.episodes) == 12
    assert all(r.status == "finished" and r.outcome == "success" for r in result.episodes)
    after = {r.episode_id: r.hash for r in result.episodes}
    for episode_id, digest in before.items():
        assert after[episode_id] == digest  # finished episodes untouched
    with Store(db_path) as store:
        for row in result.episodes:
            events = store.events("k1", row.episode_id)
            assert [e.seq for e in events] == list(range(row.n_events))  # no duplicates


def test_finished_episodes_reach_the_file_while_a_slow_episode_runs(tmp_path):
    """A finished episode is durable within the flush interval even when nothing else is
    appended (a slow model keeps the other episode silent)."""
    import asyncio
    import threading

    from tests.runtime.toy_env import register_counter

    register_counter()
    release = threading.Event()

    class Waits:
        def __init__(self, agent: str = "") -> None:
            pass

        async def act(self, observation, ctx):
            while not release.is_set():
                await asyncio.sleep(0.02)
            return palaestra.Action(text="DONE")

    import tests.runtime.test_resume as me

    me.Waits = Waits
    experiment = Experiment(
        name="durable",
        jobs=[
            Job(env="test.counter", label="fast", tasks=1),
            Job(
                env="test.counter",
                label="slow",
                tasks=1,
                operator={"kind": "python", "factory": "tests.runtime.test_resume:Waits"},
            ),
        ],
    )
    path = tmp_path / "d.db"
    seen: set[str] = set()

    def watch() -> None:
        deadline = time.time() + 20
        while time.time() < deadline and not seen:
            time.sleep(0.05)
            if path.exists():
                try:
                    with Store(path) as other:
                        if other.get_run("d1") is not None:
                            seen.update(other.finished_episode_ids("d1"))
                except Exception:
                    continue
        release.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    with Store(path, flush_interval_s=0.1) as store:
        palaestra.run(experiment, run_id="d1", store=store)
    watcher.join()
    assert seen == {"fast/t0/0/0"}  # seen by another reader while "slow" still ran
