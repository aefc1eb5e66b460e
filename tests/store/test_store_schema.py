"""Opening a store checks that it is a palaestra store of this schema version."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from palaestra.core import SCHEMA_VERSION, StoreError
from palaestra.store import STORE_SCHEMA_VERSION, Store


def _set_meta(path: Path, key: str, value: str) -> None:
    db = sqlite3.connect(path)
    with db:
        db.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
    db.close()


def test_reopen_keeps_runs(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.create_run("r", experiment={"a": [1, 2]}, seed=5)
    with Store(path) as store:
        run = store.get_run("r")
        assert run is not None and run.experiment == {"a": [1, 2]} and run.seed == 5


def test_other_store_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path).close()
    _set_meta(path, "store_schema_version", str(STORE_SCHEMA_VERSION + 1))
    with pytest.raises(StoreError) as info:
        Store(path)
    message = str(info.value)
    assert f"store schema version {STORE_SCHEMA_VERSION + 1}" in message
    assert f"this palaestra uses store schema version {STORE_SCHEMA_VERSION}" in message
    assert "another store file" in message


def test_other_event_schema_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store(path).close()
    _set_meta(path, "event_schema_version", "0")
    with pytest.raises(
        StoreError, match=f"event schema version 0.*event schema version {SCHEMA_VERSION}"
    ):
        Store(path)


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (id INTEGER)")
    db.close()
    with pytest.raises(StoreError, match="not a palaestra store.*users"):
        Store(path)


def test_non_database_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are not the tables you are looking for\n" * 200)
    with pytest.raises(StoreError, match="not a palaestra store"):
        Store(path)


def test_bad_batch_size() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        Store("unused.db", batch_size=0)


def test_start_values_are_the_columns_of_a_fresh_running_row() -> None:
    from palaestra.store._rows import EpisodeRow
    from palaestra.store._schema import episode_values, start_values

    fresh = EpisodeRow(
        run_id="r",
        episode_id="ep-1",
        env="arith.drill",
        task="t3",
        seed=7,
        epoch=2,
        agents=["a", "b"],
        started_at=12.5,
    )
    finished = fresh.model_copy(
        update={"run_id": "other", "status": "finished", "outcome": "success", "score": 1.0,
                "n_events": 12, "hash": "abc", "started_at": 3.0}
    )  # fmt: skip
    assert start_values("r", finished, 12.5) == episode_values(fresh)
