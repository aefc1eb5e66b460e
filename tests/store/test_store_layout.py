"""The integer episode key: events refer to `episodes.id`, which the store learns when it
writes an episode's start and keeps only while the episode runs."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from palaestra.core import StoreError
from palaestra.store import Store
from palaestra.store._schema import PAGE_SIZE
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
        intruder.start_episode("r", episode_row("x"))
    other.execute("DROP TRIGGER refuse")
    other.commit()
    other.close()
    store.flush()
    assert store.events("r", "e") == events
    assert store.events("r", "x") == []
    assert store.finished_episode_ids("r") == {"e"}
