"""kill -9 at any moment: every episode that reads as finished has all its events.

Three ways of killing with SIGKILL, then reopening the store and checking it (the writer
checkpoints in the background every few events, so kills land during checkpoints too):
- the writing process, at a moment chosen by a timer, while it writes episodes as fast
  as it can (small batches, so a running episode's events reach disk in several
  transactions), with its batches written by the store's writer process or by itself;
- the writing process, systematically, right before *each* SQL statement the store
  executes while writing a few episodes (a trace callback kills the process; batches
  written by the store itself, so that every statement passes the callback), so that no
  gap between two statements (say, between marking an episode finished and writing its
  last events) goes untested;
- the store's writer process, while the store goes on: what it had not committed is
  written again by the next one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import pytest

from palaestra.core import StoreError
from palaestra.store import Store
from tests.store.store_builders import episode_events, episode_row, summary_for

REPO = str(Path(__file__).parents[2])

WRITER = """
import os, signal, sys
sys.path.insert(0, sys.argv[1])
from tests.store.store_builders import episode_events, episode_row, summary_for
from palaestra.store import Store
import palaestra.store._sqlite as _sqlite

_sqlite._CHECKPOINT_ROWS = 8  # background checkpoints run all along: a kill may hit one


def write(path, episodes, kill_at=0, writer_process=False):
    store = Store(path, batch_size=4, writer_process=writer_process)
    executed = 0

    def trace(statement):
        nonlocal executed
        executed += 1
        if executed == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    store._conn.set_trace_callback(trace)
    store.create_run("r", experiment={}, seed=0)
    for i in range(episodes):
        events = episode_events(f"ep{i}", steps=1 + i % 3)
        store.start_episode("r", episode_row(f"ep{i}"))
        if i % 2:  # event by event, as the runner appends
            for event in events:
                store.append("r", [event])
        else:
            store.append("r", events)
        store.finish_episode("r", summary_for(events))
        if i == 5:
            store.flush()  # finishes are batched: make the first six durable, then signal
            print("ready", flush=True)
    store.close()
    return executed


mode, root = sys.argv[2], sys.argv[3]
if mode.startswith("timed"):
    write(os.path.join(root, "store.db"), 10**6, writer_process=mode == "timed-process")
else:  # sweep: one forked writer killed before statement k, for every k of a full write
    total = write(os.path.join(root, "full.db"), 4)
    for k in range(1, total + 1):
        pid = os.fork()
        if pid == 0:
            write(os.path.join(root, f"k{k}.db"), 4, kill_at=k)
            os._exit(3)  # not reached: the writer was killed
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    print(total, flush=True)
"""


def _steps(episode_id: str) -> int:
    return 1 + int(episode_id.removeprefix("ep")) % 3


def _check_store(path: Path) -> tuple[int, int]:
    """Every finished episode is complete; the cut-off one restarts cleanly.

    Returns (finished, running) episode counts."""
    with Store(path) as store:
        if store.get_run("r") is None:  # killed before the run was created
            return 0, 0
        finished = store.episodes("r", status="finished")
        for row in finished:
            expected = episode_events(row.episode_id, steps=_steps(row.episode_id))
            assert row.n_events == len(expected), row
            assert store.events("r", row.episode_id) == expected, row.episode_id
        running = store.episodes("r", status="running")
        assert len(running) <= 1
        for row in running:
            events = episode_events(row.episode_id, steps=_steps(row.episode_id))
            assert len(store.events("r", row.episode_id)) <= len(events)
            store.start_episode("r", episode_row(row.episode_id))
            assert store.events("r", row.episode_id) == []
            store.append("r", events)
            store.finish_episode("r", summary_for(events))
            assert store.events("r", row.episode_id) == events
        return len(finished), len(running)


@pytest.mark.parametrize("writer", ["process", "inline"])
@pytest.mark.parametrize("delay_s", [0.0, 0.07, 0.23])
def test_finished_episodes_survive_kill_9_at_a_random_moment(
    tmp_path: Path, delay_s: float, writer: str
) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, REPO, f"timed-{writer}", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stderr is not None
        line = child.stdout.readline()
        assert line.strip() == "ready", child.stderr.read()
        time.sleep(delay_s)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    assert child.returncode == -signal.SIGKILL
    finished, _ = _check_store(tmp_path / "store.db")
    assert finished >= 6


@pytest.mark.slow
@pytest.mark.timeout(180)  # one killed writer process per SQL statement
def test_finished_episodes_survive_kill_9_before_every_statement(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WRITER, REPO, "sweep", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    total = int(result.stdout.strip())
    assert total > 40  # the sweep covered real work: 4 episodes, several flushes each
    assert _check_store(tmp_path / "full.db") == (4, 0)
    outcomes = [_check_store(tmp_path / f"k{k}.db") for k in range(1, total + 1)]
    finished_counts = [finished for finished, _ in outcomes]
    assert finished_counts == sorted(finished_counts)  # later kills never lose episodes
    # kills fell inside every episode (and, after the last commit, into the release of
    # the run's lease at close: those find all four finished)
    assert {0, 1, 2, 3} <= set(finished_counts) <= {0, 1, 2, 3, 4}
    assert any(running for _, running in outcomes)


def test_a_killed_writer_process_loses_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "store.db", batch_size=8)
    store.create_run("r", experiment={}, seed=0)
    written: list[list] = []
    errors: list[str] = []
    for i in range(12):
        events = episode_events(f"ep{i}", steps=1 + i % 3)
        written.append(events)
        store.start_episode("r", episode_row(f"ep{i}"))
        for attempt in (partial(store.append, "r", events), store.flush):
            try:  # an append keeps its rows even when the writer's failure is reported
                attempt()
            except StoreError as exc:
                errors.append(str(exc))
        store.finish_episode("r", summary_for(events))
        if i % 4 == 1:  # the writer is idle here (the flush waited for it)
            assert store._writer is not None
            os.kill(store._writer.pid, signal.SIGKILL)
            store._writer._proc.wait()
    store.flush()
    assert len(errors) == 3, errors  # each kill is reported once, at the next write
    assert all("the writer process exited with code -9" in e for e in errors), errors
    assert store.finished_episode_ids("r") == {f"ep{i}" for i in range(12)}
    for events in written:
        assert store.events("r", events[0].episode_id) == events
    store.close()
