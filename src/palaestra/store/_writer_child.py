"""The store's writer process: writes the batches a `Store` sends it into the SQLite file.

Run by `store._writer.WriterProcess` as `python -I -S _writer_child.py PATH`: standard
library only (it imports nothing of palaestra, so it starts in tens of milliseconds), and
the SQL it runs comes from the parent in the first message, so the statements are
written once, in `store._schema`. It checkpoints the WAL itself between batches, every
`checkpoint_rows` events (one process writing and checkpointing in turn, rather than a
third thread beside the event loop).

Messages on stdin, each `>II` (meta length, body length), the meta as JSON, the body as
UTF-8: the first is the configuration (`{"sql": {...}, "checkpoint_rows": N,
"wal_restart_frames": N, "rows_per_insert": N, "token": T, "max_page_count": N or
null}`, no body); every other is
one batch, written in one transaction: `{"starts": [[*episode values, had_rows], ...],
"runs": [[run_id, episode_id, count], ...], "finishes": [[*finish values], ...],
"leases": [run_id, ...]}` and
the events' JSON texts joined by newlines (JSON text never holds a raw newline), `count`
texts per run, in order. An event's columns (seq, step, agent, kind) are read from the
start of its text, whose field order is `palaestra.core._event_codec.HEADER`.

A batch's transaction first checks, for each run in `leases`, that the parent store
(its `token`) still holds the run's lease, and refreshes its heartbeat (`sql
["check_lease"]`, see `store._lease`): a writer whose parent lost a run writes nothing
more of it.

One line on stdout per batch, once its transaction is committed: `ok`, or `error
MESSAGE` (`MESSAGE` begins with SQLite's result code, `SQLITE_FULL` say, when SQLite
raised) after which the process exits (the parent keeps every batch until it is
acknowledged, and sends them again to a new writer). At the end of stdin, or at a
message cut short by the parent's death, it exits; a transaction is never left half
written. SIGINT is ignored: a Ctrl-C in a terminal reaches the whole process group, and
the parent, still running, decides when writing ends.
"""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import struct
import sys
import time
from typing import Any, BinaryIO

_HEADER = struct.Struct(">II")
_PREFIX = re.compile(
    r'\{"episode_id":"(?:[^"\\]|\\.)*","seq":(-?\d+),"step":(-?\d+),'
    r'"agent":("(?:[^"\\]|\\.)*"),"kind":"([a-z_]+)",'
)


def _read(stream: BinaryIO, size: int) -> bytes | None:
    """Exactly `size` bytes, or None at the end of the stream (even mid-message)."""
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


def _columns(text: str, start: int, run_id: str, episode_id: str) -> tuple[int, str, str, int]:
    """(seq, kind, agent, step) of an event text whose `"seq":` value begins at `start`
    (after the run's known episode id; -1 if it is not where expected): located with a
    few `str.index` calls (a third cheaper than the regular expression, which takes
    whatever this does not)."""
    if start < 0:
        return _parsed_columns(text, run_id, episode_id)
    try:
        i = text.index(",", start)
        seq = int(text[start:i])
        if text.startswith(',"step":', i):
            j = text.index(",", i + 8)
            step = int(text[i + 8 : j])
            if text.startswith(',"agent":"', j):
                k = text.index('"', j + 10)
                agent = text[j + 10 : k]
                if "\\" not in agent and text.startswith(',"kind":"', k + 1):
                    return seq, text[k + 10 : text.index('"', k + 10)], agent, step
    except ValueError:
        pass
    return _parsed_columns(text, run_id, episode_id)


def _parsed_columns(text: str, run_id: str, episode_id: str) -> tuple[int, str, str, int]:
    found = _PREFIX.match(text)
    if found is None:
        raise ValueError(
            f"an event of episode {episode_id!r} of run {run_id!r} does not start like "
            f"Event.to_json() (episode_id, seq, step, agent, kind): {text[:120]!r}"
        )
    seq, step, agent, kind = found.groups()
    name = agent[1:-1] if "\\" not in agent else json.loads(agent)
    return int(seq), kind, name, int(step)


class _Writer:
    def __init__(self, path: str, config: dict[str, Any]) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA busy_timeout=10000")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA wal_autocheckpoint=0")  # done below, between batches
        if config.get("max_page_count") is not None:  # the store's size cap
            self.db.execute(f"PRAGMA max_page_count = {int(config['max_page_count'])}")
        self.sql: dict[str, str] = config["sql"]
        self.rows_per_insert: int = config["rows_per_insert"]
        self.checkpoint_rows: int = config["checkpoint_rows"]
        self.wal_restart_frames: int = config["wal_restart_frames"]
        self.token: str = config["token"]
        """The parent store's lease token (`store._lease`)."""
        self.rows_since_checkpoint = 0
        self.ids: dict[tuple[str, str], int] = {}
        """Integer ids of running episodes (learnt from the starts, or looked up)."""

    def _id(self, run_id: str, episode_id: str) -> int:
        key = (run_id, episode_id)
        found = self.ids.get(key)
        if found is None:  # started by an earlier writer (the parent, or one that exited)
            row = self.db.execute(
                "SELECT id FROM episodes WHERE run_id = ? AND episode_id = ?", key
            ).fetchone()
            if row is None:
                raise ValueError(f"episode {episode_id!r} of run {run_id!r} was never started")
            found = self.ids[key] = row[0]
        return found

    def write(self, meta: dict[str, Any], body: str) -> None:
        texts = body.split("\n") if body else []
        runs = meta["runs"]
        if len(texts) != sum(run[2] for run in runs):
            raise ValueError(f"batch of {len(texts)} event texts for {runs!r}")
        db, sql = self.db, self.sql
        db.execute("BEGIN IMMEDIATE")
        try:
            now = time.time()
            for run_id in meta["leases"]:  # fenced: nothing is written for a lost lease
                if db.execute(sql["check_lease"], (now, run_id, self.token)).rowcount != 1:
                    raise ValueError(
                        f"this process no longer holds the lease of run {run_id!r}: another "
                        "process took the run over, so nothing more of it is written from here"
                    )
            for *values, had_rows in meta["starts"]:
                # an episode that may have rows from an earlier try: reset in place (its
                # id kept) and its old events dropped, as the parent does
                statement = sql["upsert_episode"] if had_rows else sql["insert_episode"]
                if not had_rows:
                    statement += " RETURNING id"
                ((episode,),) = db.execute(statement, values).fetchall()
                if had_rows:
                    db.execute("DELETE FROM events WHERE episode = ?", (episode,))
                self.ids[(values[0], values[1])] = episode
            params: list[Any] = []
            position = 0
            for run_id, episode_id, count in runs:
                episode = self._id(run_id, episode_id)
                prefix = f'{{"episode_id":{json.dumps(episode_id, ensure_ascii=False)},"seq":'
                for text in texts[position : position + count]:
                    start = len(prefix) if text.startswith(prefix) else -1
                    params.extend((episode, *_columns(text, start, run_id, episode_id), text))
                position += count
            width = 6 * self.rows_per_insert
            for start in range(0, len(params), width):
                chunk = params[start : start + width]
                marks = ",".join(["(?, ?, ?, ?, ?, ?)"] * (len(chunk) // 6))
                db.execute(sql["insert_events"] + marks, chunk)
            finishes = meta["finishes"]
            if finishes:
                changed = db.executemany(sql["finish_episode"], finishes).rowcount
                if changed != len(finishes):
                    raise ValueError(
                        f"finish_episode: {len(finishes) - changed} of {len(finishes)} "
                        "episodes were not running"
                    )
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        for values in meta["finishes"]:  # finished: no more events will need the id
            self.ids.pop((values[-2], values[-1]), None)
        self.rows_since_checkpoint += len(texts)
        if self.rows_since_checkpoint >= self.checkpoint_rows:
            # as the parent's `_Checkpointer` does when it writes itself; a failure
            # loses nothing (the WAL keeps it all), so it is not an error of the batch
            self.rows_since_checkpoint = 0
            try:
                _, log, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if log > self.wal_restart_frames and copied < log:
                    db.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
            except sqlite3.Error:
                pass


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin, stdout = sys.stdin.buffer, sys.stdout
    header = _read(stdin, _HEADER.size)
    if header is None:
        return
    meta_size, _ = _HEADER.unpack(header)
    config = _read(stdin, meta_size)
    if config is None:
        return
    writer = _Writer(sys.argv[1], json.loads(config))
    try:
        while True:
            header = _read(stdin, _HEADER.size)
            if header is None:
                return
            meta_size, body_size = _HEADER.unpack(header)
            meta, body = _read(stdin, meta_size), _read(stdin, body_size)
            if meta is None or body is None:
                return  # the parent died while sending: nothing of this batch is written
            try:
                writer.write(json.loads(meta), body.decode())
            except Exception as exc:
                code = getattr(exc, "sqlite_errorname", "")  # SQLITE_FULL, SQLITE_CORRUPT...
                code = "_".join(code.split("_")[:2]) + " " if code else ""
                message = f"{code}{type(exc).__name__}: {exc}".replace("\n", " ")
                stdout.write(f"error {message}\n")
                stdout.flush()
                sys.exit(1)
            stdout.write("ok\n")
            stdout.flush()
    finally:
        writer.db.close()


if __name__ == "__main__":
    main()
