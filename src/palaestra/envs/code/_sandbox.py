"""`Sandbox`: run a Python snippet in a fresh, limited subprocess and report what happened.

Every run gets a new interpreter (``sys.executable -I -S -B -u``: isolated mode, no
site-packages, no bytecode written, unbuffered output, so what was printed before a kill
is kept) in a private temporary directory that is removed afterwards, with a minimal
environment (``HOME`` and ``TMPDIR`` are that directory; nothing of the host's
environment, such as ``OPENAI_API_KEY``, is passed). A runaway or hostile snippet is
contained and *reported* (`ExecResult.killed_by`); nothing it does raises in the host.

The layers, and what each does and does not contain:

1. **Namespaces** (Linux, when ``unshare --user --map-root-user --net --pid`` works; probed
   once per process, see `namespaces_available`). A fresh network namespace has only a
   loopback interface, down and private: no connection can reach the host or the
   internet, whatever the snippet does (ctypes, raw syscalls included). This is the
   network boundary. The PID namespace makes the snippet's interpreter the child of a
   small init (see `_bootstrap`): when the snippet's main process ends, or the host kills
   the sandbox, the kernel kills every process left in it, even ones that called
   ``setsid``. There is no mount namespace: the file system is the host's, seen with the
   caller's own uid (the user namespace maps it to root inside, with no privilege over
   anything the caller could not already touch).
2. **Resource limits** (``setrlimit``, soft = hard so they cannot be raised back): CPU
   seconds (``SIGXCPU``), address space (`MemoryError`), file size, open files, no core
   dumps, and processes (``RLIMIT_NPROC``). Inside a user namespace ``RLIMIT_NPROC``
   counts only the sandbox's own processes, which contains a fork bomb; but Linux does
   not apply it to uid 0, so **when palaestra runs as root** the process cap rests on the
   audit hook alone (run as an ordinary user for the kernel's guarantee). Limits are per
   process: ``max_processes`` processes may each use ``memory_mb``.
3. **Audit hook** (``sys.addaudithook``, installed before the snippet runs; see
   `_bootstrap.install_guard`): refuses to open files outside the working directory
   (reading the Python standard library is allowed), to connect, bind or resolve names
   with sockets, to start other programs, to fork beyond ``max_processes``, to load
   ctypes, and to walk the garbage collector's object graph. The refusal is a
   `PermissionError` the snippet (and the model reading its traceback) can see. An
   audit hook is **not a security boundary**: C code, interpreter bugs or races between
   threads can get around it. It is what keeps files private, so for code you do not
   trust, run palaestra as an unprivileged user or inside a container as well.
4. **The host** enforces the wall-clock limit and the output cap: it reads at most
   ``max_output_bytes`` of stdout and of stderr (never buffering more) and kills the
   whole process group when either runs over or the time is up.

Without namespaces (not Linux, or ``unshare`` refused) layers 2 to 4 still apply; the
snippet's children are killed by the bootstrap when its main process ends and by the
host's kill of the process group, but a child that left the group (``setsid``) after
its parent was killed by a limit can outlive the run. The network is then closed by the
audit hook only.
"""

from __future__ import annotations

import asyncio
import functools
import marshal
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from palaestra.core import UserError
from palaestra.envs.code import _bootstrap
from palaestra.envs.code._limits import ExecResult, KilledBy, Limits

Isolation = Literal["auto", "namespace", "none"]
"""``namespace``: require namespaces; ``none``: never use them; ``auto``: when available."""

UNSHARE_FLAGS = ("--user", "--map-root-user", "--net", "--pid", "--kill-child")
"""How the sandbox calls ``unshare``: a new user namespace (the caller's uid is root in it,
with no privilege outside it), network and PID namespaces; ``--kill-child`` forks the
child that becomes process 1, and kills it if unshare dies."""

_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_DRAIN_AFTER_KILL_S = 5.0


@functools.cache
def namespaces_available() -> bool:
    """Whether this machine lets us run the interpreter under `UNSHARE_FLAGS` (probed by
    actually doing it, once per process)."""
    unshare = shutil.which("unshare")
    if unshare is None or not sys.platform.startswith("linux"):
        return False
    try:
        done = subprocess.run(
            [unshare, *UNSHARE_FLAGS, sys.executable, "-I", "-S", "-c", "pass"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


BOOTSTRAP_FILE = ".palaestra-bootstrap"
"""Name of the compiled bootstrap in the working directory (the child removes it first)."""

_LOADER = (
    "import marshal\n"
    f"with open({BOOTSTRAP_FILE!r}, 'rb') as f:\n"
    "    code = f.read()\n"
    f"__import__('os').remove({BOOTSTRAP_FILE!r})\n"
    "exec(marshal.loads(code))\n"
)
"""What the child runs with ``-c``: the bootstrap, compiled once here (compiling its
source in every child would cost it milliseconds)."""


@functools.cache
def _bootstrap_code() -> bytes:
    source = Path(_bootstrap.__file__).read_text(encoding="utf-8")
    return marshal.dumps(compile(source, _bootstrap.FRAME_NAME, "exec"))


class Sandbox:
    """Runs Python snippets in fresh, limited subprocesses (see the module docstring).

    `limits` are the defaults of every run (a run may pass its own). `isolation` chooses
    whether to use Linux namespaces. `audit_hook=False` leaves out the audit hook: only
    for testing what the other layers contain on their own.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        isolation: Isolation = "auto",
        audit_hook: bool = True,
    ) -> None:
        if os.name != "posix":
            raise UserError("the Python sandbox needs a POSIX system (Linux or macOS)")
        if isolation not in ("auto", "namespace", "none"):
            raise UserError(
                f"unknown isolation {isolation!r}; valid choices: auto, namespace, none"
            )
        if isolation == "namespace" and not namespaces_available():
            raise UserError(
                "isolation='namespace' needs Linux with `unshare "
                f"{' '.join(UNSHARE_FLAGS)}` allowed for this user; use isolation='auto'"
            )
        self.limits = limits if limits is not None else Limits()
        self.isolated = isolation != "none" and namespaces_available()
        """Whether runs use fresh user, network and PID namespaces."""
        self.audit_hook = audit_hook
        self._unshare = shutil.which("unshare") if self.isolated else None

    async def run_python(
        self, code: str, *, limits: Limits | None = None, files: Mapping[str, str] | None = None
    ) -> ExecResult:
        """Run `code` as ``main.py`` (with `files` beside it) and report the outcome."""
        limits = limits if limits is not None else self.limits
        workdir = tempfile.mkdtemp(prefix="palaestra-sandbox-")
        status_read: int | None = None
        status_write: int | None = None
        try:
            _write_files(workdir, code, files or {})
            if self.isolated:
                status_read, status_write = os.pipe()
            argv = self._argv(workdir, limits, status_write)
            started = time.perf_counter()
            loop = asyncio.get_running_loop()
            transport, watch = await loop.subprocess_exec(
                lambda: _Watch(limits.max_output_bytes),
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=workdir,
                env=_child_env(workdir),
                start_new_session=True,
                pass_fds=() if status_write is None else (status_write,),
            )
            if status_write is not None:
                os.close(status_write)
                status_write = None
            outcome = await _supervise(transport, watch, limits)
            status = _read_status(status_read)
            return _result(outcome, status, limits, time.perf_counter() - started, self.isolated)
        finally:
            for fd in (status_read, status_write):
                if fd is not None:
                    os.close(fd)
            _remove_tree(workdir)

    def _argv(self, workdir: str, limits: Limits, status_fd: int | None) -> list[str]:
        extra = 2 if self.isolated else 0  # unshare and the namespace's init count too
        config: dict[str, object] = {
            "workdir": workdir,
            "cpu_seconds": limits.cpu_seconds,
            "memory_bytes": limits.memory_mb * 1024 * 1024,
            "nproc": limits.max_processes + extra,
            "file_bytes": limits.max_file_mb * 1024 * 1024,
            "open_files": limits.max_open_files,
            "max_processes": limits.max_processes,
            "wall_seconds": limits.wall_seconds,
            "guard": "on" if self.audit_hook else "off",
        }
        if status_fd is not None:
            config["status_fd"] = status_fd
        python = [sys.executable, "-I", "-S", "-B", "-u", "-X", "utf8"]
        argv = [*python, "-c", _LOADER, *(f"{k}={v}" for k, v in config.items())]
        if self._unshare is not None:
            argv = [self._unshare, *UNSHARE_FLAGS, *argv]
        return argv


async def run_python(code: str, *, limits: Limits | None = None) -> ExecResult:
    """Run `code` in a default `Sandbox` (namespaces when available, audit hook on)."""
    return await Sandbox(limits).run_python(code)


# -- one run --------------------------------------------------------------------------------


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
    transport: asyncio.SubprocessTransport, watch: _Watch, limits: Limits
) -> _Outcome:
    """Wait for the run to end, killing it at the wall-clock limit or on too much output."""
    reason: KilledBy | None = None
    try:
        done, _ = await asyncio.wait(
            {watch.exited, watch.overflow},
            timeout=limits.wall_seconds,
            return_when="FIRST_COMPLETED",
        )
        if watch.exited not in done:
            reason = "output" if watch.overflow in done else "wall"
        # Kill the group in every case: without namespaces, children the snippet left
        # behind would otherwise live on (with them, the kernel already killed them).
        _kill_group(transport.get_pid())
        await watch.exited
        # A straggler outside the group may still hold a pipe: wait for it only so long.
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


def _read_status(fd: int | None) -> str:
    """What the namespace's init wrote about the snippet's process ('' if nothing)."""
    if fd is None:
        return ""
    os.set_blocking(fd, False)
    try:
        return os.read(fd, 64).decode("ascii", errors="replace")
    except BlockingIOError:
        return ""


def _result(
    outcome: _Outcome, status: str, limits: Limits, duration: float, isolated: bool
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
    killed_by = outcome.reason or _limit_of(exit_code, number)
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


def _limit_of(exit_code: int | None, number: int | None) -> KilledBy | None:
    if number is not None:
        if number == signal.SIGXCPU:
            return "cpu"
        if number == signal.SIGXFSZ:
            return "file_size"
        return "signal"
    return {
        _bootstrap.EXIT_MEMORY: "memory",
        _bootstrap.EXIT_FILE_SIZE: "file_size",
        _bootstrap.EXIT_PROCESSES: "processes",
    }.get(exit_code or 0)  # type: ignore[return-value]


# -- the working directory --------------------------------------------------------------------


def _write_files(workdir: str, code: str, files: Mapping[str, str]) -> None:
    for name in files:
        if not _FILE_NAME.fullmatch(name) or name == "main.py":
            raise UserError(
                f"invalid sandbox file name {name!r}: use a plain file name (letters, "
                "digits, '_', '.', '-'; no directories), other than main.py"
            )
    for name, text in {"main.py": code, **files}.items():
        Path(workdir, name).write_text(text, encoding="utf-8")
    Path(workdir, BOOTSTRAP_FILE).write_bytes(_bootstrap_code())


def _child_env(workdir: str) -> dict[str, str]:
    """The whole environment of the child: nothing inherited from the host."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    }


def _remove_tree(path: str) -> None:
    """Remove the working directory, even where the snippet took permissions away."""

    def retry(function: Any, failed: str, exc_info: Any) -> None:
        try:
            os.chmod(os.path.dirname(failed), 0o700)
            os.chmod(failed, 0o700)
            function(failed)
        except OSError:
            pass

    shutil.rmtree(path, onerror=retry)
