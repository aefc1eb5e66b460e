"""`palaestra doctor`: check a store file, and recover what can be read from a damaged one.

`check_store` runs SQLite's `integrity_check` and says which table (or index) each
problem is in, counts what each table still lets read, and lists the runs left
`running` by a process that is gone (no live lease). On a sound file it marks those
runs `interrupted` (with the reason) and drops the dead leases, so that the store says
what happened; a damaged file is not written to.

Reading the file row by row, past damaged pages, is `_salvage`'s; copying what can be
read into a new store, `_recover`'s (`recover_store`).
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palaestra.store._lease import Lease, read_leases
from palaestra.store._salvage import EVENT_COLUMNS, TableReport, connect, event_row, rows

TABLES = ("meta", "runs", "episodes", "events", "leases")
LEFT_RUNNING = "left running by a process that is gone (found by palaestra doctor)"
"""The reason given to a run marked interrupted because its writer is gone."""


@dataclass
class DoctorReport:
    """The outcome of `check_store` (and, with a recovery, of `recover_store`)."""

    path: Path
    problems: list[str] = field(default_factory=list)
    """Every `integrity_check` line (empty: the file is sound)."""
    tables: dict[str, TableReport] = field(default_factory=dict)
    left_running: list[str] = field(default_factory=list)
    """Runs `running` with no live writer: marked interrupted (in a sound file, or in
    the recovered copy)."""
    dead_leases: list[Lease] = field(default_factory=list)
    recovered_to: Path | None = None
    incomplete: list[tuple[str, str]] = field(default_factory=list)
    """(run_id, episode_id) of finished episodes whose events were not all recovered:
    marked running in the copy, so a resume runs them again."""
    missing_events: int = 0
    """Events of finished episodes (by their `n_events`) not found (or not recovered)."""
    interrupted: list[str] = field(default_factory=list)
    """Runs marked interrupted in the recovered store (a resume finishes them)."""
    notes: list[str] = field(default_factory=list)

    healthy: bool = True
    """Whether the check found the file sound: no integrity problem, no row lost, no
    finished episode missing events (set by `check_store`; a recovery does not change
    it)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "store": str(self.path),
            "healthy": self.healthy,
            "problems": self.problems,
            "tables": {
                name: {"readable": t.readable, "lost": t.lost, "problems": t.problems}
                for name, t in self.tables.items()
            },
            "left_running": self.left_running,
            "dead_leases": [lease.run_id for lease in self.dead_leases],
            "recovered_to": None if self.recovered_to is None else str(self.recovered_to),
            "incomplete": [list(pair) for pair in self.incomplete],
            "missing_events": self.missing_events,
            "interrupted": self.interrupted,
            "notes": self.notes,
        }


def _owners(db: sqlite3.Connection) -> dict[int, str]:
    """Page -> the table whose B-tree (or index's B-tree) holds it: every page where
    SQLite's `dbstat` table can list them, else the root pages."""
    try:
        tables = {
            name.decode(): table.decode()
            for name, table in db.execute("SELECT name, tbl_name FROM sqlite_master")
        }
        roots = db.execute("SELECT rootpage, tbl_name FROM sqlite_master").fetchall()
    except sqlite3.DatabaseError:
        return {}
    owners = {int(page): table.decode() for page, table in roots if page}
    try:  # dbstat walks the B-trees: on a damaged file it may stop early
        for page, name in db.execute("SELECT pageno, name FROM dbstat"):
            owners.setdefault(int(page), tables.get(name.decode(), name.decode()))
    except sqlite3.DatabaseError:
        pass
    return owners


def _integrity(db: sqlite3.Connection) -> list[str]:
    """`integrity_check`'s findings, one a line (SQLite joins some with newlines)."""
    try:
        rows = db.execute("PRAGMA integrity_check(1000)").fetchall()
    except sqlite3.DatabaseError as exc:
        return [f"integrity_check could not run: {exc}"]
    lines = [
        line
        for (text,) in rows
        for line in text.decode(errors="replace").splitlines()
        if line and line != "*** in database main ***"
    ]
    return [] if lines == ["ok"] else lines


def _table_of(line: str, owners: dict[int, str]) -> str | None:
    """The table a finding of `integrity_check` is about ("Tree 5 page 12 ...", "On
    tree page 17 cell 3 ...", "Page 40: never used", "row 3 missing from index X")."""
    words = line.replace(":", " ").split()
    for index, word in enumerate(words[:-1]):
        following = words[index + 1]
        if word.lower() in ("tree", "page") and following.isdigit():
            found = owners.get(int(following))
            if found is not None:
                return found
        if word == "index":
            for table in TABLES:
                if table in following:
                    return table
    return None


def check_store(path: str | Path, *, repair: bool = True) -> DoctorReport:
    """Check a store file (see the module docstring); `repair`: mark the runs left
    running interrupted and drop dead leases when the file is sound."""
    path = Path(path)
    db = connect(path)
    try:
        report = DoctorReport(path=path, problems=_integrity(db))
        owners = _owners(db)
        seqs: dict[int, set[int]] = {}
        """Episode id -> the seqs of its events that read well."""
        for table in TABLES:
            entry = report.tables[table] = TableReport(table)
            try:
                if table == "events":  # read as a recovery would: garbage counts as lost
                    for row in rows(db, table, EVENT_COLUMNS, entry):
                        if event_row(row, None) is None:
                            entry.lost += 1
                            entry.readable -= 1
                        else:
                            seqs.setdefault(row[0], set()).add(row[1])
                else:
                    for _ in rows(db, table, "*", entry):  # payloads too: overflow pages
                        pass
            except sqlite3.DatabaseError as exc:
                entry.problems.append(f"cannot be read: {exc}")
        for line in report.problems:
            owner = _table_of(line, owners)
            if owner is not None and owner in report.tables:
                report.tables[owner].problems.append(line)
        _count_missing(db, report, seqs)
        report.healthy = (
            not report.problems
            and not report.missing_events
            and not any(t.lost for t in report.tables.values())
        )
        try:
            db.text_factory = str
            leases = read_leases(db)
            report.dead_leases = [lease for lease in leases if not lease.alive()]
            live = {lease.run_id for lease in leases if lease.alive()}
            running = [r for (r,) in db.execute("SELECT run_id FROM runs WHERE status='running'")]
            report.left_running = [run_id for run_id in running if run_id not in live]
        except sqlite3.DatabaseError as exc:
            report.notes.append(f"runs and leases could not be read: {exc}")
            return report
        if repair and report.healthy and (report.left_running or report.dead_leases):
            _mark_left_running(db, report)
        return report
    finally:
        db.close()


def _count_missing(db: sqlite3.Connection, report: DoctorReport, seqs: dict[int, set[int]]) -> None:
    """Finished episodes whose events are not all there (rows in pages no longer
    reachable are neither read nor lost to the scan): `incomplete`, `missing_events`."""
    entry = TableReport("episodes")
    select = "id, run_id, episode_id, n_events, status"
    try:
        for episode, run_id, episode_id, n_events, status in rows(db, "episodes", select, entry):
            if status != b"finished" or not isinstance(n_events, int):
                continue
            found = seqs.get(episode, set())
            if found != set(range(n_events)):
                report.missing_events += max(n_events - len(found), 0) or 1
                report.incomplete.append(
                    (run_id.decode(errors="replace"), episode_id.decode(errors="replace"))
                )
    except (sqlite3.DatabaseError, AttributeError):  # noted by the table scans
        pass


def _mark_left_running(db: sqlite3.Connection, report: DoctorReport) -> None:
    db.execute("BEGIN IMMEDIATE")
    try:
        now = time.time()
        for run_id in report.left_running:
            db.execute(
                "UPDATE runs SET status = 'interrupted', reason = ?, updated_at = ? "
                "WHERE run_id = ? AND status = 'running'",
                (LEFT_RUNNING, now, run_id),
            )
        for lease in report.dead_leases:
            db.execute(
                "DELETE FROM leases WHERE run_id = ? AND token = ?", (lease.run_id, lease.token)
            )
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    if report.left_running:
        report.notes.append(
            f"marked interrupted (left running by a process that is gone): "
            f"{', '.join(report.left_running)}"
        )
