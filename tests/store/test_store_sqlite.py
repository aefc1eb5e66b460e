"""The SQLite store: runs, episodes, events, batching and finish atomicity."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import palaestra.store
from palaestra.core import Action, ActionEvent, StoreError, UserError, make_event
from palaestra.store import EpisodeSummary, Store
from tests.store.store_builders import episode_events, episode_row, summary_for, write_episode


def _rows_on_disk(path: Path, episode_id: str | None = None) -> int:
    """Events another connection sees (what is committed, not what is buffered)."""
    db = sqlite3.connect(path)
    try:
        if episode_id is None:
            return db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        query = (
            "SELECT COUNT(*) FROM events JOIN episodes ON events.episode = episodes.id "
            "WHERE episodes.episode_id = ?"
        )
        return db.execute(query, (episode_id,)).fetchone()[0]
    finally:
        db.close()


def test_public_names() -> None:
    public = {name for name in dir(palaestra.store) if not name.startswith("_")}
    assert set(palaestra.store.__all__) == public


def test_creates_parent_dirs_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "store.db"
    with Store(path):
        pass
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    db.close()
    assert {"meta", "runs", "episodes", "events"} <= tables


def test_create_run_resume_and_conflict(store: Store) -> None:
    experiment = {"env": "graph.coloring", "episodes": 4, "model": {"temperature": 0.5}}
    assert store.create_run("r1", experiment=experiment, seed=3, name="demo") is True
    assert store.create_run("r1", experiment=dict(experiment), seed=3) is False
    with pytest.raises(
        UserError, match=r"'r1' already exists.*differs in episodes; use a new --run-id"
    ):
        store.create_run("r1", experiment={**experiment, "episodes": 5}, seed=3)
    with pytest.raises(UserError, match="its seed is 3, not 4"):
        store.create_run("r1", experiment=experiment, seed=4)
    run = store.get_run("r1")
    assert run is not None
    assert (run.name, run.seed, run.experiment, run.status) == ("demo", 3, experiment, "running")
    assert store.get_run("nope") is None


def test_list_runs_newest_first_and_status(store: Store) -> None:
    for run_id in ("a", "b", "c"):
        store.create_run(run_id, experiment={}, seed=0)
    assert [r.run_id for r in store.list_runs()] == ["c", "b", "a"]
    store.set_run_status("b", "interrupted")
    run = store.get_run("b")
    assert run is not None and run.status == "interrupted" and run.updated_at >= run.created_at
    with pytest.raises(StoreError, match="valid choices: running, finished, failed"):
        store.set_run_status("b", "paused")
    with pytest.raises(StoreError, match="no run 'zzz'"):
        store.set_run_status("zzz", "finished")


def test_resolve_run(store: Store) -> None:
    with pytest.raises(UserError, match="no runs in store"):
        store.resolve_run("last")
    for run_id in ("2024-abc", "2024-abd", "2025-x"):
        store.create_run(run_id, experiment={}, seed=0)
    assert store.resolve_run("last").run_id == "2025-x"
    assert store.resolve_run("2024-abc").run_id == "2024-abc"
    assert store.resolve_run("2025").run_id == "2025-x"
    with pytest.raises(UserError, match="ambiguous.*runs 2024-abd, 2024-abc all begin with it"):
        store.resolve_run("2024-ab")
    with pytest.raises(UserError, match="no run 'nope'.*'last'.*2025-x, 2024-abd, 2024-abc"):
        store.resolve_run("nope")


def test_events_round_trip_and_order(store: Store) -> None:
    store.create_run("r", experiment={}, seed=0)
    first, second = episode_events("ep-b"), episode_events("ep-a", steps=2)
    store.start_episode("r", episode_row("ep-b"))
    store.start_episode("r", episode_row("ep-a"))
    for a, b in zip(first, second, strict=False):  # interleaved, as concurrent episodes are
        store.append("r", [a])
        store.append("r", [b])
    store.append("r", first[len(second) :])
    store.finish_episode("r", summary_for(first))
    store.finish_episode("r", summary_for(second, steps=2))
    assert store.events("r", "ep-b") == first
    assert store.events("r", "ep-a") == second
    assert list(store.iter_events("r")) == first + second  # episodes in start order
    assert store.events("r", "missing") == []


def test_event_is_serialised_when_appended(store: Store) -> None:
    store.create_run("r", experiment={}, seed=0)
    store.start_episode("r", episode_row("e"))
    event = make_event("e", 0, 0, "a", ActionEvent(action=Action(text="before")))
    store.append("r", [event])
    event.payload.action.text = "after"  # type: ignore[attr-defined]
    assert store.events("r", "e")[0].payload.action.text == "before"  # type: ignore[attr-defined]


@pytest.mark.parametrize("writer_process", [True, False])
def test_batches_reach_disk_every_batch_size_events(
    make_store: Callable[..., Store], writer_process: bool
) -> None:
    store = make_store(batch_size=10, writer_process=writer_process)
    store.create_run("r", experiment={}, seed=0)
    store.start_episode("r", episode_row("e"))
    events = episode_events("e", steps=5)  # 28 events
    store.append("r", events[:9])
    store.wait_for_writer()
    assert _rows_on_disk(store.path) == 0
    store.append("r", events[9:25])
    store.wait_for_writer()
    assert _rows_on_disk(store.path) == 20
    store.flush()
    assert _rows_on_disk(store.path) == 25
    store.append("r", events[25:])
    store.finish_episode("r", summary_for(events))
    store.flush()
    assert _rows_on_disk(store.path) == 28


def test_unfinished_episode_is_not_finished(make_store: Callable[..., Store]) -> None:
    store = make_store(batch_size=4)
    store.create_run("r", experiment={}, seed=0)
    done, partial = episode_events("done"), episode_events("partial")
    write_episode(store, "r", done)
    store.start_episode("r", episode_row("partial"))
    store.append("r", partial[:10])
    store.flush()
    assert store.finished_episode_ids("r") == {"done"}
    assert [e.episode_id for e in store.episodes("r", status="running")] == ["partial"]
    assert _rows_on_disk(store.path, "partial") == 10

    store.close()  # as after a crash: reopen, restart the unfinished episode
    reopened = make_store(batch_size=4)
    assert reopened.finished_episode_ids("r") == {"done"}
    with pytest.raises(StoreError, match="not running in this store"):
        reopened.append("r", partial[10:11])  # a new process must start_episode again
    reopened.start_episode("r", episode_row("partial"))
    assert reopened.events("r", "partial") == []
    reopened.append("r", partial)
    reopened.finish_episode("r", summary_for(partial))
    assert reopened.events("r", "partial") == partial
    assert reopened.finished_episode_ids("r") == {"done", "partial"}


def test_restart_in_same_process_drops_buffered_events(store: Store) -> None:
    store.create_run("r", experiment={}, seed=0)
    events = episode_events("e")
    store.start_episode("r", episode_row("e"))
    store.append("r", events[:5])  # still buffered
    store.start_episode("r", episode_row("e"))
    store.append("r", events)
    store.finish_episode("r", summary_for(events))
    assert store.events("r", "e") == events


def test_stale_buffers_go_to_the_writer_process_once_it_runs(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(flush_interval_s=0.05, batch_size=18)
    store.create_run("r", experiment={}, seed=0)
    first = episode_events("a")  # 18 events: a full batch, handed to the writer process
    write_episode(store, "r", first)
    store.wait_for_writer()
    assert store._writer is not None
    assert _rows_on_disk(store.path) == len(first)
    time.sleep(0.06)
    second = episode_events("b", steps=1)  # fewer: written because the buffer is stale
    write_episode(store, "r", second)
    store.wait_for_writer()
    assert _rows_on_disk(store.path) == len(first) + len(second)
    with Store(store.path) as other:
        assert other.finished_episode_ids("r") == {"a"}  # b's finish is still buffered
    store.flush()
    assert store.finished_episode_ids("r") == {"a", "b"}


def test_finish_writes_events_and_row_together(store: Store) -> None:
    store.create_run("r", experiment={}, seed=0)
    events = episode_events("e")
    store.start_episode("r", episode_row("e", seed=11))
    store.append("r", events)
    assert _rows_on_disk(store.path) == 0  # buffered until the finish
    store.finish_episode("r", summary_for(events, outcome="failure", success=False, score=0.25))
    # the finish marker is batched too: written after the events, in their transaction
    assert _rows_on_disk(store.path) == 0
    store.flush()
    assert _rows_on_disk(store.path) == len(events)
    (row,) = store.episodes("r")
    assert row.status == "finished" and row.finished_at is not None
    assert (row.outcome, row.reason, row.score, row.success) == ("failure", "done", 0.25, False)
    assert (row.n_events, row.seed, row.agents, row.hash) == (len(events), 11, ["n0"], "abc")
    assert row.started_at is not None and row.started_at <= row.finished_at


def test_finish_fills_or_checks_event_count(store: Store) -> None:
    store.create_run("r", experiment={}, seed=0)
    events = episode_events("e")
    store.start_episode("r", episode_row("e"))
    store.append("r", events)
    with pytest.raises(StoreError, match="reports 99 events but the store received 18"):
        store.finish_episode("r", summary_for(events, n_events=99))
    assert store.finished_episode_ids("r") == set()
    store.finish_episode("r", summary_for(events, n_events=None))
    assert store.episodes("r")[0].n_events == len(events)


def test_refusals(store: Store) -> None:
    events = episode_events("e")
    with pytest.raises(StoreError, match="no run 'r'.*create_run"):
        store.start_episode("r", episode_row("e"))
    store.create_run("r", experiment={}, seed=0)
    with pytest.raises(StoreError, match="call start_episode first"):
        store.append("r", events[:1])
    store.start_episode("r", episode_row("e"))
    with pytest.raises(StoreError, match="expected seq 0, got 1"):
        store.append("r", events[1:2])
    store.append("r", events)
    store.finish_episode("r", summary_for(events))
    with pytest.raises(UserError, match="already finished"):
        store.start_episode("r", episode_row("e"))
    with pytest.raises(StoreError, match="not running"):
        store.append("r", [events[0].model_copy(update={"seq": len(events)})])
    with pytest.raises(StoreError, match="not running"):
        store.finish_episode("r", summary_for(events))
    with pytest.raises(StoreError, match="valid choices"):
        store.episodes("r", status="done")


def test_a_gap_inside_one_append_keeps_the_rows_before_it(store: Store) -> None:
    store.create_run("r", experiment={}, seed=0)
    store.start_episode("r", episode_row("e"))
    events = episode_events("e")
    with pytest.raises(StoreError, match="expected seq 3, got 4"):
        store.append("r", events[:3] + events[4:6])
    store.append("r", events[3:])  # the three before the gap were kept
    store.finish_episode("r", summary_for(events))
    assert store.events("r", "e") == events


def test_one_append_may_mix_episodes(make_store: Callable[..., Store]) -> None:
    store = make_store(batch_size=5)
    store.create_run("r", experiment={}, seed=0)
    a, b = episode_events("a"), episode_events("b")
    store.start_episode("r", episode_row("a"))
    store.start_episode("r", episode_row("b"))
    interleaved = [e for pair in zip(a, b, strict=False) for e in pair]
    store.append("r", interleaved + a[len(b) :] + b[len(a) :])
    for events in (a, b):
        store.finish_episode("r", summary_for(events))
    assert store.events("r", "a") == a
    assert store.events("r", "b") == b
    assert _rows_on_disk(store.path) == len(a) + len(b)


def test_closed_store_refuses(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.list_runs()


def test_run_summary(store: Store) -> None:
    store.create_run("r", experiment={}, seed=0, name="demo")
    ok, bad, err = episode_events("ok"), episode_events("bad"), episode_events("err")
    store.start_episode("r", episode_row("ok", env="graph.coloring"))
    store.append("r", ok)
    store.finish_episode("r", summary_for(ok, score=1.0, steps=3, input_tokens=30, wall_s=1.0))
    store.start_episode("r", episode_row("bad", env="graph.coloring"))
    store.append("r", bad)
    store.finish_episode(
        "r", summary_for(bad, outcome="failure", score=0.0, steps=5, input_tokens=50, wall_s=2.0)
    )
    store.start_episode("r", episode_row("err", env="tooluse.retail"))
    store.append("r", err)
    store.finish_episode(
        "r",
        summary_for(
            err,
            outcome="error",
            reason="error",
            score=None,
            success=None,
            steps=1,
            input_tokens=0,
            output_tokens=0,
            wall_s=3.0,
            error="boom",
        ),
    )
    store.start_episode("r", episode_row("running", env="tooluse.retail"))
    store.append("r", episode_events("running")[:4])

    summary = store.run_summary("r")
    n = len(ok)
    assert summary["run_id"] == "r" and summary["name"] == "demo"
    assert summary["episodes"] == 4
    assert summary["by_status"] == {"running": 1, "finished": 3}
    assert summary["by_outcome"] == {"success": 1, "failure": 1, "error": 1}
    assert summary["success_rate"] == pytest.approx(1 / 3)
    assert summary["mean_score"] == pytest.approx(0.5)  # the errored episode has no score
    assert summary["mean_steps"] == pytest.approx(3.0)
    assert summary["events"] == 3 * n + 4
    assert (summary["input_tokens"], summary["output_tokens"]) == (80, 6)
    assert summary["total_tokens"] == 86
    assert summary["wall_s"] == pytest.approx(6.0)

    graph, tooluse = summary["per_env"]["graph.coloring"], summary["per_env"]["tooluse.retail"]
    assert graph["success_rate"] == 0.5 and graph["mean_steps"] == 4.0 and graph["events"] == 2 * n
    assert tooluse["by_status"] == {"running": 1, "finished": 1}
    assert tooluse["mean_score"] is None and tooluse["events"] == n + 4
    with pytest.raises(StoreError, match="no run 'x'"):
        store.run_summary("x")


def test_summary_of_empty_run(store: Store) -> None:
    store.create_run("r", experiment={}, seed=0)
    summary = store.run_summary("r")
    assert summary["episodes"] == 0 and summary["success_rate"] is None
    assert summary["events"] == 0 and summary["per_env"] == {}


def test_episode_summary_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="extra"):
        EpisodeSummary.model_validate(
            {"episode_id": "e", "outcome": "success", "reason": "done", "bogus": 1}
        )


def test_finishes_are_batched_but_flushed_within_the_interval(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(flush_interval_s=0.05)
    store.create_run("r", experiment={}, seed=0)
    first = episode_events("a")
    write_episode(store, "r", first)
    assert _rows_on_disk(store.path) == 0  # one start + events + finish, still buffered
    time.sleep(0.06)
    second = episode_events("b")
    write_episode(store, "r", second)  # its append finds the buffer stale: written
    assert _rows_on_disk(store.path) == len(first) + len(second)
    with Store(store.path) as other:
        assert other.finished_episode_ids("r") == {"a"}  # b's finish is still buffered
    store.flush()
    with Store(store.path) as other:
        assert other.finished_episode_ids("r") == {"a", "b"}


@pytest.mark.parametrize("writer_process", [False, True])
def test_checkpoints_run_in_the_background_and_close_leaves_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer_process: bool
) -> None:
    import palaestra.store._sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "_CHECKPOINT_ROWS", 30)
    path = tmp_path / "store.db"
    store = Store(path, batch_size=10, writer_process=writer_process)
    store.create_run("r", experiment={}, seed=0)
    before = path.stat().st_size
    written = {}
    for i in range(40):
        events = episode_events(f"ep{i}", steps=5)
        store.start_episode("r", episode_row(f"ep{i}"))
        store.append("r", events)
        store.finish_episode("r", summary_for(events))
        written[f"ep{i}"] = events
    store.flush()
    if writer_process:  # it checkpoints between its batches: no thread here
        assert store._checkpointer is None and store._writer is not None
    else:
        checkpointer = store._checkpointer
        assert checkpointer is not None
        deadline = time.monotonic() + 10
        while checkpointer.done == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert checkpointer.done >= 1
    # the WAL was copied into the database file while the store was open
    assert path.stat().st_size > before
    store.close()
    assert not Path(f"{path}-wal").exists()  # the rest was checkpointed at close
    with Store(path) as again:
        for episode_id, events in written.items():
            assert again.events("r", episode_id) == events
