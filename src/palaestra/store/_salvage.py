"""Reading a damaged store file row by row: what `palaestra doctor` checks and copies.

A damaged page makes SQLite fail any statement that reaches it. `rows` reads a table in
rowid order, a few hundred rows at a time; a read that fails is retried a row at a time,
and past the damage it searches (doubling, then halving the step) for the least rowid
from which a B-tree seek works again: the rows in between are counted lost. A page
overwritten with bytes SQLite still reads yields garbage rows: `event_row` keeps an
events row only when its text is UTF-8 and its JSON parses and agrees with its columns.
Texts are read as bytes (`connect`), so text that is not UTF-8 loses its row, not the
scan.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from palaestra.core import UserError

CHUNK = 500
"""Rows read per statement."""


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


def connect(path: Path) -> sqlite3.Connection:
    """A connection to a store file that may be damaged (texts read as bytes)."""
    if not path.is_file():
        raise UserError(f"no store file at {path}; give the path of a palaestra store (.db)")
    try:
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA busy_timeout=10000")
    except sqlite3.Error as exc:
        raise UserError(f"cannot open {path}: {exc}") from exc
    db.text_factory = bytes  # a damaged page may hold text that is not UTF-8
    return db


_MAX_ROWID = 2**63 - 1


def rows(db: sqlite3.Connection, table: str, columns: str, report: TableReport) -> Iterator[tuple]:
    """The readable rows of `table` in rowid order (see the module docstring)."""
    select = f"SELECT rowid, {columns} FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT ?"
    last = -(2**63)
    while True:
        try:
            rows = db.execute(select, (last, CHUNK)).fetchall()
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
    while len(rows) < CHUNK:
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
        found = db.execute(select, (high, CHUNK)).fetchall()
    except sqlite3.DatabaseError:
        return None
    first = found[0][0] if found else None
    report.lost += 1 if first is None else max(first - last - 1, 1)
    return found or None


EVENT_COLUMNS = "episode, seq, kind, agent, step, json"


def event_row(row: tuple[Any, ...], episode_id: str | None) -> tuple[Any, ...] | None:
    """An events row `(episode, seq, kind, agent, step, json)` with its texts decoded,
    or None when it is garbage: text that is not UTF-8, JSON that does not parse or
    disagrees with the row's columns (or with `episode_id`, when given)."""
    episode, seq, kind, agent, step, text = row
    try:
        kind, agent, text = as_text(kind), as_text(agent), as_text(text)
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


def as_text(value: Any) -> str | None:
    """A column's text read as bytes, decoded (`UnicodeDecodeError` for garbage)."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()  # UnicodeDecodeError: the caller drops the row
    return str(value)
