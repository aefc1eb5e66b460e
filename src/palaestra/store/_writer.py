"""`WriterProcess`: the parent's side of the store's writer process (`_writer_child`).

A run spends most of its store time inside SQLite (B-tree inserts, the WAL write of each
COMMIT). In a writer *thread* that work still hands the GIL back and forth with the event
loop at every statement step, and those hand-offs cost the loop about as much as the
write itself (no steady gain over writing inline). A process shares no GIL: the loop's
cost of a batch is joining its event texts and one `writev` to a pipe, a fraction of
writing them inline (figures: docs/benchmarks.md).

Batches are sent in order and acknowledged in order. Every batch is kept until its
acknowledgement arrives, so when the writer reports an error, or exits, every batch it
did not confirm goes back to the store for a retry (by a new writer): nothing the
store was given is lost (one it committed without saying so is recognised in the file
by the store, see `_sqlite._committed`). At most `MAX_IN_FLIGHT` batches wait for their
acknowledgement; a faster producer waits for the writer, which bounds the memory held.
"""

from __future__ import annotations

import json
import os
import select
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from palaestra.core import StoreError
from palaestra.store._health import reported_error

_HEADER = struct.Struct(">II")
MAX_IN_FLIGHT = 2
"""Batches sent and not yet acknowledged, at most."""
_PIPE_BYTES = 1 << 20
"""Pipe buffer asked for (Linux's default maximum for a user): a batch fits in it, so
sending one does not wait for the writer to read."""
_CHILD = Path(__file__).with_name("_writer_child.py")

Batch = tuple[
    dict[tuple[str, str], tuple[tuple[Any, ...], bool]],
    list[tuple[tuple[str, str], Sequence[tuple[str, int, str, str, int, str]]]],
    int,
    list[tuple[Any, ...]],
]
"""(starts, runs, rows, finishes): what `Store` takes out of its buffers for one write."""


class WriterProcess:
    """A writer process for one store file, started on creation.

    `send` hands over a batch; `wait` returns once every batch sent is committed. Both
    raise `StoreError` when the writer failed or exited; the batches it did not commit
    are then passed to `restore` (oldest first) before the error is raised, and this
    object is finished: the store starts a new one for its next write.
    """

    def __init__(
        self, path: Path, config: dict[str, Any], restore: Callable[[list[Batch]], None]
    ) -> None:
        self.path = path
        self._restore = restore
        self._pending: deque[Batch] = deque()
        self._acks = b""
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", str(_CHILD), str(path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        except OSError as exc:
            raise StoreError(f"store {path}: cannot start the writer process: {exc}") from exc
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in = self._proc.stdin.fileno()
        self._out = self._proc.stdout.fileno()
        try:
            import fcntl

            fcntl.fcntl(self._in, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_BYTES)
        except (ImportError, OSError):  # a smaller pipe only means waiting for the reader
            pass
        first = json.dumps(config).encode()  # the SQL to run, when to checkpoint
        self._write([_HEADER.pack(len(first), 0), first])

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def pending(self) -> int:
        """Batches sent and not yet acknowledged."""
        return len(self._pending)

    def send(self, batch: Batch, run_ids: Sequence[str] = ()) -> bool:
        """Hand a batch to the writer (it is kept until acknowledged); its transaction
        checks first that the store still holds the leases of `run_ids` (`_lease`).
        False, with nothing sent, for a batch the writer cannot take: an event text with
        a raw newline (never made by `Event.to_json()`; the store writes it itself)."""
        starts, runs, rows, finishes = batch
        texts = [row[5] for _, run in runs for row in run]
        if [text for text in texts if "\n" in text]:  # texts are separated by newlines
            return False
        meta = json.dumps(
            {
                "starts": [[*values, had_rows] for values, had_rows in starts.values()],
                "runs": [[key[0], key[1], len(run)] for key, run in runs],
                "finishes": finishes,
                "leases": list(run_ids),
            },
            separators=(",", ":"),
        ).encode()
        self._pending.append(batch)  # first: if the writer fails meanwhile, it goes back
        with self._abandoned_on_interrupt():
            while len(self._pending) > MAX_IN_FLIGHT:
                self._read_acks(block=True)
            body = "\n".join(texts).encode()
            self._write([_HEADER.pack(len(meta), len(body)), meta, body])
            self._read_acks(block=False)
        return True

    def wait(self) -> None:
        """Return once every batch sent is committed."""
        with self._abandoned_on_interrupt():
            while self._pending:
                self._read_acks(block=True)

    @contextmanager
    def _abandoned_on_interrupt(self) -> Iterator[None]:
        """An exception other than the writer's own failure (Ctrl-C, say) may leave a
        message half written: the writer is killed, and its batches go back to the
        store (which tells committed ones from the others) before it propagates."""
        try:
            yield
        except StoreError:
            raise
        except BaseException:
            self._proc.kill()
            self._stop()
            unconfirmed = list(self._pending)
            self._pending.clear()
            self._restore(unconfirmed)
            raise

    def close(self) -> None:
        """Wait for the batches sent, end the writer and reap it."""
        try:
            self.wait()
        finally:
            self._stop()

    def _stop(self) -> bytes:
        """End the writer (the end of its input) and reap it; returns what it wrote
        that was not read yet."""
        stdin, stdout = self._proc.stdin, self._proc.stdout
        if stdin is not None and not stdin.closed:
            try:
                stdin.close()
            except OSError:
                pass
        rest = b""
        if stdout is not None and not stdout.closed:
            try:
                rest = stdout.read()  # until it exits (it writes nothing more after input ends)
            finally:
                stdout.close()
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        return rest

    def _write(self, parts: list[bytes]) -> None:
        """Write the parts of one message (no copy into one buffer first: a batch is
        about a megabyte)."""
        views = [memoryview(part) for part in parts if part]
        try:
            while views:
                written = os.writev(self._in, views)
                while views and written >= len(views[0]):
                    written -= len(views.pop(0))
                if views:
                    views[0] = views[0][written:]
        except OSError:  # the writer exited: why is on the acknowledgement pipe
            self._fail(None)

    def _take_acks(self) -> str | None:
        """Let go of the batches acknowledged in what was read; the writer's error, if
        it reported one."""
        while b"\n" in self._acks:
            line, self._acks = self._acks.split(b"\n", 1)
            if line != b"ok":
                return line.decode(errors="replace").removeprefix("error ")
            self._pending.popleft()
        return None

    def _read_acks(self, *, block: bool) -> None:
        """Take the acknowledgements that have arrived; with `block`, wait for one."""
        waiting = len(self._pending)
        while True:
            error = self._take_acks()
            if error is not None:
                self._fail(error)
            taken = len(self._pending) < waiting
            if (taken or not block) and not select.select([self._out], [], [], 0)[0]:
                return
            data = os.read(self._out, 4096)
            if not data:
                self._fail(None)
            self._acks += data

    def _fail(self, error: str | None) -> None:
        """The writer failed or exited: the batches it committed are done, the others go
        back to the store; raises `StoreError`."""
        self._acks += self._stop()
        error = self._take_acks() or error
        unconfirmed = list(self._pending)
        self._pending.clear()
        if error is None:
            error = f"the writer process exited with code {self._proc.returncode}"
        self._restore(unconfirmed)
        raise reported_error(
            self.path, error, f"writing {sum(batch[2] for batch in unconfirmed)} events"
        )
