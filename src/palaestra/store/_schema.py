"""The SQLite layout of the store: tables, the version check, and row <-> tuple mapping.

```
meta      key -> value               store_schema_version, event_schema_version
runs      one row per run            run_id, name, seed, experiment (JSON), status, times,
                                     reason (why a run that is not finished stopped)
leases    one row per run written    run_id, the writing process (pid, host, its start
          now                        time), token, started_at, heartbeat_at (`_lease`)
episodes  one row per episode        id (integer key, in first-start order), then the
                                     columns of `EpisodeRow`; (run_id, episode_id) unique
events    one row per event          episode (= episodes.id), seq, kind, agent, step, json
```
Indexes besides the keys: `episodes (run_id)` and `runs (created_at)` (see `_INDEXES`).

An event refers to its episode by the episode's integer `id`, not by (run_id,
episode_id): two short integers make the key of every event row, which makes inserting
events cheaper than two long text columns did (docs/benchmarks.md; and the file
smaller). To read
an episode's events with SQL, join: `SELECT ev.json FROM events AS ev JOIN episodes AS ep
ON ev.episode = ep.id WHERE ep.run_id = ? AND ep.episode_id = ? ORDER BY ev.seq`. A
restarted episode keeps its `id` (the start is an upsert), so `ORDER BY id` lists
episodes in the order they were first started.

`events.json` is exactly `Event.to_json()`; `kind`, `agent` and `step` are copies kept as
columns so that other tools can filter with SQL without parsing JSON. A store written
with another layout (`STORE_SCHEMA_VERSION`) or another event schema (`SCHEMA_VERSION`)
is refused on open, with both versions named; a store of version 2 is migrated in
place when opened (`_MIGRATIONS`: the leases table and `runs.reason`, in one
transaction).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Hashable, Mapping, Sequence
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from palaestra.core import SCHEMA_VERSION, StoreError
from palaestra.store._rows import STORE_SCHEMA_VERSION, EpisodeRow, RunRow

_DDL = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE runs (
    run_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    seed INTEGER NOT NULL,
    experiment TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    reason TEXT
);
CREATE TABLE episodes (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    episode_id TEXT NOT NULL,
    env TEXT NOT NULL,
    task TEXT NOT NULL,
    seed INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    agents TEXT NOT NULL,
    status TEXT NOT NULL,
    outcome TEXT,
    reason TEXT,
    score REAL,
    success INTEGER,
    total_reward REAL NOT NULL,
    steps INTEGER NOT NULL,
    n_events INTEGER NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    wall_s REAL NOT NULL,
    hash TEXT,
    error TEXT,
    started_at REAL,
    finished_at REAL,
    UNIQUE (run_id, episode_id)
);
CREATE TABLE events (
    episode INTEGER NOT NULL REFERENCES episodes (id),
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    agent TEXT NOT NULL,
    step INTEGER NOT NULL,
    json TEXT NOT NULL,
    PRIMARY KEY (episode, seq)
);
CREATE TABLE leases (
    run_id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    proc_start TEXT NOT NULL,
    token TEXT NOT NULL,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL
);
"""

_MIGRATIONS: dict[str, tuple[str, ...]] = {
    "2": (
        "ALTER TABLE runs ADD COLUMN reason TEXT",
        _DDL[_DDL.index("CREATE TABLE leases") :].rstrip().rstrip(";"),
    ),
}
"""Statements that bring a store of an older layout version to the next one (additions
only: a migrated store reads like a new one)."""

_INDEXES = (
    "CREATE INDEX IF NOT EXISTS episodes_by_run ON episodes (run_id)",
    "CREATE INDEX IF NOT EXISTS runs_by_created ON runs (created_at)",
)
"""Indexes for readers (the viewer's pages): a run's episodes in `id` order (an index on
`run_id` alone holds (run_id, id) entries, since `id` is the rowid), and runs newest
first. Created with IF NOT EXISTS on every open, for new and existing stores alike: an
index changes no table or column, so it needs no store schema version bump, and a store
with or without them reads the same. They cost one index entry per episode and per run,
nothing per event."""

PAGE_SIZE = 16384
"""SQLite page size of a new store file, in bytes (SQLite's default is 4096). Events are
rows of a few hundred bytes written a batch at a time: with 16 KiB pages a batch touches
a quarter as many pages, which halved the cost of committing it here. A file keeps the
page size it was created with."""

compact_json = json.JSONEncoder(separators=(",", ":")).encode
"""`json.dumps(value, separators=(",", ":"))` with one prebuilt encoder (`json.dumps`
with arguments builds an encoder per call: most of its cost for a short list)."""

RUN_COLUMNS = tuple(RunRow.model_fields)
EPISODE_COLUMNS = tuple(EpisodeRow.model_fields)

INSERT_RUN = (
    f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})"
)
SELECT_RUN = f"SELECT {', '.join(RUN_COLUMNS)} FROM runs"

INSERT_EPISODE = (
    f"INSERT INTO episodes ({', '.join(EPISODE_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(EPISODE_COLUMNS))})"
)
UPSERT_EPISODE = (
    INSERT_EPISODE
    + " ON CONFLICT (run_id, episode_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in EPISODE_COLUMNS if c not in ("run_id", "episode_id"))
    + " RETURNING id"
)
"""Insert an episode row, or reset an existing one in place (keeping its `id`); returns
the episode's `id` in both cases."""
SELECT_EPISODE = f"SELECT {', '.join(EPISODE_COLUMNS)} FROM episodes"


def run_values(row: RunRow) -> tuple[Any, ...]:
    """The `runs` columns of a run row, in `RUN_COLUMNS` order."""
    data = row.model_dump()
    data["experiment"] = compact_json(row.experiment)
    return tuple(data[c] for c in RUN_COLUMNS)


def run_from_values(values: tuple[Any, ...]) -> RunRow:
    data = dict(zip(RUN_COLUMNS, values, strict=True))
    data["experiment"] = json.loads(data["experiment"])
    return RunRow.model_validate(data)


def episode_values(row: EpisodeRow) -> tuple[Any, ...]:
    """The `episodes` columns of an episode row, in `EPISODE_COLUMNS` order."""
    data = row.model_dump()
    data["agents"] = compact_json(row.agents)
    if row.success is not None:
        data["success"] = int(row.success)
    return tuple(data[c] for c in EPISODE_COLUMNS)


_FRESH_VALUES = episode_values(EpisodeRow(episode_id="", env="", task="", seed=0))
"""The columns of a running episode with every field at its default."""
_IDENTITY = tuple(
    EPISODE_COLUMNS.index(c)
    for c in ("run_id", "episode_id", "env", "task", "seed", "epoch", "agents", "started_at")
)


def start_values(run_id: str, row: EpisodeRow, started_at: float) -> tuple[Any, ...]:
    """The `episodes` columns of `row` (re)started as running under `run_id`: its identity
    fields, every other at its default (`episode_values` of such a row, without building
    it: this runs once per episode)."""
    values = list(_FRESH_VALUES)
    identity = (
        run_id,
        row.episode_id,
        row.env,
        row.task,
        row.seed,
        row.epoch,
        compact_json(row.agents),
        started_at,
    )
    for position, value in zip(_IDENTITY, identity, strict=True):
        values[position] = value
    return tuple(values)


def episode_from_values(values: tuple[Any, ...]) -> EpisodeRow:
    data = dict(zip(EPISODE_COLUMNS, values, strict=True))
    data["agents"] = json.loads(data["agents"])
    if data["success"] is not None:
        data["success"] = bool(data["success"])
    return EpisodeRow.model_validate(data)


def _version_error(path: Path, store_version: object, event_version: object) -> StoreError:
    return StoreError(
        f"{path} was written with palaestra store schema version {store_version} and event "
        f"schema version {event_version}; this palaestra uses store schema version "
        f"{STORE_SCHEMA_VERSION} and event schema version {SCHEMA_VERSION}. Open it with the "
        f"palaestra release that wrote it (its `palaestra export` to JSONL moves runs "
        f"between stores of the same schema), or write new runs to another store file."
    )


def init_schema(conn: sqlite3.Connection, path: Path) -> str | None:
    """Create the tables in an empty database, or check the versions of an existing one
    (migrating an older layout this release can upgrade). Returns the version migrated
    from, or None."""
    migrated: str | None = None
    conn.execute("BEGIN IMMEDIATE")
    try:
        tables = {
            name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not tables:
            for statement in _DDL.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [
                    ("store_schema_version", str(STORE_SCHEMA_VERSION)),
                    ("event_schema_version", str(SCHEMA_VERSION)),
                ],
            )
        elif "meta" not in tables:
            raise StoreError(
                f"{path} is an SQLite database but not a palaestra store (it has tables "
                f"{', '.join(sorted(tables))} and no `meta` table); give another store path"
            )
        else:
            meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            store_version = meta.get("store_schema_version", "unknown")
            event_version = meta.get("event_schema_version", "unknown")
            if event_version != str(SCHEMA_VERSION):
                raise _version_error(path, store_version, event_version)
            while store_version in _MIGRATIONS:  # older layouts this release can upgrade
                migrated = migrated or store_version
                for statement in _MIGRATIONS[store_version]:
                    conn.execute(statement)
                store_version = str(int(store_version) + 1)
                conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'store_schema_version'",
                    (store_version,),
                )
            if store_version != str(STORE_SCHEMA_VERSION):
                raise _version_error(path, store_version, event_version)
        for statement in _INDEXES:
            conn.execute(statement)
    except BaseException:
        if conn.in_transaction:  # SQLite may have rolled back already
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return migrated


ROWS_PER_INSERT = 500
"""Event rows per multi-row INSERT (the store's, and its writer process's)."""

_K = TypeVar("_K", bound=Hashable)


INSERT_EVENTS = "INSERT INTO events (episode, seq, kind, agent, step, json) VALUES "
"""The start of a multi-row INSERT of events; rows of six values follow."""


def _insert_sql(rows: int) -> str:
    return INSERT_EVENTS + ",".join(["(?, ?, ?, ?, ?, ?)"] * rows)


_FULL_INSERT = _insert_sql(ROWS_PER_INSERT)


def insert_events(
    db: sqlite3.Connection,
    rows: Sequence[tuple[_K, int, str, str, int, str]],
    episode_ids: Mapping[_K, int],
) -> None:
    """Insert event rows `(key, seq, kind, agent, step, json)`, with each row's episode
    key replaced by its integer id from `episode_ids`."""
    insert_event_runs(
        db, [(key, list(run)) for key, run in groupby(rows, itemgetter(0))], episode_ids
    )


def insert_event_runs(
    db: sqlite3.Connection,
    runs: Sequence[tuple[_K, Sequence[tuple[Any, int, str, str, int, str]]]],
    episode_ids: Mapping[_K, int],
) -> None:
    """Insert runs of event rows of one episode each: `(key, rows)` where each row is
    `(anything, seq, kind, agent, step, json)` (the store's buffer holds the rows as
    they were appended, episode id first) and `key` maps to the episode's integer id."""
    params: list[Any] = []
    add = params.extend
    for key, rows in runs:
        episode = episode_ids[key]
        for _, seq, kind, agent, step, text in rows:
            add((episode, seq, kind, agent, step, text))
    # Multi-row INSERTs of up to 500 rows: about twice as fast as `executemany`, which
    # steps the statement once per row.
    width = 6 * ROWS_PER_INSERT
    for start in range(0, len(params), width):
        chunk = params[start : start + width]
        count = len(chunk) // 6
        sql = _FULL_INSERT if count == ROWS_PER_INSERT else _insert_sql(count)
        db.execute(sql, chunk)
