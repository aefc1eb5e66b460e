"""`palaestra doctor`: check a store file, and recover what can be read from a damaged one.

`check_store` runs SQLite's `integrity_check` and says which table (or index) each
problem is in, counts what each table still lets read, and lists the runs left
`running` by a process that is gone (no live lease). On a sound file it marks those
runs `interrupted` (with the reason) and drops the dead leases, so that the store says
what happened; a damaged file is not written to.

`recover_store` copies what can be read into a NEW store, table by table and row by
row: rows are read in rowid order, a few hundred at a time; a read that fails (a damaged
page) is retried row by row, and a row that cannot be read is skipped by searching for
the first rowid past the damage (the B-tree seek lands beyond the bad page). Rows read
are checked (an event's JSON must parse and agree with its columns), so a page
overwritten with garbage that SQLite still reads loses its rows instead of copying
garbage. Then, in the new store: an episode marked finished without all of its events
(seqs 0 to its `n_events` - 1, each once) is marked running again
(a resume re-runs it); every run of a damaged file (an episode's row may be lost
without a trace), and a run left running, is marked `interrupted` with the reason;
leases are not copied. Counts of rows recovered and lost
(lost: estimated from the rowids skipped) are reported per table.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palaestra.core import UserError
from palaestra.store._lease import Lease, read_leases
from palaestra.store._schema import EPISODE_COLUMNS, RUN_COLUMNS

TABLES = ("meta", "runs", "episodes", "events", "leases")
_RESTARTED = (
    "UPDATE episodes SET status = 'running', outcome = NULL, reason = NULL, score = NULL, "
    "success = NULL, total_reward = 0, steps = 0, n_events = 0, input_tokens = 0, "
    "output_tokens = 0, wall_s = 0, hash = NULL, error = NULL, finished_at = NULL WHERE id = ?"
)
"""An episode that lost events goes back to how a running one reads."""
_CHUNK = 500
_LEFT_RUNNING = "left running by a process that is gone (found by palaestra doctor)"


@dataclass
class TableReport:
    """What one table holds and what is wrong with it."""

    name: str
    readable: int = 0
    """Rows that could be read."""
    lost: int = 0
    """Rows that could not be read (estimated from the rowids skipped)."""
    problems: list[str] = field(default_factory=list)
    """`integrity_check` lines about this table or its indexes."""


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


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise UserError(f"no store file at {path}; give the path of a palaestra store (.db)")
    try:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA busy_timeout=10000")
    except sqlite3.Error as exc:
        raise UserError(f"cannot open {path}: {exc}") from exc
    db.text_factory = bytes  # a damaged page may hold text that is not UTF-8
    return db


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


_MAX_ROWID = 2**63 - 1


def _rows(db: sqlite3.Connection, table: str, columns: str, report: TableReport) -> Iterator[tuple]:
    """The readable rows of `table` in rowid order (see the module docstring)."""
    select = f"SELECT rowid, {columns} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?"
    last = -(2**63)
    while True:
        try:
            rows = db.execute(select, (last, _CHUNK)).fetchall()
        except sqlite3.DatabaseError:
            found = _one_by_one(db, select, last, report)
            if found is None:
                return
            rows = found
        rows = [row for row in rows if row[0] > last]  # a damaged page may repeat rowids
        if not rows:
            return
        for row in rows:
            yield row[1:]
        last = rows[-1][0]
        report.readable += len(rows)
        if last >= _MAX_ROWID:
            return


def _seek_works(db: sqlite3.Connection, select: str, after: int) -> bool:
    try:
        db.execute(select, (after, 1)).fetchall()
    except sqlite3.DatabaseError:
        return False
    return True


def _one_by_one(
    db: sqlite3.Connection, select: str, last: int, report: TableReport
) -> list[tuple] | None:
    """Rows after `last` read one at a time until the damage; past it, the first rowid a
    seek can reach. None once nothing more can be reached."""
    rows: list[tuple] = []
    while len(rows) < _CHUNK:
        try:
            found = db.execute(select, (last, 1)).fetchall()
        except sqlite3.DatabaseError:
            break
        if not found or found[0][0] <= last:
            return rows or None
        rows += found
        last = found[0][0]
    else:
        return rows
    if rows:
        return rows
    # `last` is followed by damage: the least rowid past which a seek works (seeks
    # from `low` fail, from `high` work), found by doubling steps then halving
    low, step = last, 1
    while True:
        high = min(last + step, _MAX_ROWID)
        if _seek_works(db, select, high):
            break
        if high == _MAX_ROWID:
            return None
        low, step = high, step * 2
    while high - low > 1:
        middle = (low + high) // 2
        if _seek_works(db, select, middle):
            high = middle
        else:
            low = middle
    try:
        found = db.execute(select, (high, _CHUNK)).fetchall()
    except sqlite3.DatabaseError:
        return None
    first = found[0][0] if found else None
    report.lost += 1 if first is None else max(first - last - 1, 1)
    return found or None


_EVENT_COLUMNS = "episode, seq, kind, agent, step, json"


def _event_row(row: tuple[Any, ...], episode_id: str | None) -> tuple[Any, ...] | None:
    """An events row `(episode, seq, kind, agent, step, json)` with its texts decoded,
    or None when it is garbage: text that is not UTF-8, JSON that does not parse or
    disagrees with the row's columns (or with `episode_id`, when given)."""
    episode, seq, kind, agent, step, text = row
    try:
        kind, agent, text = _text(kind), _text(agent), _text(text)
        parsed = json.loads(text or "")
        ok = (
            isinstance(parsed, dict)
            and isinstance(episode, int)
            and isinstance(step, int)
            and parsed.get("seq") == seq
            and parsed.get("kind") == kind
            and parsed.get("agent") == agent
            and parsed.get("step") == step
            and (episode_id is None or parsed.get("episode_id") == episode_id)
        )
    except (UnicodeDecodeError, ValueError):
        return None
    return (episode, seq, kind, agent, step, text) if ok else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()  # UnicodeDecodeError: the caller drops the row
    return str(value)


def check_store(path: str | Path, *, repair: bool = True) -> DoctorReport:
    """Check a store file (see the module docstring); `repair`: mark the runs left
    running interrupted and drop dead leases when the file is sound."""
    path = Path(path)
    db = _connect(path)
    try:
        report = DoctorReport(path=path, problems=_integrity(db))
        owners = _owners(db)
        seqs: dict[int, set[int]] = {}
        """Episode id -> the seqs of its events that read well."""
        for table in TABLES:
            entry = report.tables[table] = TableReport(table)
            try:
                if table == "events":  # read as a recovery would: garbage counts as lost
                    for row in _rows(db, table, _EVENT_COLUMNS, entry):
                        if _event_row(row, None) is None:
                            entry.lost += 1
                            entry.readable -= 1
                        else:
                            seqs.setdefault(row[0], set()).add(row[1])
                else:
                    for _ in _rows(db, table, "*", entry):  # payloads too: overflow pages
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
        for episode, run_id, episode_id, n_events, status in _rows(db, "episodes", select, entry):
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
                (_LEFT_RUNNING, now, run_id),
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
    source, target = _connect(path), sqlite3.connect(out, isolation_level=None)
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
    for row in _rows(source, "runs", columns, report):
        try:
            values: list[Any] = [_text(v) if isinstance(v, bytes) else v for v in row]
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
    for row in _rows(source, "episodes", columns, report):
        try:
            values: list[Any] = [_text(v) if isinstance(v, bytes) else v for v in row]
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
    for row in _rows(source, "events", _EVENT_COLUMNS, report):
        owner = episodes.get(row[0])
        checked = None if owner is None else _event_row(row, owner[1])
        if checked is None:
            report.lost += 1
            report.readable -= 1
            continue
        batch.append(checked)
        found.setdefault(checked[0], []).append((checked[1], checked[2]))
        if len(batch) >= _CHUNK:
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
                else _LEFT_RUNNING
            )
            target.execute(
                "UPDATE runs SET status = 'interrupted', reason = ?, updated_at = ? "
                "WHERE run_id = ?",
                (reason, now, run_id),
            )
            report.interrupted.append(run_id)
            if status == "running" and run_id not in report.left_running:
                report.left_running.append(run_id)
