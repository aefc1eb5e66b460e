"""`recover_store`: copy what can be read from a damaged store into a new one.

The copy is made table by table and row by row (`_salvage.rows`), with each event
checked against its columns and its episode (`_salvage.event_row`). Then, in the new
store: an episode marked finished without all of its events (seqs 0 to its `n_events`
- 1, each once) is marked running again, so a resume runs it; every run of a damaged
file (an episode's row may be lost without a trace), and a run left running, is marked
`interrupted` with the reason; leases are not copied. Counts of rows recovered and lost
(lost: estimated from the rowids skipped) are reported per table.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from palaestra.core import UserError
from palaestra.store._doctor import LEFT_RUNNING, DoctorReport, check_store
from palaestra.store._salvage import (
    CHUNK,
    EVENT_COLUMNS,
    TableReport,
    as_text,
    connect,
    event_row,
    rows,
)
from palaestra.store._schema import EPISODE_COLUMNS, RUN_COLUMNS

_RESTARTED = (
    "UPDATE episodes SET status = 'running', outcome = NULL, reason = NULL, score = NULL, "
    "success = NULL, total_reward = 0, steps = 0, n_events = 0, input_tokens = 0, "
    "output_tokens = 0, wall_s = 0, hash = NULL, error = NULL, finished_at = NULL WHERE id = ?"
)
"""An episode that lost events goes back to how a running one reads."""


def recover_store(path: str | Path, out: str | Path) -> DoctorReport:
    """Check `path`, then copy what can be read into the new store `out` (see the
    module docstring). `out` must not exist."""
    from palaestra.store._sqlite import Store

    path, out = Path(path), Path(out)
    if out.exists():
        raise UserError(f"--recover {out}: the file exists; give the path of a new store")
    if out.resolve() == path.resolve():
        raise UserError("--recover: give another path than the damaged store's")
    report = check_store(path, repair=False)
    report.incomplete, report.missing_events = [], 0  # counted again from what is copied
    Store(out).close()  # the schema of this release
    source, target = connect(path), sqlite3.connect(out, isolation_level=None)
    tables = {name: TableReport(name) for name in ("runs", "episodes", "events")}
    try:
        target.execute("BEGIN IMMEDIATE")
        runs = _copy_runs(source, target, tables["runs"])
        episodes = _copy_episodes(source, target, tables["episodes"], runs)
        counts = _copy_events(source, target, tables["events"], episodes)
        _mark_incomplete(target, report, episodes, counts, runs)
        target.execute("COMMIT")
    finally:
        if target.in_transaction:
            target.execute("ROLLBACK")
        source.close()
        target.close()
    report.tables.update({f"recovered {name}": entry for name, entry in tables.items()})
    report.recovered_to = out
    return report


def _copy_runs(
    source: sqlite3.Connection, target: sqlite3.Connection, report: TableReport
) -> dict[str, str]:
    """Readable runs -> their status."""
    runs: dict[str, str] = {}
    try:  # a store of an older layout may lack newer columns: they stay empty
        present = {row[1].decode() for row in source.execute("PRAGMA table_info(runs)")}
    except sqlite3.DatabaseError:
        present = set(RUN_COLUMNS)
    columns = ", ".join(c if c in present else "NULL" for c in RUN_COLUMNS)
    insert = (
        f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})"
    )
    for row in rows(source, "runs", columns, report):
        try:
            values: list[Any] = [as_text(v) if isinstance(v, bytes) else v for v in row]
            json.loads(values[RUN_COLUMNS.index("experiment")])
            target.execute(insert, values)
        except (UnicodeDecodeError, ValueError, TypeError, sqlite3.Error):
            report.lost += 1
            report.readable -= 1
            continue
        runs[values[0]] = values[RUN_COLUMNS.index("status")]
    return runs


def _copy_episodes(
    source: sqlite3.Connection,
    target: sqlite3.Connection,
    report: TableReport,
    runs: dict[str, str],
) -> dict[int, tuple[str, str, str, int]]:
    """Readable episodes -> (run_id, episode_id, status, n_events), by their id. An
    episode whose run row was lost gets a run row saying so."""
    episodes: dict[int, tuple[str, str, str, int]] = {}
    columns = ", ".join(("id", *EPISODE_COLUMNS))
    insert = (
        f"INSERT INTO episodes ({columns}) VALUES ({', '.join('?' * (len(EPISODE_COLUMNS) + 1))})"
    )
    position = {name: i + 1 for i, name in enumerate(EPISODE_COLUMNS)}
    for row in rows(source, "episodes", columns, report):
        try:
            values: list[Any] = [as_text(v) if isinstance(v, bytes) else v for v in row]
            json.loads(values[position["agents"]])
            run_id = values[position["run_id"]]
            if run_id not in runs:
                now = time.time()
                target.execute(
                    f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES "
                    f"({', '.join('?' * len(RUN_COLUMNS))})",
                    (run_id, "", 0, "{}", "interrupted", now, now, "its run row was lost"),
                )
                runs[run_id] = "interrupted"
            target.execute(insert, values)
        except (UnicodeDecodeError, ValueError, TypeError, sqlite3.Error):
            report.lost += 1
            report.readable -= 1
            continue
        episodes[values[0]] = (
            run_id,
            values[position["episode_id"]],
            values[position["status"]],
            values[position["n_events"]],
        )
    return episodes


def _copy_events(
    source: sqlite3.Connection,
    target: sqlite3.Connection,
    report: TableReport,
    episodes: dict[int, tuple[str, str, str, int]],
) -> dict[int, list[tuple[int, str]]]:
    """Readable events of recovered episodes, checked against their columns ->
    (seq, kind) per episode id."""
    found: dict[int, list[tuple[int, str]]] = {}
    insert = (
        "INSERT OR IGNORE INTO events (episode, seq, kind, agent, step, json) "
        "VALUES (?, ?, ?, ?, ?, ?)"
    )
    batch: list[tuple[Any, ...]] = []
    for row in rows(source, "events", EVENT_COLUMNS, report):
        owner = episodes.get(row[0])
        checked = None if owner is None else event_row(row, owner[1])
        if checked is None:
            report.lost += 1
            report.readable -= 1
            continue
        batch.append(checked)
        found.setdefault(checked[0], []).append((checked[1], checked[2]))
        if len(batch) >= CHUNK:
            target.executemany(insert, batch)
            batch.clear()
    if batch:
        target.executemany(insert, batch)
    return found


def _mark_incomplete(
    target: sqlite3.Connection,
    report: DoctorReport,
    episodes: dict[int, tuple[str, str, str, int]],
    counts: dict[int, list[tuple[int, str]]],
    runs: dict[str, str],
) -> None:
    touched: set[str] = set()
    for episode, (run_id, episode_id, status, n_events) in episodes.items():
        if status != "finished":
            continue
        events = sorted(counts.get(episode, []))
        complete = [seq for seq, _ in events] == list(range(n_events))
        if not complete:
            report.missing_events += max(n_events - len(events), 0)
            target.execute(_RESTARTED, (episode,))
            report.incomplete.append((run_id, episode_id))
            touched.add(run_id)
    # From a damaged file, episode rows may be gone without a trace: every run is
    # marked interrupted, so that a resume runs whatever is missing and finishes it.
    damaged = not report.healthy
    now = time.time()
    for run_id, status in runs.items():
        if status == "running" or run_id in touched or damaged:
            lost = sum(1 for r, _ in report.incomplete if r == run_id)
            reason = (
                f"recovered by palaestra doctor from a damaged store ({lost} finished "
                f"episodes lost events; episodes whose rows were lost are missing): resume "
                f"it to run them again"
                if damaged
                else LEFT_RUNNING
            )
            target.execute(
                "UPDATE runs SET status = 'interrupted', reason = ?, updated_at = ? "
                "WHERE run_id = ?",
                (reason, now, run_id),
            )
            report.interrupted.append(run_id)
            if status == "running" and run_id not in report.left_running:
                report.left_running.append(run_id)
