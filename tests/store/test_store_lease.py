"""Run leases: one store object writes a run at a time; a dead holder is taken over; a
holder that lost its lease writes nothing more; version 2 stores are migrated."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from palaestra.core import StoreError, UserError
from palaestra.store import STORE_SCHEMA_VERSION, Store, _lease
from palaestra.store._health import CHECKED_KEY
from tests.store.store_builders import episode_events, episode_row, summary_for


def _write_episode(store: Store, run_id: str, episode_id: str) -> list:
    events = episode_events(episode_id)
    store.start_episode(run_id, episode_row(episode_id))
    store.append(run_id, events)
    store.finish_episode(run_id, summary_for(events))
    return events


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _plant_lease(path: Path, run_id: str, *, pid: int, host: str, heartbeat_at: float) -> None:
    db = sqlite3.connect(path)
    db.execute(
        "INSERT OR REPLACE INTO leases VALUES (?, ?, ?, ?, ?, ?, ?)",
        (run_id, pid, host, "", "planted", heartbeat_at - 5, heartbeat_at),
    )
    db.commit()
    db.close()


def test_a_second_store_cannot_write_a_run_another_one_writes(
    make_store: Callable[..., Store],
) -> None:
    first = make_store()
    first.create_run("r", experiment={}, seed=0)
    done = _write_episode(first, "r", "e0")
    first.start_episode("r", episode_row("e1"))
    partial = episode_events("e1")[:4]
    first.append("r", partial)
    first.flush()

    second = make_store()
    with pytest.raises(UserError) as caught:
        second.start_episode("r", episode_row("e1"))  # would drop e1's events
    message = str(caught.value)
    assert f"run 'r' is being written by pid {os.getpid()} on {_lease.HOST} since" in message
    assert "heartbeat" in message and "--run-id" in message
    with pytest.raises(UserError, match="is being written by"):
        second.set_run_status("r", "finished")
    with pytest.raises(UserError, match="is being written by"):
        second.lease_run("r")
    # nothing was touched: the first goes on as if alone
    assert second.events("r", "e1") == partial
    first.append("r", episode_events("e1")[4:])
    first.finish_episode("r", summary_for(episode_events("e1")))
    first.set_run_status("r", "finished")
    assert second.events("r", "e0") == done
    assert second.events("r", "e1") == episode_events("e1")
    assert second.get_run("r").status == "finished"  # type: ignore[union-attr]


def test_the_lease_is_released_at_close_and_by_release_run(
    make_store: Callable[..., Store],
) -> None:
    first = make_store()
    first.create_run("r", experiment={}, seed=0)
    _write_episode(first, "r", "e0")
    lease = first.run_lease("r")
    assert lease is not None and lease.pid == os.getpid() and lease.alive()
    first.release_run("r")
    assert first.run_lease("r") is None
    second = make_store()
    _write_episode(second, "r", "e1")  # takes it
    second.close()
    assert first.run_lease("r") is None
    _write_episode(first, "r", "e2")  # and back
    assert first.finished_episode_ids("r") == {"e0", "e1", "e2"}


def test_a_dead_holders_lease_is_taken_over_after_a_check_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with Store(path) as store:
        store.create_run("r", experiment={}, seed=0)
    dead = _dead_pid()
    _plant_lease(path, "r", pid=dead, host=_lease.HOST, heartbeat_at=time.time())
    with Store(path) as store:  # not closed cleanly: checked on open, and noted
        lease = store.run_lease("r")
        assert lease is not None and lease.pid == dead and not lease.alive()
        assert store._conn is not None
        checked = store._conn.execute(
            "SELECT value FROM meta WHERE key = ?", (CHECKED_KEY,)
        ).fetchone()
        assert checked == ("planted",)
        _write_episode(store, "r", "e0")
        taken = store.run_lease("r")
        assert taken is not None and taken.pid == os.getpid() and taken.token != "planted"


def test_a_reused_pid_is_not_the_holder(tmp_path: Path) -> None:
    """A lease naming a live pid whose process started at another time (a pid reused
    after the holder died) is taken over."""
    path = tmp_path / "store.db"
    with Store(path) as store:
        store.create_run("r", experiment={}, seed=0)
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO leases VALUES ('r', ?, ?, '1', 'old', 0, ?)",
        (os.getpid(), _lease.HOST, time.time()),
    )
    db.commit()
    db.close()
    if not _lease.process_start(os.getpid()):
        pytest.skip("no /proc: process start times cannot be read here")
    with Store(path) as store:
        store.lease_run("r")  # a live holder would raise here
        db = sqlite3.connect(path)
        held = db.execute("SELECT pid, proc_start, token FROM leases WHERE run_id = 'r'").fetchone()
        db.close()
    assert held[0] == os.getpid()
    assert held[1] == _lease.process_start(os.getpid()) and held[2] != "old"


def test_a_lease_of_another_host_is_taken_over_once_its_heartbeat_is_stale(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    with Store(path) as store:
        store.create_run("r", experiment={}, seed=0)
    _plant_lease(path, "r", pid=1, host="elsewhere", heartbeat_at=time.time())
    with Store(path) as store, pytest.raises(UserError, match="pid 1 on elsewhere"):
        store.lease_run("r")
    _plant_lease(
        path, "r", pid=1, host="elsewhere", heartbeat_at=time.time() - _lease.STALE_AFTER_S - 1
    )
    with Store(path) as store:
        store.lease_run("r")
        lease = store.run_lease("r")
        assert lease is not None and lease.host == _lease.HOST


@pytest.mark.parametrize("writer_process", [False, True])
def test_a_store_that_lost_its_lease_writes_nothing_more(
    make_store: Callable[..., Store], writer_process: bool
) -> None:
    store = make_store(batch_size=8, writer_process=writer_process)
    store.create_run("r", experiment={}, seed=0)
    done = _write_episode(store, "r", "e0")
    store.flush()
    # another process took the run over (its holder looked dead to it)
    _plant_lease(store.path, "r", pid=1, host="elsewhere", heartbeat_at=time.time())
    events = episode_events("e1", steps=4)
    store.start_episode("r", episode_row("e1"))
    with pytest.raises(StoreError, match="no longer holds the lease of run 'r'"):
        store.append("r", events)  # a full batch: written at once, refused
        store.flush()
    with Store(store.path) as reader:
        assert reader.events("r", "e0") == done
        assert reader.events("r", "e1") == []
        assert reader.finished_episode_ids("r") == {"e0"}
    with pytest.raises(StoreError, match="no longer holds the lease"):
        store.close()  # what it could not write is reported, and the file is closed
    assert store._conn is None


def test_heartbeats_refresh_the_leases_of_a_store(tmp_path: Path) -> None:
    with Store(tmp_path / "store.db") as store:
        store.create_run("r", experiment={}, seed=0)
        store.lease_run("r")
        first = store.run_lease("r")
        beat = _lease.Heartbeat(store.path, store._token, interval_s=0.01)
        try:
            deadline = time.monotonic() + 30
            while beat.beats < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            beat.stop()
        later = store.run_lease("r")
        assert first is not None and later is not None
        assert beat.beats >= 2 and later.heartbeat_at > first.heartbeat_at


_V2_DDL = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, name TEXT NOT NULL, seed INTEGER NOT NULL,
    experiment TEXT NOT NULL, status TEXT NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL);
"""


def test_a_version_2_store_is_migrated_when_opened(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with Store(path) as store:  # a store of today, taken back to version 2's layout
        store.create_run("r", experiment={"a": 1}, seed=3)
        events = _write_episode(store, "r", "e0")
    db = sqlite3.connect(path)
    db.executescript(
        "DROP TABLE leases; ALTER TABLE runs DROP COLUMN reason; "
        "UPDATE meta SET value = '2' WHERE key = 'store_schema_version';"
    )
    db.close()
    with Store(path) as store:
        run = store.get_run("r")
        assert run is not None and run.seed == 3 and run.reason is None
        assert store.events("r", "e0") == events
        store.set_run_status("r", "failed", reason="disk full")
        assert store.get_run("r").reason == "disk full"  # type: ignore[union-attr]
    db = sqlite3.connect(path)
    version = db.execute("SELECT value FROM meta WHERE key = 'store_schema_version'").fetchone()
    assert version == (str(STORE_SCHEMA_VERSION),) == ("3",)
    assert db.execute("SELECT COUNT(*) FROM leases").fetchone() == (0,)
    db.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_writer_names_its_own_process(tmp_path: Path) -> None:
    """A lease taken in a forked child records the child's start time, so that its
    live writer is not mistaken for a dead one (the parent's start time would not match
    the child's pid)."""
    path = tmp_path / "store.db"
    with Store(path) as store:
        store.create_run("r", experiment={}, seed=0)
    ready_read, ready_write = os.pipe()  # child -> parent: the lease is taken
    done_read, done_write = os.pipe()  # parent -> child: the test is over
    pid = os.fork()
    if pid == 0:  # the child: take the lease, say so, wait for the parent's word
        try:
            child = Store(path, writer_process=False)
            child.lease_run("r")
            os.write(ready_write, b"1")
            os.read(done_read, 1)
        finally:
            os._exit(0)
    try:
        assert os.read(ready_read, 1) == b"1"
        with Store(path) as store:
            lease = store.run_lease("r")
            assert lease is not None and lease.pid == pid and lease.alive()
            with pytest.raises(UserError, match=f"pid {pid} on"):
                store.lease_run("r")
    finally:
        os.write(done_write, b"1")
        os.waitpid(pid, 0)
        for fd in (ready_read, ready_write, done_read, done_write):
            os.close(fd)
