"""The integer episode key: events refer to `episodes.id`, which the store learns when it
writes an episode's start and keeps only while the episode runs."""

from __future__ import annotations

import os
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from palaestra.core import StoreError
from palaestra.store import Store
from palaestra.store._schema import PAGE_SIZE
from palaestra.store._writer import WriterProcess
from tests.store.store_builders import episode_events, episode_row, summary_for, write_episode


def _sql(path: Path, query: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    """Rows another connection reads with plain SQL (what other tools see)."""
    db = sqlite3.connect(path)
    try:
        return db.execute(query, params).fetchall()
    finally:
        db.close()


def test_events_are_keyed_by_the_episode_integer(make_store: Callable[..., Store]) -> None:
    store = make_store(batch_size=3)  # starts and events of one episode in several batches
    for run in ("r1", "r2"):
        store.create_run(run, experiment={}, seed=0)
    logs = {run: episode_events("same-id", steps=1 + (run == "r2")) for run in ("r1", "r2")}
    for run in logs:
        store.start_episode(run, episode_row("same-id"))
    for run, events in logs.items():  # one run's events after the other's
        for event in events:
            store.append(run, [event])
    store.finish_episode("r1", summary_for(logs["r1"]))
    store.flush()

    assert _sql(store.path, "PRAGMA page_size") == [(PAGE_SIZE,)]  # set before WAL mode
    columns = [name for (_, name, *_) in _sql(store.path, "PRAGMA table_info(events)")]
    assert columns == ["episode", "seq", "kind", "agent", "step", "json"]
    ids = dict(_sql(store.path, "SELECT run_id, id FROM episodes ORDER BY id"))
    assert sorted(ids) == ["r1", "r2"] and ids["r1"] != ids["r2"]
    for run, events in logs.items():
        assert store.events(run, "same-id") == events
        # the join the schema documents, filtering on the `kind` column as tools do
        texts = _sql(
            store.path,
            "SELECT ev.json FROM events AS ev JOIN episodes AS ep ON ev.episode = ep.id "
            "WHERE ep.run_id = ? AND ep.episode_id = ? AND ev.kind = 'model_request' "
            "ORDER BY ev.seq",
            (run, "same-id"),
        )
        assert [text for (text,) in texts] == [
            e.to_json() for e in events if e.kind == "model_request"
        ]
    assert list(store.iter_events("r2")) == logs["r2"]
    assert store.run_summary("r2")["events"] == len(logs["r2"])  # running: counted by join
    assert store.run_summary("r1")["events"] == len(logs["r1"])  # finished: n_events


def test_restart_keeps_the_id_and_the_start_order(make_store: Callable[..., Store]) -> None:
    store = make_store(batch_size=4)
    store.create_run("r", experiment={}, seed=0)
    first, second = episode_events("first"), episode_events("second")
    store.start_episode("r", episode_row("first"))
    store.append("r", first[:6])
    write_episode(store, "r", second)
    store.close()  # as after a crash: "first" is running with 6 (or fewer) events stored

    reopened = make_store(batch_size=4)
    (before,) = _sql(reopened.path, "SELECT id FROM episodes WHERE episode_id = 'first'")
    reopened.start_episode("r", episode_row("first", seed=5))
    reopened.append("r", first)
    reopened.finish_episode("r", summary_for(first))
    reopened.flush()
    assert _sql(reopened.path, "SELECT id FROM episodes WHERE episode_id = 'first'") == [before]
    assert [row.episode_id for row in reopened.episodes("r")] == ["first", "second"]
    assert reopened.episodes("r")[0].seed == 5
    assert list(reopened.iter_events("r")) == first + second
    count = "SELECT COUNT(*) FROM events WHERE episode = ?"
    assert _sql(reopened.path, count, before) == [(len(first),)]  # the old try's rows went


def test_ids_are_forgotten_once_the_finish_is_written(store: Store) -> None:
    store.create_run("r", experiment={}, seed=0)
    for name in ("a", "b", "c"):
        write_episode(store, "r", episode_events(name))
    store.start_episode("r", episode_row("d"))
    store.flush()
    # the map holds running episodes only, so a long run does not grow it
    assert list(store._episode_ids) == [("r", "d")]


def test_a_failed_write_is_retried_under_a_new_id(make_store: Callable[..., Store]) -> None:
    store = make_store()
    store.create_run("r", experiment={}, seed=0)
    events = episode_events("e")
    store.start_episode("r", episode_row("e"))
    store.append("r", events)
    store.finish_episode("r", summary_for(events))
    other = sqlite3.connect(store.path)
    other.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'no'); END"
    )
    other.commit()
    with pytest.raises(StoreError, match=f"writing {len(events)} events failed"):
        store.flush()  # rolled back, the insert of "e" included

    with Store(store.path) as intruder:  # takes the id "e" had in the rolled-back write
        intruder.create_run("r2", experiment={}, seed=0)  # (run "r" is leased to `store`)
        intruder.start_episode("r2", episode_row("x"))
    other.execute("DROP TRIGGER refuse")
    other.commit()
    other.close()
    store.flush()
    assert store.events("r", "e") == events
    assert store.events("r2", "x") == []
    assert store.finished_episode_ids("r") == {"e"}


def test_full_batches_are_written_by_the_writer_process(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(batch_size=10)
    store.create_run("r", experiment={}, seed=0)
    store.lease_run("r")  # (one transaction of the store's own when a run is first written)
    statements: list[str] = []
    assert store._conn is not None
    store._conn.set_trace_callback(statements.append)
    events = episode_events("e", steps=5)  # 28 events
    store.start_episode("r", episode_row("e"))
    store.append("r", events[:25])  # two full batches: handed over as they fill
    store.wait_for_writer()
    assert store._writer is not None and store._writer.pid != os.getpid()
    assert _sql(store.path, "SELECT COUNT(*) FROM events") == [(20,)]
    store.append("r", events[25:])
    store.finish_episode("r", summary_for(events))
    assert store.events("r", "e") == events  # a read sends the rest first, and waits
    assert not [s for s in statements if s.startswith(("INSERT", "UPDATE", "BEGIN"))]


def test_a_failed_write_in_the_writer_process_is_kept_for_a_retry(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(batch_size=10)
    store.create_run("r", experiment={}, seed=0)
    other = sqlite3.connect(store.path)
    other.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'no'); END"
    )
    other.commit()
    events = episode_events("e", steps=5)  # 28 events
    store.start_episode("r", episode_row("e"))
    for rows in (events[:12], events[12:20]):
        try:  # the writer's error is reported here if it is back already (rows kept) ...
            store.append("r", rows)
        except StoreError as exc:
            assert "IntegrityError: no" in str(exc)
    with pytest.raises(StoreError, match=r"writing \d+ events failed: IntegrityError: no"):
        store.flush()  # ... else here (or again, by the writer that retried)
    other.execute("DROP TRIGGER refuse")
    other.commit()
    other.close()
    store.append("r", events[20:])
    store.finish_episode("r", summary_for(events))
    store.flush()
    assert store.events("r", "e") == events  # nothing appended before or after was lost
    assert store.finished_episode_ids("r") == {"e"}


def test_an_interrupted_send_leaves_nothing_half_written(
    make_store: Callable[..., Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store(batch_size=10)
    store.create_run("r", experiment={}, seed=0)
    events = episode_events("e", steps=5)  # 28 events
    store.start_episode("r", episode_row("e"))
    store.append("r", events[:12])  # the writer runs: one batch written, 2 rows buffered
    store.wait_for_writer()
    real_writev = os.writev

    def interrupted(fd: int, buffers: list[memoryview]) -> int:
        monkeypatch.setattr(os, "writev", real_writev)
        real_writev(fd, [buffers[0][:3]])  # a message cut short inside its header
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "writev", interrupted)
    writer = store._writer
    with pytest.raises(KeyboardInterrupt):
        store.append("r", events[12:20])  # Ctrl-C while the next batch is sent
    assert writer is not None and writer._proc.returncode == -signal.SIGKILL
    assert store._writer is None  # the next full batch starts a new one
    store.append("r", events[20:])
    store.finish_episode("r", summary_for(events))
    store.flush()
    assert store.events("r", "e") == events


def test_a_batch_committed_unheard_is_not_written_again(
    make_store: Callable[..., Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer that dies between committing a batch and saying so: the store finds the
    batch in the file and does not send it again (it would fail on the events' key)."""
    store = make_store(batch_size=10)
    store.create_run("r", experiment={}, seed=0)
    sent: list[object] = []
    send = WriterProcess.send
    monkeypatch.setattr(
        WriterProcess,
        "send",
        lambda self, batch, *leases: sent.append(batch) or send(self, batch, *leases),
    )
    events = episode_events("e", steps=5)
    store.start_episode("r", episode_row("e"))
    store.append("r", events[:10])
    store.wait_for_writer()  # committed and confirmed; now forget the confirmation
    writer = store._writer
    assert writer is not None and len(sent) == 1
    writer._pending.append(sent[0])  # type: ignore[arg-type]
    os.kill(writer.pid, signal.SIGKILL)
    writer._proc.wait()
    store.append("r", events[10:15])
    with pytest.raises(StoreError, match="the writer process exited with code -9"):
        store.flush()
    store.append("r", events[15:])
    store.finish_episode("r", summary_for(events))
    store.flush()
    assert store.events("r", "e") == events


@pytest.mark.parametrize(
    ("episode_id", "agent"),
    [("e", "n0"), ("épisode,1", "n0"), ("e", 'agent "quoted", \\ back\\slash'), ("e", "ü,")],
)
def test_the_writer_process_reads_each_events_columns_from_its_json(
    make_store: Callable[..., Store], episode_id: str, agent: str
) -> None:
    store = make_store(batch_size=4)
    store.create_run("r", experiment={}, seed=0)
    events = episode_events(episode_id, agent=agent)
    store.start_episode("r", episode_row(episode_id))
    store.append("r", events)
    store.finish_episode("r", summary_for(events))
    store.flush()
    assert store.events("r", episode_id) == events
    columns = _sql(
        store.path,
        "SELECT seq, kind, agent, step FROM events ORDER BY seq",
    )
    assert columns == [(e.seq, e.kind, e.agent, e.step) for e in events]


def test_a_restart_written_by_the_writer_process_drops_the_old_try(
    make_store: Callable[..., Store],
) -> None:
    store = make_store(batch_size=5)
    store.create_run("r", experiment={}, seed=0)
    first_try = episode_events("e")
    store.start_episode("r", episode_row("e"))
    store.append("r", first_try[:12])  # two batches written by the writer process
    store.wait_for_writer()
    assert store._writer is not None
    assert _sql(store.path, "SELECT COUNT(*) FROM events") == [(10,)]
    (episode,) = _sql(store.path, "SELECT id FROM episodes")
    store.start_episode("r", episode_row("e", seed=5))  # run again: upsert, old rows go
    second_try = episode_events("e", steps=2)
    store.append("r", second_try)
    store.finish_episode("r", summary_for(second_try))
    assert store.events("r", "e") == second_try
    assert _sql(store.path, "SELECT id, seed FROM episodes") == [(episode[0], 5)]
