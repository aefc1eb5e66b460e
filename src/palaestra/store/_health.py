"""Store health: telling a damaged store, a full disk and other SQLite failures apart,
and checking a store that was not closed cleanly.

SQLite reports a damaged file (a page overwritten, a file cut short, something that is
not a database) as `sqlite3.DatabaseError` with the codes `SQLITE_CORRUPT` or
`SQLITE_NOTADB`; a full disk (or a store at its size limit) as `SQLITE_FULL`.
`database_error` turns these into errors that say what to do, so that no command dies on
a raw `sqlite3.DatabaseError`: a damaged store is a `UserError` that names the file and
points to `palaestra doctor`, a full disk a `StoreError` that says nothing committed is
lost and how to go on.

*Not closed cleanly* means here: a lease is left by a process that is gone (a writer
killed, or stopped by a failure before it could close the store). Every write of a run
happens under its lease and a clean close releases it, so a dead holder's lease is the
trace of a writer that did not finish (a store migrated from version 2 with a run
still `running` counts too). Such a store gets `PRAGMA quick_check` when opened, once
per dead lease (the tokens checked are kept in `meta`), and a resumed run checks it
again before trusting which episodes are finished.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from palaestra.core import PalaestraError, StoreError, UserError

_DAMAGED = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}
_FULL = "SQLITE_FULL"
CHECKED_KEY = "checked_dead_leases"
"""`meta` key: tokens of dead holders' leases whose store passed `quick_check`."""


def error_name(exc: BaseException) -> str:
    """`SQLITE_CORRUPT`, `SQLITE_FULL`, ...: the SQLite result code of `exc` ('' when it
    has none)."""
    name = getattr(exc, "sqlite_errorname", None)
    if isinstance(name, str):
        return "_".join(name.split("_")[:2])  # the primary code of an extended one
    return ""


def is_damaged(exc: BaseException) -> bool:
    """Whether `exc` says the file is damaged (or is not a database at all)."""
    if error_name(exc) in _DAMAGED:
        return True
    text = str(exc)
    return "malformed" in text or "not a database" in text


def doctor_hint(path: Path) -> str:
    return (
        f"check it with `palaestra doctor {path}`; `palaestra doctor {path} --recover "
        f"NEW.db` copies what can still be read into a new store"
    )


def damaged_error(path: Path, detail: str) -> UserError:
    """The error of a damaged store file."""
    detail = " ".join(detail.split())  # one line
    return UserError(f"store {path} is damaged ({detail}); {doctor_hint(path)}")


def full_message(path: Path, detail: str) -> str:
    return (
        f"store {path}: the disk is full, or the store reached its size limit ({detail}); "
        f"nothing already committed is lost: free space, then run the same command with the "
        f"same --run-id to resume"
    )


def database_error(path: Path, exc: sqlite3.Error, doing: str) -> PalaestraError:
    """The palaestra error for an SQLite failure while `doing` something with `path`."""
    if is_damaged(exc):
        return damaged_error(path, f"{exc}, while {doing}")
    if error_name(exc) == _FULL or "database or disk is full" in str(exc):
        return StoreError(full_message(path, f"{exc}, while {doing}"))
    return StoreError(f"store {path}: {doing} failed: {exc}")


def reported_error(path: Path, message: str, doing: str) -> PalaestraError:
    """`database_error` for a failure the writer process reported as text (`SQLITE_X
    Type: message`, see `_writer_child`)."""
    code = message.split(" ", 1)[0]
    if code in _DAMAGED or "malformed" in message:
        return damaged_error(path, f"{message}, while {doing}")
    if code == _FULL:
        return StoreError(full_message(path, f"{message}, while {doing}"))
    if code.startswith("SQLITE_"):
        message = message.split(" ", 1)[1]
    return StoreError(f"store {path}: {doing} failed: {message}")


def quick_check(db: sqlite3.Connection, *, thorough: bool = False) -> list[str]:
    """SQLite's `quick_check` (or, `thorough`, `integrity_check`, which also compares
    indexes with their tables): the problems found, [] for a sound file. A file too
    damaged to be checked reports that as its problem."""
    pragma = "integrity_check" if thorough else "quick_check"
    try:
        rows = db.execute(f"PRAGMA {pragma}(100)").fetchall()
    except sqlite3.DatabaseError as exc:
        return [f"{pragma} could not run: {exc}"]
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else found


def check_on_open(db: sqlite3.Connection, path: Path, *, migrated: bool) -> None:
    """`quick_check` a store that was not closed cleanly (see the module docstring);
    raises `damaged_error` when it finds problems."""
    from palaestra.store._lease import read_leases

    dead = sorted({lease.token for lease in read_leases(db) if not lease.alive()})
    unleased = migrated and db.execute("SELECT 1 FROM runs WHERE status = 'running'").fetchone()
    if not dead and not unleased:
        return
    found = db.execute("SELECT value FROM meta WHERE key = ?", (CHECKED_KEY,)).fetchone()
    if not unleased and found is not None and set(dead) <= set(found[0].split()):
        return  # checked when first seen
    problems = quick_check(db)
    if problems:
        shown = "; ".join(problems[:3]) + (
            f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        )
        raise damaged_error(path, f"it was not closed cleanly, and quick_check found: {shown}")
    try:  # only the dead leases of now: the list does not grow
        db.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (CHECKED_KEY, " ".join(dead))
        )
    except sqlite3.Error:  # a read-only file: checked again next time
        pass
