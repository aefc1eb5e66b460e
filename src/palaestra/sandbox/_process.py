"""One sandboxed command, from the host's side: start it, feed its stdin, read at most
``max_output_bytes`` of each output stream (never buffering more), kill it at the
wall-clock limit or on too much output, and report what happened (`ExecResult`).

The command is started in a session of its own with every host file descriptor closed
but the status pipe (``close_fds``): nothing the host has open reaches the sandbox.
Killing it is ``SIGKILL`` to its process group: under bubblewrap that is ``nsenter``'s
exec of ``bwrap``, whose death kills the sandbox's PID 1 (``--die-with-parent``), which
takes every process of the sandbox's PID namespace with it. The launcher is that PID 1
(``--as-pid-1``): the kernel kills the namespace's other processes, and waits for them
to be gone, before the launcher's exit reaches ``bwrap``, so when a call returns nothing
of it is left.
"""

from __future__ import annotations

import asyncio
import functools
import marshal
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from palaestra.sandbox import _launcher
from palaestra.sandbox._limits import CommandLimits, ExecResult, KilledBy

_DRAIN_AFTER_KILL_S = 5.0
LAUNCHER_FILE = "launcher.marshal"
"""Name of the compiled launcher in a command's directory."""


def loader(call_dir: str) -> str:
    """What the interpreter runs with ``-c``: the launcher, compiled once by the host
    (compiling its source in every command would cost milliseconds)."""
    path = os.path.join(call_dir, LAUNCHER_FILE)
    return (
        "import marshal\n"
        f"with open({path!r}, 'rb') as f:\n"
        "    code = f.read()\n"
        "exec(marshal.loads(code))\n"
    )


@functools.cache
def launcher_code() -> bytes:
    """The launcher's code object, marshalled (see `_launcher`)."""
    source = Path(_launcher.__file__).read_text(encoding="utf-8")
    return marshal.dumps(compile(source, _launcher.FRAME_NAME, "exec"))


def launcher_config(
    limits: CommandLimits, *, mode: str, call_dir: str, isolated: bool, status_fd: int
) -> list[str]:
    """The launcher's ``name=value`` arguments for one command."""
    config: dict[str, object] = {
        "mode": mode,
        "call_dir": call_dir,
        "cpu_seconds": limits.cpu_seconds,
        "memory_bytes": limits.memory_mb * 1024 * 1024,
        # the launcher (the namespace's PID 1) waits for the worker as the same user: it
        # counts against RLIMIT_NPROC with the command's own processes. Without isolation
        # the count would be the host user's, every process of it: no cap is set (0)
        "nproc": limits.max_processes + 1 if isolated else 0,
        "file_bytes": limits.max_file_mb * 1024 * 1024,
        "open_files": limits.max_open_files,
        "wall_seconds": limits.wall_seconds,
        "isolated": int(isolated),
        "status_fd": status_fd,
    }
    return [f"{key}={value}" for key, value in config.items()]


async def execute(
    argv: Sequence[str],
    *,
    limits: CommandLimits,
    env: Mapping[str, str],
    cwd: str | None,
    stdin: bytes | None,
    status: tuple[int, int],
    isolated: bool,
    python_mode: bool,
) -> ExecResult:
    """Run `argv` (already wrapped in its sandbox) and report the outcome.

    `status` is the pipe (read end, write end) the launcher reports the command's exit
    status on; the write end is handed to the child and closed here.
    """
    status_read, status_write = status
    started = time.perf_counter()
    loop = asyncio.get_running_loop()
    try:
        transport, watch = await loop.subprocess_exec(
            lambda: _Watch(limits.max_output_bytes),
            *argv,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
            pass_fds=(status_write,),
        )
    finally:
        os.close(status_write)
    if stdin is not None:
        pipe = transport.get_pipe_transport(0)
        assert isinstance(pipe, asyncio.WriteTransport)
        pipe.write(stdin)
        pipe.write_eof()
    outcome = await _supervise(transport, watch, limits)
    report = _read_status(status_read)
    return _result(outcome, report, limits, time.perf_counter() - started, isolated, python_mode)


class _Capture:
    """One output stream, kept up to a cap; past it the rest is discarded."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.cut = False

    def add(self, chunk: bytes) -> bool:
        """Keep what fits of `chunk`; True when this chunk went past the cap."""
        room = self.cap - len(self.data)
        if len(chunk) <= room:
            self.data += chunk
            return False
        self.data += chunk[:room]
        first = not self.cut
        self.cut = True
        return first

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


class _Watch(asyncio.SubprocessProtocol):
    """Collects output as it arrives and signals exit, overflow and the end of the pipes.

    The process's exit is known here as soon as it happens, while `Process.wait()` would
    also wait for every pipe to close, which a leftover child could delay.
    """

    def __init__(self, cap: int) -> None:
        loop = asyncio.get_running_loop()
        self.out = _Capture(cap)
        self.err = _Capture(cap)
        self.exited: asyncio.Future[None] = loop.create_future()
        self.overflow: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if (self.out if fd == 1 else self.err).add(data):
            _settle(self.overflow)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        pass  # stdin closed by the command (it exited or closed it): nothing to do

    def process_exited(self) -> None:
        _settle(self.exited)

    def connection_lost(self, exc: Exception | None) -> None:
        _settle(self.closed)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Outcome:
    def __init__(self, returncode: int, reason: KilledBy | None, watch: _Watch) -> None:
        self.returncode = returncode
        self.reason = reason
        self.out = watch.out
        self.err = watch.err


async def _supervise(
    transport: asyncio.SubprocessTransport, watch: _Watch, limits: CommandLimits
) -> _Outcome:
    """Wait for the command to end, killing it at the wall-clock limit or on too much
    output."""
    reason: KilledBy | None = None
    try:
        done, _ = await asyncio.wait(
            {watch.exited, watch.overflow},
            timeout=limits.wall_seconds,
            return_when="FIRST_COMPLETED",
        )
        if watch.exited not in done:
            reason = "output" if watch.overflow in done else "wall"
        _kill_group(transport.get_pid())
        await watch.exited
        # Without isolation a straggler that left the group may hold a pipe: wait so long.
        await asyncio.wait({watch.closed}, timeout=_DRAIN_AFTER_KILL_S)
        returncode = transport.get_returncode()
        assert returncode is not None
        return _Outcome(returncode, reason, watch)
    except BaseException:
        _kill_group(transport.get_pid())
        raise
    finally:
        transport.close()
        for future in (watch.exited, watch.overflow, watch.closed):
            if not future.done():
                future.cancel()


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _read_status(fd: int) -> str:
    """What the launcher wrote about the command's process ('' if nothing)."""
    try:
        os.set_blocking(fd, False)
        return os.read(fd, 64).decode("ascii", errors="replace")
    except (BlockingIOError, OSError):
        return ""
    finally:
        os.close(fd)


def _result(
    outcome: _Outcome,
    status: str,
    limits: CommandLimits,
    duration: float,
    isolated: bool,
    python_mode: bool,
) -> ExecResult:
    exit_code: int | None
    number: int | None
    kind, _, value = status.partition(" ")
    if kind == "exit" and value.isdigit():
        exit_code, number = int(value), None
    elif kind == "signal" and value.isdigit():
        exit_code, number = None, int(value)
    elif outcome.returncode < 0:
        exit_code, number = None, -outcome.returncode
    else:
        exit_code, number = outcome.returncode, None
    killed_by = outcome.reason or _limit_of(exit_code, number, python_mode)
    return ExecResult(
        stdout=outcome.out.text(),
        stderr=outcome.err.text(),
        exit_code=exit_code,
        signal=number,
        timed_out=outcome.reason == "wall",
        killed_by=killed_by,
        stdout_truncated=outcome.out.cut,
        stderr_truncated=outcome.err.cut,
        duration_s=duration,
        limits=limits,
        isolated=isolated,
    )


def _limit_of(exit_code: int | None, number: int | None, python_mode: bool) -> KilledBy | None:
    if number is not None:
        if number == signal.SIGXCPU:
            return "cpu"
        if number == signal.SIGXFSZ:
            return "file_size"
        return "signal"
    if not python_mode:  # a program's exit codes are its own
        return None
    return {
        _launcher.EXIT_MEMORY: "memory",
        _launcher.EXIT_FILE_SIZE: "file_size",
        _launcher.EXIT_DISK: "disk",
        _launcher.EXIT_PROCESSES: "processes",
    }.get(exit_code or 0)  # type: ignore[return-value]
