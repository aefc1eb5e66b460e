"""The reader API's queries (`ReadOnlyStore`, what the viewer pages) run on indexes (no
sort, no scan of events), and stores written before those indexes existed get them when
opened, with the same schema version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from palaestra.store import STORE_SCHEMA_VERSION, EpisodeFilter, ReadOnlyStore, Store
from palaestra.store._reader import _EPISODE_SELECT
from tests.viewer.conftest import viewer_runs  # noqa: F401  (the runs the viewer pages)


def plan(db: sqlite3.Connection, sql: str, params: list) -> str:
    return "\n".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + sql, params))


def test_old_stores_get_the_indexes_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with Store(path) as store:
        store.create_run("r", experiment={}, seed=0)
    db = sqlite3.connect(path)
    db.execute("DROP INDEX episodes_by_run")  # a store written before the index existed
    db.execute("DROP INDEX runs_by_created")
    db.commit()
    db.close()
    with ReadOnlyStore(path) as reader:
        assert reader.runs()["total"] == 1
    db = sqlite3.connect(path)
    indexes = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    version = db.execute("SELECT value FROM meta WHERE key='store_schema_version'").fetchone()
    db.close()
    assert {"episodes_by_run", "runs_by_created"} <= indexes
    assert version == (str(STORE_SCHEMA_VERSION),)


def test_pages_use_indexes_not_sorts_or_event_scans(viewer_runs) -> None:  # noqa: F811
    db = sqlite3.connect(viewer_runs.store)
    condition, params = EpisodeFilter(outcome=("error",), task="x").where("errors-run")
    episodes = plan(db, f"{_EPISODE_SELECT} WHERE {condition} ORDER BY id LIMIT 50", params)
    assert "episodes_by_run" in episodes and "TEMP B-TREE" not in episodes
    events = plan(
        db, "SELECT json FROM events WHERE episode = ? AND seq > ? ORDER BY seq LIMIT 200", [1, 5]
    )
    assert "(episode=? AND seq>?)" in events and "TEMP B-TREE" not in events  # the key
    runs = plan(db, "SELECT * FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 50", [])
    assert "runs_by_created" in runs and "TEMP B-TREE" not in runs
    db.close()
