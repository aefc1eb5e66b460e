"""The store's background writer: one thread, its own SQLite connection, one write
transaction per batch handed to it.

SQLite releases the GIL while it executes a statement, so with the writes on this thread
the event loop keeps running episodes on one core while the other inserts the previous
batch. Batches are written in the order handed over; `wait()` blocks until all are
written and re-raises the first failure.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from palaestra.core import StoreError

Job = Callable[[sqlite3.Connection], None]
"""Writes one batch inside an open transaction."""


class Writer:
    """A thread that runs write jobs, each in one transaction, in order."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._pending = 0
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"palaestra-store:{path.name}")
        self._thread.daemon = True
        self._ready = threading.Event()
        self._open_error: BaseException | None = None
        self._thread.start()
        self._ready.wait()
        if self._open_error is not None:
            raise StoreError(f"cannot open store {path} for writing: {self._open_error}")

    def submit(self, job: Job, *, max_pending: int | None = None) -> None:
        """Hand a batch over; returns at once unless `max_pending` batches are already
        waiting (back-pressure: then it waits for one). A pending failure is raised."""
        self.raise_error()
        with self._idle:
            while max_pending is not None and self._pending >= max_pending:
                self._idle.wait()
            self._pending += 1
        self._queue.put(job)

    def wait(self) -> None:
        """Block until every submitted batch is written; raise the first failure."""
        with self._idle:
            while self._pending:
                self._idle.wait()
        self.raise_error()

    def raise_error(self) -> None:
        error = self._error
        if error is not None:
            self._error = None
            if isinstance(error, StoreError):
                raise error
            raise StoreError(f"store {self.path}: a background write failed: {error}") from error

    def close(self) -> None:
        """Write what is pending, stop the thread."""
        self._queue.put(None)
        self._thread.join()
        self.raise_error()

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
        except BaseException as exc:  # reported by the constructor
            self._open_error = exc
            self._ready.set()
            return
        self.conn = conn
        """The writer's connection (tests trace its statements)."""
        self._ready.set()
        try:
            while True:
                job = self._queue.get()
                if job is None:
                    return
                try:
                    if self._error is None:  # after a failure, later batches are dropped
                        self._transact(conn, job)
                except BaseException as exc:
                    self._error = exc
                finally:
                    with self._idle:
                        self._pending -= 1
                        self._idle.notify_all()
        finally:
            conn.close()

    @staticmethod
    def _transact(conn: sqlite3.Connection, job: Job) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            job(conn)
        except BaseException:
            if conn.in_transaction:  # SQLite may have rolled back already
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
