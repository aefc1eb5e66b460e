"""`Store`: the event store, one SQLite file (WAL mode) holding runs, episodes and events.

Writing is the hot path: the runner appends every event of every concurrent episode.
`append` serialises each event at once (`Event.to_json`, so later mutation of the object
cannot change what is stored; the runner hands rows it already serialised to
`append_rows`) into an in-memory buffer. Episode starts and finish markers are buffered
too, and everything is written in one transaction — starts, then events with multi-row
INSERTs, then finish markers — whenever the buffer holds `batch_size` events, 256
finishes are waiting, `flush_interval_s` has passed, or a read needs the file current.
One transaction per batch rather than per episode is what keeps short episodes cheap.

Event rows refer to their episode by its integer `episodes.id` (see `_schema`), which is
known only once the episode's start is written (its upsert returns it). So the buffer
holds runs of one episode's rows, as they were appended, under their (run_id,
episode_id) key, and the key is swapped for the integer when the batch is written:
starts first (their ids come back), then the events. An appended run is checked as a
whole (one episode, dense seqs) with C-level passes over it: the runner appends a step's
events at a time, and a Python loop per row cost a visible share of a model call
(docs/benchmarks.md). The store keeps
key -> id for the episodes it has running, and forgets an episode's id once its finish
marker is written.

Durability rule: an episode is marked finished in the *same* transaction that writes its
last buffered events (or a later one), so after a crash (kill -9 included) every episode
that reads as finished has all its events, and `n_events` says how many. A crash loses
at most the last `flush_interval_s` of buffered work: those episodes read as running (or
absent) and a resumed run does them again. Events of an unfinished episode may be partly
stored; `start_episode` drops them when the episode is run again. With
`synchronous=NORMAL` in WAL mode a committed transaction survives the process being
killed; an operating-system crash or power loss may lose the last transactions, never
corrupt the file.

Every method is synchronous and short (the runner calls them from the event loop). Once
a full batch has been buffered (a long run; short ones never get there), batches are
written by a writer process (`_writer`, `writer_process=True`, the default) while the
caller goes on: SQLite's work (the multi-row INSERTs and the COMMIT's WAL write, per
row: docs/benchmarks.md) leaves the event loop, whose
cost of a batch becomes joining its texts and one write to a pipe. Anything that reads
the file, `flush` and `close` wait for what was sent to be committed. A batch stays in
memory until the writer confirms it: if the writer reports an error or dies, every
batch it did not confirm goes back in front of the buffers (a later write, by a new
writer, retries them) and the error is raised at the next call; an append keeps its
rows either way. A writer *thread* was tried first and gained nothing steady: SQLite
releases the GIL for each statement step, and the hand-offs of the GIL between the
writer and the busy event loop cost the loop about what the write did.
`writer_process=False` writes every batch in the calling thread. Checkpoints (copying
the WAL into the database file) are one statement each: the writer
process runs them between its batches, and batches written here have them run in a
background thread (`_Checkpointer`, its own connection), both `PASSIVE` (writers never
wait for them) every `_CHECKPOINT_ROWS` events; SQLite's own automatic checkpoint,
which would run inside our COMMITs, is off. `close` ends the writer, stops the
checkpointer and checkpoints the rest, so a closed store is one self-contained file.
A lock makes a store safe to share between threads.

One process writes a run at a time: writing a run first takes its lease (`_lease`), and
every batch checks in its transaction that the lease is still this store's; `close`
gives the leases back. SQLite's failures reach callers as errors that say what to do
(`_health`): a damaged file names `palaestra doctor`, a full disk says nothing committed
is lost; a store left by a writer that died is checked (`quick_check`) when opened.
"""

from __future__ import annotations

import json
import logging
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from types import TracebackType
from typing import Any

from palaestra.core import (
    EpisodeLog,
    Event,
    EventRow,
    PalaestraError,
    StoreError,
    UserError,
    decode_event,
    event_row,
)
from palaestra.store import _lease
from palaestra.store._health import check_on_open, damaged_error, database_error, quick_check
from palaestra.store._rows import RUN_STATUSES, EpisodeRow, EpisodeSummary, RunRow
from palaestra.store._schema import (
    EPISODE_COLUMNS,
    INSERT_EPISODE,
    INSERT_EVENTS,
    INSERT_RUN,
    PAGE_SIZE,
    ROWS_PER_INSERT,
    SELECT_EPISODE,
    SELECT_RUN,
    UPSERT_EPISODE,
    compact_json,
    episode_from_values,
    init_schema,
    insert_event_runs,
    run_from_values,
    run_values,
    start_values,
)
from palaestra.store._summary import summarise
from palaestra.store._writer import Batch as _Batch
from palaestra.store._writer import WriterProcess

_Key = tuple[str, str]
"""(run_id, episode_id)."""
_Row = EventRow
"""An appended event row: (episode_id, seq, kind, agent, step, json)."""
_Run = tuple[_Key, Sequence[_Row]]
"""Buffered rows of one episode, in seq order, with the episode's key."""
_EPISODE = itemgetter(0)
_SEQ = itemgetter(1)

_FINISH_EPISODE = (
    "UPDATE episodes SET status = 'finished', outcome = ?, reason = ?, score = ?, success = ?, "
    "total_reward = ?, steps = ?, n_events = ?, input_tokens = ?, output_tokens = ?, "
    "wall_s = ?, hash = ?, error = ?, agents = COALESCE(?, agents), finished_at = ? "
    "WHERE run_id = ? AND episode_id = ? AND status = 'running'"
)
_WRITER_SQL = {  # (sent with ROWS_PER_INSERT, `_CHECKPOINT_ROWS`, `_WAL_RESTART_FRAMES`)
    "insert_episode": INSERT_EPISODE,
    "upsert_episode": UPSERT_EPISODE,
    "finish_episode": _FINISH_EPISODE,
    "insert_events": INSERT_EVENTS,
    "check_lease": _lease.CHECK_LEASE,
}
"""The statements the writer process runs (it imports nothing of palaestra)."""
_SELECT_EVENTS_BY_ID = "SELECT json FROM events WHERE episode = ? ORDER BY seq"
_SELECT_EVENTS = (
    "SELECT json FROM events WHERE episode = "
    "(SELECT id FROM episodes WHERE run_id = ? AND episode_id = ?) ORDER BY seq"
)

logger = logging.getLogger(__name__)

_CHECKPOINT_ROWS = 10_000
"""Events written between two background checkpoints (~4 MB of WAL)."""
_WAL_RESTART_FRAMES = 4096
"""A WAL longer than this (64 MB of 16 KiB pages) after a checkpoint that could not
catch up with the writer is restarted (`wal_checkpoint(RESTART)`: writers wait for it)."""


class _Checkpointer:
    """Copies the WAL into the database file in a daemon thread, on request.

    A checkpoint is one SQLite call that releases the GIL for its whole length, so it
    runs beside the event loop instead of inside one of its COMMITs.
    """

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA busy_timeout=10000")
        self._wake = threading.Event()
        self._stopping = False
        self.done = 0
        """Checkpoints run (for tests and benchmarks)."""
        self._thread = threading.Thread(
            target=self._run, name=f"palaestra-checkpoint:{path.name}", daemon=True
        )
        self._thread.start()

    def request(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                _, log, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if log > _WAL_RESTART_FRAMES and copied < log:
                    self._conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                self.done += 1
            except sqlite3.Error as exc:  # nothing is lost: the WAL keeps it all
                logger.debug("background checkpoint failed: %s", exc)

    def stop(self) -> None:
        """Stop the thread (after the checkpoint in progress) and close its connection."""
        self._stopping = True
        self._wake.set()
        self._thread.join()
        self._conn.close()


def _committed(db: sqlite3.Connection, batch: _Batch) -> bool:
    """Whether the file holds `batch` (written in one transaction: all of it or none).

    Told by its first event (the same JSON text, time stamps included, at the same
    seq of the same episode: an earlier try of the episode has other times), else by
    its first finish marker (the same `finished_at`), else by its first start (the
    same `started_at`)."""
    starts, runs, _, finishes = batch
    if runs:
        (run_id, episode_id), rows = runs[0]
        found = db.execute(
            "SELECT ev.json FROM events AS ev JOIN episodes AS ep ON ev.episode = ep.id "
            "WHERE ep.run_id = ? AND ep.episode_id = ? AND ev.seq = ?",
            (run_id, episode_id, rows[0][1]),
        ).fetchone()
        return found is not None and found[0] == rows[0][5]
    if finishes:
        values = finishes[0]
        found = db.execute(
            "SELECT finished_at FROM episodes WHERE run_id = ? AND episode_id = ? "
            "AND status = 'finished'",
            (values[-2], values[-1]),
        ).fetchone()
        return found is not None and found[0] == values[-3]
    if starts:
        values, _ = next(iter(starts.values()))
        found = db.execute(
            "SELECT started_at FROM episodes WHERE run_id = ? AND episode_id = ?",
            (values[0], values[1]),
        ).fetchone()
        return found is not None and found[0] == values[EPISODE_COLUMNS.index("started_at")]
    return True  # an empty batch: nothing to write again


def _sqlite_header(path: Path) -> bool:
    """Whether the file begins as an SQLite database does (one that does not is some
    other file, not a damaged store)."""
    try:
        with path.open("rb") as file:
            return file.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


class Store:
    """The event store of runs, episodes and their events, in one SQLite file.

    Use it as a context manager (or call `close`) so that buffered events are written.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        batch_size: int = 2000,
        flush_interval_s: float = 1.0,
        writer_process: bool = True,
        max_bytes: int | None = None,
    ) -> None:
        if max_bytes is not None and max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.path = Path(path)
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        """Buffered writes older than this are written at the next append or finish."""
        self.writer_process = writer_process
        """Once a full batch is buffered, write batches from a writer process while the
        caller goes on (see `_writer`); False writes them in the calling thread."""
        self.max_bytes = max_bytes
        """A cap on the file's size (SQLite's `max_page_count`, set on every connection
        that writes): a write past it fails as on a full disk (docs/store.md). None:
        no cap."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        try:
            conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a new file only: before WAL
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"store {self.path}: SQLite refused WAL mode (got {mode!r})")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=10000")
            conn.execute("PRAGMA wal_autocheckpoint=0")  # the `_Checkpointer` does it
            if max_bytes is not None:
                conn.execute(f"PRAGMA max_page_count = {self._max_pages(conn)}")
            migrated = init_schema(conn, self.path)
            check_on_open(conn, self.path, migrated=migrated is not None)
        except sqlite3.DatabaseError as exc:
            conn.close()
            if "file is not a database" in str(exc) and not _sqlite_header(self.path):
                raise StoreError(f"{self.path} is not a palaestra store: {exc}") from exc
            raise database_error(self.path, exc, "opening it") from exc
        except BaseException:
            conn.close()
            raise
        self._conn: sqlite3.Connection | None = conn
        self._lock = threading.RLock()
        self._buffer: list[_Run] = []
        self._buffered = 0
        """Event rows in `_buffer`."""
        self._starts: dict[_Key, tuple[tuple[Any, ...], bool]] = {}
        """Episode (re)starts not yet written: key -> episode row values."""
        self._finishes: list[tuple[Any, ...]] = []
        """Finish markers not yet written (written after the buffered events)."""
        self._next_seq: dict[_Key, int] = {}
        """Episodes started by this store object and not yet finished -> next seq."""
        self._episode_ids: dict[_Key, int] = {}
        """`episodes.id` of the episodes whose start is written and finish is not."""
        self._known_runs: set[str] = set()
        self._finished: dict[str, set[str]] = {}
        self._seen: dict[str, set[str]] = {}
        """Finished episode ids per run, loaded on first use and kept current."""
        self._last_write = time.monotonic()
        self._checkpointer: _Checkpointer | None = None
        self._rows_since_checkpoint = 0
        self._writer: WriterProcess | None = None
        self._token = secrets.token_hex(8)
        """Identifies this store object in the leases it holds (`_lease`)."""
        self._leases: set[str] = set()
        """Runs whose lease this store holds."""
        self._heartbeat: _lease.Heartbeat | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        """Write buffered events and close the file. Closing twice is harmless."""
        with self._lock:
            if self._conn is None:
                return
            try:
                self._flush_locked()
            finally:
                # this store writes nothing more, whether or not its last batch could be
                # written: its leases go (a run that could not write its end is marked
                # by the runner), and if giving them back fails too, they read as dead
                # (`_lease.retire`) and the next writer of the run takes them over
                _lease.retire(self._token)
                try:
                    self._release_locked(None)
                except PalaestraError as exc:
                    logger.warning("%s: the leases of this store stay behind: %s", self, exc)
                if self._heartbeat is not None:
                    self._heartbeat.stop()
                    self._heartbeat = None
                if self._writer is not None:
                    self._writer.close()  # (after a failed flush nothing is in flight)
                    self._writer = None
                if self._checkpointer is not None:
                    self._checkpointer.stop()
                    self._checkpointer = None
                self._conn.close()  # the last connection checkpoints the rest, drops the WAL
                self._conn = None

    def _max_pages(self, conn: sqlite3.Connection) -> int:
        """`max_bytes` in pages of this file."""
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        return max(1, (self.max_bytes or 0) // page_size)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r})"

    @property
    def _db(self) -> sqlite3.Connection:
        """The connection, once what the writer process was sent is committed."""
        if self._conn is None:
            raise StoreError(f"store {self.path} is closed")
        if self._writer is not None:
            self._wait_for_writer()
        return self._conn

    @contextmanager
    def _transaction(self, *, flush: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction (buffered events are flushed before it starts, unless
        not `flush`)."""
        with self._lock, self._sqlite("writing"):
            if flush:
                self._flush_locked()
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:  # SQLite may have rolled back already
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def _sqlite(self, doing: str) -> Iterator[None]:
        """SQLite's failures as errors that say what to do (`_health.database_error`): a
        damaged file names `palaestra doctor`, never a raw `sqlite3.DatabaseError`."""
        try:
            yield
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError):
            raise  # misuse of the connection: a bug, not the file
        except sqlite3.DatabaseError as exc:
            raise database_error(self.path, exc, doing) from exc

    # -- leases ------------------------------------------------------------------------

    def lease_run(self, run_id: str) -> None:
        """Become the one process that writes `run_id` (see `_lease`): take its lease,
        or take it over from a holder that is dead. A live holder is a `UserError`
        naming it, and nothing is changed. Writing a run (`start_episode`,
        `set_run_status`) takes its lease first; `release_run` and `close` give it back."""
        with self._lock:
            if run_id in self._leases:
                return
            with self._sqlite("taking the lease of a run"):
                db = self._db
                _lease.acquire(db, run_id, self._token, self.path)
            self._leases.add(run_id)
            if self._heartbeat is None:
                self._heartbeat = _lease.Heartbeat(self.path, self._token)

    def release_run(self, run_id: str) -> None:
        """Write what is buffered, then give the run's lease back (another process may
        write the run from now on). Harmless for a run whose lease this store does not
        hold."""
        with self._lock:
            if run_id not in self._leases:
                return
            self._flush_locked()
            self._release_locked([run_id])

    def _release_locked(self, run_ids: list[str] | None) -> None:
        if not self._leases or self._conn is None:
            return
        with self._sqlite("giving back a run's lease"):
            _lease.release(self._db, self._token, run_ids)
        if run_ids is None:
            self._leases.clear()
        else:
            self._leases.difference_update(run_ids)

    def run_lease(self, run_id: str) -> _lease.Lease | None:
        """Who writes `run_id` now (its lease; held by a live process or not), or None."""
        with self._lock, self._sqlite("reading a run's lease"):
            found = self._db.execute(
                _lease.SELECT_LEASES + " WHERE run_id = ?", (run_id,)
            ).fetchone()
        return None if found is None else _lease.Lease(*found)

    def verify_integrity(self, *, thorough: bool = False) -> None:
        """Check the file with SQLite's `quick_check` (`thorough`: `integrity_check`);
        a damaged store is a `UserError` that names it and `palaestra doctor`. A resumed
        run calls this before trusting which of its episodes are finished."""
        with self._lock, self._sqlite("checking the file"):
            self._flush_locked()
            problems = quick_check(self._db, thorough=thorough)
        if problems:
            shown = "; ".join(problems[:3])
            more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
            raise damaged_error(self.path, f"its check found: {shown}{more}")

    # -- runs --------------------------------------------------------------------------

    def create_run(
        self, run_id: str, *, experiment: dict[str, Any], seed: int, name: str = ""
    ) -> bool:
        """Create a run; True if created, False if it exists with an equal experiment.

        A run that exists with another experiment or seed is a `UserError`: resuming it
        would mix two experiments in one run.
        """
        if not run_id:
            raise UserError("a run id must not be empty")
        try:
            normalised = json.loads(json.dumps(experiment))
        except (TypeError, ValueError) as exc:
            raise StoreError(f"run {run_id!r}: the experiment is not JSON data: {exc}") from exc
        with self._lock:
            existing = self.get_run(run_id)
            if existing is not None:
                if existing.experiment == normalised and existing.seed == seed:
                    return False
                differing = sorted(
                    key
                    for key in set(existing.experiment) | set(normalised)
                    if existing.experiment.get(key) != normalised.get(key)
                )
                what = (
                    f"its experiment differs in {', '.join(differing)}"
                    if differing
                    else f"its seed is {existing.seed}, not {seed}"
                )
                raise UserError(
                    f"run {run_id!r} already exists in {self.path} and {what}; use a new "
                    f"--run-id, or the same experiment and seed to resume it"
                )
            now = time.time()
            row = RunRow(
                run_id=run_id,
                name=name,
                seed=seed,
                experiment=normalised,
                status="running",
                created_at=now,
                updated_at=now,
            )
            with self._transaction() as db:
                db.execute(INSERT_RUN, run_values(row))
            return True

    def get_run(self, run_id: str) -> RunRow | None:
        """The run with this exact id, or None."""
        with self._lock, self._sqlite("reading a run"):
            values = self._db.execute(SELECT_RUN + " WHERE run_id = ?", (run_id,)).fetchone()
        return None if values is None else run_from_values(values)

    def list_runs(self) -> list[RunRow]:
        """All runs, newest first."""
        with self._lock, self._sqlite("listing runs"):
            rows = self._db.execute(SELECT_RUN + " ORDER BY created_at DESC, rowid DESC")
            return [run_from_values(values) for values in rows.fetchall()]

    def set_run_status(self, run_id: str, status: str, *, reason: str | None = None) -> None:
        """Set a run's status: running, finished, failed or interrupted, with the
        `reason` a run that is not finished stopped (kept in `RunRow.reason`).

        `finished` writes everything buffered first. The other statuses do not wait for
        buffered events: marking a run interrupted must work when writing them is what
        failed (a full disk); those events are still buffered, and written or lost with
        the store."""
        if status not in RUN_STATUSES:
            raise StoreError(
                f"unknown run status {status!r}; valid choices: {', '.join(RUN_STATUSES)}"
            )
        with self._lock:
            self.lease_run(run_id)
            finishing = status == "finished"
            if not finishing:
                try:
                    self._wait_for_writer()
                except PalaestraError:  # its batches are buffered again: written later
                    pass
            with self._transaction(flush=finishing) as db:
                cursor = db.execute(
                    "UPDATE runs SET status = ?, updated_at = ?, reason = ? WHERE run_id = ?",
                    (status, time.time(), None if status == "running" else reason, run_id),
                )
                if cursor.rowcount != 1:
                    raise StoreError(f"no run {run_id!r} in store {self.path}")

    def resolve_run(self, ref: str) -> RunRow:
        """The run named by `ref`: an exact id, a unique id prefix, or `last` (newest)."""
        runs = self.list_runs()
        if not runs:
            raise UserError(f"no runs in store {self.path} yet; start one with `palaestra run`")
        if ref == "last":
            return runs[0]
        for run in runs:
            if run.run_id == ref:
                return run
        matches = [run for run in runs if ref and run.run_id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise UserError(
                f"run reference {ref!r} is ambiguous in {self.path}: runs "
                f"{', '.join(run.run_id for run in matches)} all begin with it; give more "
                f"characters"
            )
        shown = ", ".join(run.run_id for run in runs[:10]) + (" ..." if len(runs) > 10 else "")
        raise UserError(
            f"no run {ref!r} in store {self.path}; valid choices: 'last', a unique prefix "
            f"or one of (newest first): {shown}"
        )

    # -- episodes ----------------------------------------------------------------------

    def finished_episode_ids(self, run_id: str) -> set[str]:
        """Ids of the run's finished episodes (a resumed run skips them)."""
        with self._lock, self._sqlite("reading a run's episodes"):
            self._flush_locked()
            rows = self._db.execute(
                "SELECT episode_id FROM episodes WHERE run_id = ? AND status = 'finished'",
                (run_id,),
            )
            return {episode_id for (episode_id,) in rows.fetchall()}

    def _read_ids(self, db: sqlite3.Connection, keys: list[tuple[str, str]]) -> None:
        """Fill the id map for freshly inserted episodes (500 keys per query)."""
        by_run: dict[str, list[str]] = {}
        for run_id, episode_id in keys:
            by_run.setdefault(run_id, []).append(episode_id)
        for run_id, episode_ids in by_run.items():
            for start in range(0, len(episode_ids), 500):
                chunk = episode_ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    f"SELECT episode_id, id FROM episodes WHERE run_id = ? "
                    f"AND episode_id IN ({marks})",
                    (run_id, *chunk),
                )
                for episode_id, episode in rows.fetchall():
                    self._episode_ids[(run_id, episode_id)] = episode

    def _seen_set(self, run_id: str) -> set[str]:
        """Ids of the run's episodes that have (or may have) rows in the file."""
        found = self._seen.get(run_id)
        if found is None:
            rows = self._db.execute("SELECT episode_id FROM episodes WHERE run_id = ?", (run_id,))
            found = self._seen[run_id] = {episode_id for (episode_id,) in rows.fetchall()}
        return found

    def _finished_set(self, run_id: str) -> set[str]:
        found = self._finished.get(run_id)
        if found is None:
            rows = self._db.execute(
                "SELECT episode_id FROM episodes WHERE run_id = ? AND status = 'finished'",
                (run_id,),
            )
            found = self._finished[run_id] = {episode_id for (episode_id,) in rows.fetchall()}
        return found

    def start_episode(self, run_id: str, row: EpisodeRow) -> None:
        """Record an episode as running, dropping the events of an unfinished earlier try.

        The identity fields (env, task, seed, epoch, agents, started_at) come from `row`;
        the finishing fields are reset. A finished episode is refused (`UserError`).
        """
        if row.run_id and row.run_id != run_id:
            raise StoreError(
                f"start_episode: row.run_id {row.run_id!r} differs from run_id {run_id!r}"
            )
        key = (run_id, row.episode_id)
        values = start_values(
            run_id, row, time.time() if row.started_at is None else row.started_at
        )
        with self._lock, self._sqlite("starting an episode"):
            if run_id not in self._known_runs:
                found = self._db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,))
                if found.fetchone() is None:
                    raise StoreError(f"no run {run_id!r} in store {self.path}; create_run first")
                self.lease_run(run_id)  # before anything of the run is changed
                self._known_runs.add(run_id)
            elif run_id not in self._leases:  # released since: taken again
                self.lease_run(run_id)
            if row.episode_id in self._finished_set(run_id):
                raise UserError(
                    f"episode {row.episode_id!r} of run {run_id!r} is already finished; a "
                    f"resumed run must skip finished episodes (Store.finished_episode_ids)"
                )
            if key in self._next_seq:  # restarted in this process: drop its buffered events
                self._wait_for_writer()  # (a failed write first puts its events back)
                self._buffer = [run for run in self._buffer if run[0] != key]
                self._buffered = sum(len(rows) for _, rows in self._buffer)
            # Written with the next batch, before its events: the old try's events are
            # deleted and the row reset in the same transaction as the new events.
            # An episode never written before has no events to delete (the common case:
            # skip the DELETE).
            seen = self._seen_set(run_id)
            had_rows = row.episode_id in seen or key in self._next_seq
            seen.add(row.episode_id)
            self._starts.pop(key, None)
            self._starts[key] = (values, had_rows)
            self._next_seq[key] = 0

    def append(self, run_id: str, events: Sequence[Event]) -> None:
        """Buffer events of started episodes; written `batch_size` at a time.

        Each episode's events must come in order of `seq`, dense from 0 (the store
        refuses a gap or repeat at once, rather than a crash-time surprise).
        """
        self.append_rows(run_id, [event_row(e) for e in events])

    def append_rows(self, run_id: str, rows: Sequence[_Row]) -> None:
        """`append` for events already serialised: rows of (episode_id, seq, kind, agent,
        step, json), `palaestra.core.EventRow` (the runner's recorder makes them without
        building `Event` objects)."""
        with self._lock:
            if rows and len(set(map(_EPISODE, rows))) == 1:  # the runner's case: one episode
                self._append_run(run_id, rows)
            else:
                for _, run in groupby(rows, _EPISODE):
                    self._append_run(run_id, list(run))
            if time.monotonic() - self._last_write > self.flush_interval_s:
                self._write_buffer(wait=False)

    def _append_run(self, run_id: str, rows: Sequence[_Row]) -> None:
        """Buffer rows of one episode, checked as a whole (the hot path: no per-row
        Python work here), written whenever `batch_size` rows are buffered."""
        episode_id = rows[0][0]
        key = (run_id, episode_id)
        first = self._next_seq.get(key)
        count = len(rows)
        if first is None:
            raise self._refuse(run_id, episode_id, rows[0][1])
        if list(map(_SEQ, rows)) != list(range(first, first + count)):
            # the rows before the first wrong one are kept, as if appended one by one
            expected = first
            for index, row in enumerate(rows):
                if row[1] != expected:
                    if index:
                        self._append_run(run_id, rows[:index])
                    raise self._refuse(run_id, episode_id, row[1])
                expected += 1
        self._next_seq[key] = first + count
        start = 0
        failure: StoreError | None = None
        while start < count:
            room = max(self.batch_size - self._buffered, 1) if failure is None else count
            chunk = rows[start : start + room]  # a copy
            self._buffer.append((key, chunk))
            self._buffered += len(chunk)
            start += len(chunk)
            if self._buffered >= self.batch_size and failure is None:
                try:
                    self._write_buffer(wait=False)
                except StoreError as exc:  # reported once the rest is buffered too
                    failure = exc
        if failure is not None:
            raise failure

    def _refuse(self, run_id: str, episode_id: str, seq: int) -> StoreError:
        expected = self._next_seq.get((run_id, episode_id))
        if expected is None:
            return StoreError(
                f"append: episode {episode_id!r} of run {run_id!r} is not running in "
                f"this store (call start_episode first; finished episodes take no more events)"
            )
        return StoreError(
            f"append: episode {episode_id!r} expected seq {expected}, got {seq} "
            f"(seqs are dense from 0, appended in order)"
        )

    def finish_episode(self, run_id: str, summary: EpisodeSummary) -> None:
        """Write the episode's buffered events and mark it finished, in one transaction."""
        key = (run_id, summary.episode_id)
        with self._lock:
            count = self._next_seq.get(key)
            if count is None:
                raise StoreError(
                    f"finish_episode: episode {summary.episode_id!r} of run {run_id!r} is not "
                    f"running in this store (not started, or already finished)"
                )
            if summary.n_events is not None and summary.n_events != count:
                raise StoreError(
                    f"finish_episode: episode {summary.episode_id!r} reports "
                    f"{summary.n_events} events but the store received {count}; not marking "
                    f"it finished"
                )
            values = (
                summary.outcome,
                summary.reason,
                summary.score,
                None if summary.success is None else int(summary.success),
                summary.total_reward,
                summary.steps,
                count,
                summary.input_tokens,
                summary.output_tokens,
                summary.wall_s,
                summary.hash,
                summary.error,
                None if summary.agents is None else compact_json(summary.agents),
                time.time(),
                run_id,
                summary.episode_id,
            )

            # Written after the buffered events, in the same transaction: an episode is
            # never seen finished without all its events.
            self._finishes.append(values)
            del self._next_seq[key]
            self._finished_set(run_id).add(summary.episode_id)
            if (
                len(self._finishes) >= 256
                or time.monotonic() - self._last_write > self.flush_interval_s
            ):
                self._write_buffer(wait=False)

    def flush_if_stale(self) -> None:
        """Write what is buffered if the last write is older than `flush_interval_s`
        (without waiting for the writer process to commit it)."""
        with self._lock:
            if time.monotonic() - self._last_write > self.flush_interval_s and (
                self._buffer or self._starts or self._finishes
            ):
                self._write_buffer(wait=False)

    def flush(self) -> None:
        """Write everything buffered now (one transaction)."""
        with self._lock:
            self._flush_locked()

    def wait_for_writer(self) -> None:
        """Return once every batch handed to the writer process is committed (what is
        still buffered stays buffered: `flush` writes it). Raises `StoreError` if the
        writer failed; the batches it did not commit are kept for a retry."""
        with self._lock:
            self._wait_for_writer()

    def _flush_locked(self) -> None:
        if self._buffer or self._starts or self._finishes:
            self._write_buffer(wait=True)
        elif self._writer is not None:
            self._wait_for_writer()

    def _write_buffer(self, *, wait: bool) -> None:
        """Take what is buffered as one batch and write it: by the writer process once
        a full batch has been buffered (with `writer_process`), else here. `wait`:
        return once it is committed. A failed write puts the batches it did not commit
        back in front of the buffers (a later write retries them) and raises."""
        if self._conn is None:
            raise StoreError(f"store {self.path} is closed")
        batch: _Batch = (self._starts, self._buffer, self._buffered, self._finishes)
        self._starts, self._buffer, self._buffered, self._finishes = {}, [], 0, []
        self._last_write = time.monotonic()
        # the runs the batch writes: their leases are checked in its transaction
        run_ids = sorted(
            {key[0] for key in batch[0]}
            | {key[0] for key, _ in batch[1]}
            | {values[-2] for values in batch[3]}
        )
        if self._writer is None and self.writer_process and batch[2] >= self.batch_size:
            try:
                self._writer = WriterProcess(
                    self.path,
                    {
                        "sql": _WRITER_SQL,
                        "rows_per_insert": ROWS_PER_INSERT,
                        "checkpoint_rows": _CHECKPOINT_ROWS,
                        "wal_restart_frames": _WAL_RESTART_FRAMES,
                        "token": self._token,
                        "max_page_count": None
                        if self.max_bytes is None
                        else self._max_pages(self._db),
                    },
                    self._restore_unconfirmed,
                )
            except BaseException:
                self._restore([batch])
                raise
        if self._writer is not None:
            try:
                sent = self._writer.send(batch, run_ids)
            except BaseException:  # it is gone; what it did not commit is buffered again
                self._writer = None
                raise
            if sent:  # (the writer checkpoints on its own)
                if wait:
                    self._wait_for_writer()
                return
            self._wait_for_writer()  # a batch it cannot take is written here, after
        try:
            self._write_batch(batch, run_ids)
        except BaseException:
            self._restore([batch])
            raise
        self._count_for_checkpoint(batch[2])

    def _wait_for_writer(self) -> None:
        """Return once what the writer process was sent is committed (see `_write_buffer`
        for a failure)."""
        writer = self._writer
        if writer is not None and writer.pending:
            try:
                writer.wait()
            except BaseException:  # as in `_write_buffer`
                self._writer = None
                raise

    def _restore(self, batches: list[_Batch]) -> None:
        """Put batches whose write failed back in front of what was buffered since,
        oldest first."""
        starts: dict[_Key, tuple[tuple[Any, ...], bool]] = {}
        runs: list[_Run] = []
        finishes: list[tuple[Any, ...]] = []
        for batch_starts, batch_runs, rows, batch_finishes in batches:
            starts.update(batch_starts)
            runs.extend(batch_runs)
            self._buffered += rows
            finishes.extend(batch_finishes)
        self._starts = {**starts, **self._starts}
        self._buffer = runs + self._buffer
        self._finishes = finishes + self._finishes
        self._finished.clear()  # reload from the file: these finishes did not land

    def _restore_unconfirmed(self, batches: list[_Batch]) -> None:
        """`_restore` for batches a writer process did not confirm. One it committed
        before it died unheard is dropped (written again, it would fail for good); they
        are committed in order, so the first one not in the file ends the search."""
        db = self._db
        while batches and _committed(db, batches[0]):
            batches = batches[1:]
        self._restore(batches)

    def _count_for_checkpoint(self, rows: int) -> None:
        self._rows_since_checkpoint += rows
        if self._rows_since_checkpoint >= _CHECKPOINT_ROWS:
            self._rows_since_checkpoint = 0
            self._checkpoint_in_background()

    def _write_batch(self, batch: _Batch, run_ids: list[str]) -> None:
        """Write a batch's starts, events and finish markers, in that order, in one
        transaction, on this store's own connection, once the leases of `run_ids` are
        found still this store's."""
        starts, runs, rows, finishes = batch
        db = self._db
        ids = self._episode_ids
        db.execute("BEGIN IMMEDIATE")
        try:
            now = time.time()
            for run_id in run_ids:
                if db.execute(_lease.CHECK_LEASE, (now, run_id, self._token)).rowcount != 1:
                    raise StoreError(f"store {self.path}: {_lease.lost_message(db, run_id)}")
            new: list[tuple[Any, ...]] = []
            for key, (values, had_rows) in starts.items():
                if not had_rows:
                    new.append(values)
                    continue
                # the upsert keeps the id of an episode run before (a resumed run, or a
                # restart): its old events go, in the transaction that resets its row
                ((episode,),) = db.execute(UPSERT_EPISODE, values).fetchall()
                db.execute("DELETE FROM events WHERE episode = ?", (episode,))
                ids[key] = episode
            if new:  # episodes never written before: one statement, then their ids
                db.executemany(INSERT_EPISODE, new)
                self._read_ids(db, [(values[0], values[1]) for values in new])
            if runs:
                unknown = [key for key, _ in runs if key not in ids]
                if unknown:  # episodes whose start the writer process wrote
                    self._read_ids(db, unknown)
                insert_event_runs(db, runs, ids)
            if finishes:
                changed = db.executemany(_FINISH_EPISODE, finishes).rowcount
                if changed != len(finishes):
                    missing = [
                        values
                        for values in finishes
                        if db.execute(
                            "SELECT 1 FROM episodes WHERE run_id = ? AND episode_id = ? "
                            "AND status = 'finished' AND finished_at = ?",
                            (values[-2], values[-1], values[-3]),
                        ).fetchone()
                        is None
                    ]
                    first = missing[0] if missing else finishes[0]
                    raise StoreError(
                        f"finish_episode: episode {first[-1]!r} of run {first[-2]!r} is "
                        f"not running in {self.path}"
                    )
        except BaseException as exc:
            if db.in_transaction:  # SQLite may have rolled back already
                db.execute("ROLLBACK")
            # the batch goes back for a retry, which writes the starts again: ids of
            # inserts rolled back here are replaced before any event row uses them
            if isinstance(exc, sqlite3.Error):
                raise database_error(self.path, exc, f"writing {rows} events") from exc
            raise
        db.execute("COMMIT")
        for values in finishes:  # finished: no more events will need the id
            ids.pop((values[-2], values[-1]), None)

    def _checkpoint_in_background(self) -> None:
        if self._checkpointer is None:
            try:
                self._checkpointer = _Checkpointer(self.path)
            except sqlite3.Error as exc:  # e.g. no more file handles: do it here, as SQLite would
                logger.debug("no background checkpoints for %s: %s", self.path, exc)
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                return
        self._checkpointer.request()

    # -- reading -----------------------------------------------------------------------

    def episodes(self, run_id: str, *, status: str | None = None) -> list[EpisodeRow]:
        """The run's episodes in the order they were first started (optionally filtered)."""
        if status not in (None, "running", "finished"):
            raise StoreError(
                f"unknown episode status {status!r}; valid choices: running, finished, None"
            )
        query = SELECT_EPISODE + " WHERE run_id = ?"
        params: tuple[str, ...] = (run_id,)
        if status is not None:
            query += " AND status = ?"
            params = (run_id, status)
        with self._lock, self._sqlite("reading a run's episodes"):
            self._flush_locked()
            rows = self._db.execute(query + " ORDER BY id", params).fetchall()
        return [episode_from_values(values) for values in rows]

    def events(self, run_id: str, episode_id: str) -> list[Event]:
        """One episode's events, ordered by seq (buffered ones are written first)."""
        return [decode_event(text) for text in self._event_json(run_id, episode_id)]

    def episode_log(self, run_id: str, episode_id: str) -> EpisodeLog:
        """One episode's events as an `EpisodeLog` (the read model every reader indexes
        an episode with); a `StoreError` naming the episode when the run has none such."""
        events = self.events(run_id, episode_id)
        if not events:
            raise StoreError(
                f"run {run_id!r} has no events of episode {episode_id!r} in store "
                f"{self.path}; list its episodes with Store.episodes({run_id!r})"
            )
        return EpisodeLog(events)

    def iter_events(self, run_id: str, *, kinds: Sequence[str] | None = None) -> Iterator[Event]:
        """Every event of the run: episodes in start order, each ordered by seq (read an
        episode at a time, parsed as iterated); only those of `kinds` when given (read
        with the `kind` column, so the others are never parsed)."""
        query = _SELECT_EVENTS_BY_ID
        extra: tuple[str, ...] = ()
        if kinds is not None:
            marks = ", ".join("?" * len(kinds))
            query = f"SELECT json FROM events WHERE episode = ? AND kind IN ({marks}) ORDER BY seq"
            extra = tuple(kinds)
        with self._lock, self._sqlite("reading a run's episodes"):
            self._flush_locked()
            ids = self._db.execute(
                "SELECT id FROM episodes WHERE run_id = ? ORDER BY id", (run_id,)
            ).fetchall()
        for (episode,) in ids:
            with self._lock, self._sqlite("reading events"):
                self._flush_locked()
                rows = self._db.execute(query, (episode, *extra)).fetchall()
            for (text,) in rows:
                yield decode_event(text)

    def _event_json(self, run_id: str, episode_id: str) -> list[str]:
        """The stored JSON text of one episode's events, ordered by seq."""
        with self._lock, self._sqlite("reading events"):
            self._flush_locked()
            rows = self._db.execute(_SELECT_EVENTS, (run_id, episode_id)).fetchall()
        return [text for (text,) in rows]

    def run_summary(self, run_id: str) -> dict[str, Any]:
        """Counts and means of a run, overall and per env (see `summarise`)."""
        with self._lock:
            run = self.get_run(run_id)
            if run is None:
                raise StoreError(f"no run {run_id!r} in store {self.path}")
            with self._sqlite("summarising a run"):
                self._flush_locked()
                return summarise(self._db, run)
