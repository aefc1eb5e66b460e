"""Run leases: one process writes a run at a time.

Two `palaestra run --run-id X` on one store would otherwise both write run X: the second
restarts episodes the first is still writing (deleting their events), and the first
dies on a duplicate key. So a process that writes a run first takes its *lease*, one
row of the `leases` table naming the holder: its pid, its host, the start time of that
pid (so a pid reused after a crash is not mistaken for the holder), a random token of
the `Store` object that holds it, when it took it and its last heartbeat.

A lease is taken over only from a holder that is dead: on the same host, its pid is
gone (or is a zombie, or is another process that reused the pid); on another host
(a store on a shared file system), its heartbeat is older than `STALE_AFTER_S`. A live
holder makes `acquire` raise a `UserError` that names it, in a transaction that changes
nothing. The lease is released when the run finishes and when its store closes; a holder
killed with `kill -9` leaves it, and the next resume of the run takes it over; a
store that closes gives its leases back even when its last write failed.

Every batch the store writes is *fenced*: its transaction first runs `CHECK_LEASE`
(which also refreshes the heartbeat) for each run it touches, and is rolled back if the
lease is no longer this store's. So a holder that lost its lease (taken over because its
heartbeat stopped) cannot write over the new holder's episodes. `Heartbeat` refreshes the
leases of a store every `HEARTBEAT_S` in a thread of its own, so that a run whose model
is slow (nothing written for minutes) keeps its lease; the per-event path never sees a
lease.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from palaestra.core import UserError

logger = logging.getLogger(__name__)

HEARTBEAT_S = 10.0
"""Seconds between two heartbeats of a store's leases (besides those of its batches)."""
STALE_AFTER_S = 60.0
"""A lease held from another host is taken over once its heartbeat is this old."""

HOST = socket.gethostname()

_COLUMNS = "run_id, pid, host, proc_start, token, started_at, heartbeat_at"
SELECT_LEASES = f"SELECT {_COLUMNS} FROM leases"
CHECK_LEASE = "UPDATE leases SET heartbeat_at = ? WHERE run_id = ? AND token = ?"
"""Run first in every batch for each run the batch touches: one row changed means the
batch's store still holds the run's lease (and its heartbeat is now)."""
_TAKE = f"INSERT OR REPLACE INTO leases ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"


def process_start(pid: int) -> str:
    """When process `pid` started, in clock ticks since boot (`/proc/PID/stat` field
    22); '' where that cannot be read (not Linux)."""
    stat = _stat(pid)
    return "" if stat is None else stat[1]


def _stat(pid: int) -> tuple[str, str] | None:
    """(state, start time) of a process from `/proc`, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (command) "
    return fields[0], fields[19]


_STARTS: dict[int, str] = {}
"""This process's start time, by pid (a forked child is another pid, started later)."""


def _own_start() -> str:
    pid = os.getpid()
    found = _STARTS.get(pid)
    if found is None:
        found = _STARTS[pid] = process_start(pid)
    return found


_RETIRED: set[str] = set()
"""Tokens of the stores this process has closed: their leases are dead."""


def retire(token: str) -> None:
    """Mark the leases of a store that is closing as dead (even if giving them back
    fails: a full disk, say)."""
    _RETIRED.add(token)


@dataclass(frozen=True)
class Lease:
    """One run's lease: who writes the run now."""

    run_id: str
    pid: int
    """Process id of the holder."""
    host: str
    """Host name of the holder (`socket.gethostname()`)."""
    proc_start: str
    """Start time of the holder's pid ('' where unknown): tells a reused pid apart."""
    token: str
    """Random id of the `Store` object holding the lease (fences its writes)."""
    started_at: float
    """Unix time the lease was taken."""
    heartbeat_at: float
    """Unix time of the holder's last heartbeat."""

    def alive(self, now: float | None = None) -> bool:
        """Whether the holder may still be writing (see the module docstring)."""
        if self.token in _RETIRED and self.pid == os.getpid() and self.host == HOST:
            return False  # a closed store of this process
        if self.host == HOST:
            return pid_alive(self.pid, self.proc_start)
        return (time.time() if now is None else now) - self.heartbeat_at < STALE_AFTER_S

    def describe(self, now: float | None = None) -> str:
        """'pid N on HOST since T (heartbeat S s ago)'."""
        now = time.time() if now is None else now
        since = datetime.fromtimestamp(self.started_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return (
            f"pid {self.pid} on {self.host} since {since} "
            f"(heartbeat {max(now - self.heartbeat_at, 0.0):.0f} s ago)"
        )


def pid_alive(pid: int, proc_start: str = "") -> bool:
    """Whether process `pid` of this host runs and is the one that started at
    `proc_start` (when given and readable)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        pass
    stat = _stat(pid)
    if stat is None:  # no /proc: trust the signal test
        return True
    state, start = stat
    if state in ("Z", "X"):  # exited, not yet reaped by its parent
        return False
    return not proc_start or start == proc_start


def read_leases(db: sqlite3.Connection) -> list[Lease]:
    """Every lease in the store."""
    return [Lease(*values) for values in db.execute(SELECT_LEASES).fetchall()]


def busy_error(lease: Lease, path: Path) -> UserError:
    alive_how = (
        "a process of this host that is still running"
        if lease.host == HOST
        else f"another host; it is taken over once its heartbeat is {STALE_AFTER_S:.0f} s old"
    )
    return UserError(
        f"run {lease.run_id!r} is being written by {lease.describe()} ({alive_how}) in store "
        f"{path}; wait for it to finish, or stop that process (a killed run is taken over "
        f"by the next `palaestra run` with the same --run-id, which resumes it), or give "
        f"another --run-id"
    )


def acquire(db: sqlite3.Connection, run_id: str, token: str, path: Path) -> Lease | None:
    """Take the lease of `run_id` for `token` in one transaction on `db` (no other
    transaction may be open on it). Returns the dead holder's lease when one was taken
    over, else None; raises `busy_error` (changing nothing) when a live holder has it."""
    now = time.time()
    db.execute("BEGIN IMMEDIATE")
    try:
        found = db.execute(SELECT_LEASES + " WHERE run_id = ?", (run_id,)).fetchone()
        previous = None if found is None else Lease(*found)
        if previous is not None:
            if previous.token == token:
                db.execute("ROLLBACK")
                return None
            if previous.alive(now):
                raise busy_error(previous, path)
        db.execute(_TAKE, (run_id, os.getpid(), HOST, _own_start(), token, now, now))
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    if previous is not None:
        logger.warning(
            "run %r: taking over the lease of %s, which is no longer running",
            run_id,
            previous.describe(now),
        )
    return previous


def release(db: sqlite3.Connection, token: str, run_ids: list[str] | None = None) -> None:
    """Drop the leases `token` holds (of `run_ids`, or all), in one transaction."""
    if run_ids is None:
        db.execute("DELETE FROM leases WHERE token = ?", (token,))
        return
    db.executemany(
        "DELETE FROM leases WHERE run_id = ? AND token = ?", [(r, token) for r in run_ids]
    )


def lost_message(db: sqlite3.Connection, run_id: str) -> str:
    """Why a batch of `run_id` was refused by `CHECK_LEASE`: who holds the lease now."""
    found = db.execute(SELECT_LEASES + " WHERE run_id = ?", (run_id,)).fetchone()
    holder = "nobody holds it now" if found is None else f"held by {Lease(*found).describe()}"
    return (
        f"this process no longer holds the lease of run {run_id!r} ({holder}): another "
        f"process took the run over, so nothing more of it is written from here"
    )


class Heartbeat:
    """Refreshes the `heartbeat_at` of the leases one store holds, every `HEARTBEAT_S`,
    in a daemon thread with its own connection (one tiny transaction each time)."""

    def __init__(self, path: Path, token: str, interval_s: float = HEARTBEAT_S) -> None:
        self._path = path
        self._token = token
        self._interval_s = interval_s
        self._stop = threading.Event()
        self.beats = 0
        """Heartbeats written (for tests)."""
        self._thread = threading.Thread(
            target=self._run, name=f"palaestra-lease:{path.name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            logger.warning("no lease heartbeats for %s: %s", self._path, exc)
            return
        try:
            conn.execute("PRAGMA busy_timeout=10000")
            while not self._stop.wait(self._interval_s):
                try:
                    conn.execute(
                        "UPDATE leases SET heartbeat_at = ? WHERE token = ?",
                        (time.time(), self._token),
                    )
                    self.beats += 1
                except sqlite3.Error as exc:  # retried at the next beat
                    logger.debug("lease heartbeat failed for %s: %s", self._path, exc)
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
