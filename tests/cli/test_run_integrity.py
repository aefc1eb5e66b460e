"""One writer per run, with real processes: a second `palaestra run --run-id X` while the
first is live stops with an error naming the first and changes nothing; a writer killed
with SIGKILL leaves a lease that the next `palaestra run` takes over, resuming the run.

The first process runs episodes that wait for a gate file (episodes of seed 0 go
freely), so the second one always meets a live run with finished and running episodes,
whatever the machine's speed: no timing decides the outcome.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import palaestra
from palaestra.cli import main
from palaestra.core import Event
from palaestra.store import Store

REPO = Path(__file__).parents[2]
RUN_ID = "shared"

EXPERIMENT = textwrap.dedent(
    """
    name: gated
    seed: 0
    concurrency: {episodes: 9}
    jobs:
      - env: test.counter
        tasks: 3
        seeds: 3
        operator: {kind: python, factory: "tests.cli.test_run_integrity:Gated"}
    """
)

CLI = textwrap.dedent(
    """
    import sys
    from tests.runtime.toy_env import register_counter
    from palaestra.cli import main

    register_counter()
    sys.exit(main(sys.argv[1:]))
    """
)

WRITER = textwrap.dedent(
    """
    import sys
    from tests.runtime.toy_env import register_counter
    from palaestra.runtime import run
    from palaestra.store import Store

    register_counter()
    # small batches: the store's writer process writes them, under the run's lease
    with Store(sys.argv[2], batch_size=8, flush_interval_s=0.05) as store:
        run(sys.argv[1], run_id=sys.argv[3], store=store)
    """
)


class Gated:
    """Counts to the target; in episodes of seed > 0, past the first step only once the
    gate file exists (their first step's events are written meanwhile)."""

    def __init__(self, agent: str = "") -> None:
        self.gate = Path(os.environ["PALAESTRA_TEST_GATE"])

    async def act(self, observation, ctx):
        import asyncio

        if not ctx.episode_id.endswith("/0/0") and observation.data["counter"] >= 1:
            while not self.gate.exists():  # seed > 0: after a first step, wait for the test
                await asyncio.sleep(0.02)
        if observation.data["counter"] >= 3:
            return palaestra.Action(text="DONE")
        return palaestra.Action(
            tool_calls=[{"id": f"c{ctx.step}", "name": "add", "arguments": {"n": 1}}]
        )


def _env(gate: Path) -> dict[str, str]:
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "PALAESTRA_TEST_GATE": str(gate)}


def _snapshot(db: Path) -> dict[str, list[Event]]:
    """Every episode's stored events, read with plain SQLite (no lease, no store)."""
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT ep.episode_id, ev.json FROM events AS ev JOIN episodes AS ep "
            "ON ev.episode = ep.id ORDER BY ep.id, ev.seq"
        ).fetchall()
    finally:
        conn.close()
    found: dict[str, list[Event]] = {}
    for episode_id, text in rows:
        found.setdefault(episode_id, []).append(Event.from_json(text))
    return found


def _wait_until(predicate, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.05)


def _finished(db: Path) -> set[str]:
    import sqlite3

    if not db.exists():
        return set()
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT episode_id FROM episodes WHERE status = 'finished'")
        return {episode_id for (episode_id,) in rows.fetchall()}
    except sqlite3.OperationalError:  # not created yet
        return set()
    finally:
        conn.close()


def _check_complete(db: Path, episodes: int) -> None:
    """The run is finished and every episode holds all its events, once each."""
    with Store(db) as store:
        run = store.get_run(RUN_ID)
        assert run is not None and run.status == "finished", run
        rows = store.episodes(RUN_ID)
        assert len(rows) == episodes
        for row in rows:
            events = store.events(RUN_ID, row.episode_id)
            assert row.status == "finished" and row.outcome == "success", row
            assert [e.seq for e in events] == list(range(row.n_events)), row.episode_id
            assert events[0].kind == "episode_start" and events[-1].kind == "episode_end"
        assert store.run_lease(RUN_ID) is None  # released at the end


@pytest.mark.slow
@pytest.mark.parametrize("first_writer", ["cli", "writer-process"])
def test_a_second_writer_of_a_live_run_is_refused_and_touches_nothing(
    tmp_path: Path, first_writer: str
) -> None:
    experiment, db, gate = tmp_path / "gated.yaml", tmp_path / "runs.db", tmp_path / "gate"
    experiment.write_text(EXPERIMENT)
    cli, writer = tmp_path / "cli.py", tmp_path / "writer.py"
    cli.write_text(CLI)
    writer.write_text(WRITER)
    command = (
        [sys.executable, str(cli), "run", str(experiment), "--store", str(db)]
        + ["--run-id", RUN_ID, "--quiet"]
        if first_writer == "cli"
        else [sys.executable, str(writer), str(experiment), str(db), RUN_ID]
    )
    first = subprocess.Popen(
        command, env=_env(gate), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        # seed 0 episodes finish; the others start, write events and wait for the gate
        _wait_until(lambda: len(_finished(db)) >= 3, "the first run's free episodes")
        _wait_until(lambda: len(_snapshot(db)) >= 4, "events of a gated episode")
        before = _snapshot(db)
        second = subprocess.run(
            [sys.executable, str(cli), "run", str(experiment), "--store", str(db)]
            + ["--run-id", RUN_ID, "--quiet"],
            env=_env(gate),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 2, second.stderr
        message = second.stderr.strip()
        assert message.startswith("error: run 'shared' is being written by pid")
        assert f"pid {first.pid} on " in message and "heartbeat" in message, message
        assert "Traceback" not in second.stderr
        after = _snapshot(db)
        for episode_id, events in before.items():  # nothing deleted, nothing rewritten
            assert after[episode_id][: len(events)] == events, episode_id
        gate.touch()
        out, err = first.communicate(timeout=120)
    finally:
        gate.touch()
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err.decode()
    _check_complete(db, episodes=9)


@pytest.mark.slow
def test_a_killed_writer_leaves_a_lease_the_resume_takes_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    experiment, db, gate = tmp_path / "gated.yaml", tmp_path / "runs.db", tmp_path / "gate"
    experiment.write_text(EXPERIMENT)
    writer, cli = tmp_path / "writer.py", tmp_path / "cli.py"
    writer.write_text(WRITER)
    cli.write_text(CLI)
    first = subprocess.Popen(
        [sys.executable, str(writer), str(experiment), str(db), RUN_ID], env=_env(gate)
    )
    try:
        _wait_until(lambda: len(_finished(db)) >= 3, "the first run's free episodes")
        _wait_until(lambda: len(_snapshot(db)) >= 4, "events of a gated episode")
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    finished_before = {
        episode_id: events
        for episode_id, events in _snapshot(db).items()
        if episode_id in _finished(db)
    }
    with Store(db) as store:  # the dead writer's lease is still there, and says who
        lease = store.run_lease(RUN_ID)
        assert lease is not None and lease.pid == first.pid and not lease.alive()
        run = store.get_run(RUN_ID)
        assert run is not None and run.status == "running"
    assert main(["runs", "--store", str(db)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"{RUN_ID}  running ")
    assert line.endswith("(no live writer: resume it with the same --run-id)"), line
    gate.touch()
    resumed = subprocess.run(
        [sys.executable, str(cli), "run", str(experiment), "--store", str(db)]
        + ["--run-id", RUN_ID, "--quiet"],
        env=_env(gate),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"({len(finished_before)} episodes were already finished)" in resumed.stdout
    _check_complete(db, episodes=9)
    after = _snapshot(db)
    for episode_id, events in finished_before.items():  # finished episodes untouched
        assert after[episode_id] == events


@pytest.mark.parametrize("value", ["0", "-2", "two"])
def test_concurrency_below_one_is_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    db = tmp_path / "runs.db"
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "run",
                str(REPO / "examples" / "graph.yaml"),
                "--store",
                str(db),
                "--concurrency",
                value,
            ]
        )
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"--concurrency: expected a whole number of at least 1, got {value!r}" in err
    assert not db.exists()  # no run was created, let alone marked finished


@pytest.mark.parametrize("value", [0, -1, True, 1.5])
def test_the_runner_refuses_concurrency_below_one(tmp_path: Path, value: object) -> None:
    from palaestra.core import UserError

    with pytest.raises(UserError, match="concurrency must be a whole number of episodes"):
        palaestra.run(
            REPO / "examples" / "graph.yaml", store=tmp_path / "runs.db", concurrency=value
        )  # type: ignore[arg-type]
    assert not (tmp_path / "runs.db").exists()


class Interrupts:
    """Presses Ctrl-C (raises KeyboardInterrupt) in the second step of its episode."""

    def __init__(self, agent: str = "") -> None:
        pass

    async def act(self, observation, ctx):
        if observation.data["counter"] >= 1:
            raise KeyboardInterrupt
        return palaestra.Action(tool_calls=[{"id": "c0", "name": "add", "arguments": {"n": 1}}])


def test_a_run_stopped_by_ctrl_c_is_marked_interrupted_with_the_reason(tmp_path: Path) -> None:
    """(A run stopped by an error is marked failed: tests/store/test_store_full.py.)"""
    from palaestra.runtime import Experiment, Job
    from tests.runtime.toy_env import register_counter

    register_counter()
    db = tmp_path / "runs.db"
    factory = "tests.cli.test_run_integrity:Interrupts"
    ctrl_c = Experiment(
        name="ctrl-c",
        jobs=[Job(env="test.counter", operator={"kind": "python", "factory": factory})],
    )
    with pytest.raises(KeyboardInterrupt):
        palaestra.run(ctrl_c, run_id="c", store=db)
    failing = Experiment(
        name="bad", jobs=[Job(env="test.counter", params={"fail_at_step": 0}, tasks=1)]
    )
    palaestra.run(failing, run_id="ok-with-error-episode", store=db)  # an episode's error
    with Store(db) as store:
        run = store.get_run("c")
        assert run is not None and (run.status, run.reason) == (
            "interrupted",
            "interrupted (Ctrl-C, or the run's task was cancelled)",  # as asyncio.run has it
        )
        assert store.run_lease("c") is None  # given back on the way out
        run = store.get_run("ok-with-error-episode")  # is not the run's failure
        assert run is not None and run.status == "finished" and run.reason is None
