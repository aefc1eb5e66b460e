"""`Workspace`: a sandboxed directory an episode holds across calls, and the commands it
runs there.

A workspace is started once (`start`, or ``async with``), runs any number of commands
(`run`, `shell`, `run_python`; concurrently if wanted), each in a fresh bubblewrap
sandbox that sees the same files at `WORKSPACE`, and is destroyed at the end (`close`):
its tmpfs goes with its holder process (see `_holder`). Task data given at creation is
mounted read-only at `DATA`. The host reads and writes the files with the methods here,
which never follow a link the sandbox planted (`_files`); `manifest()` is what an
episode records at its end.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import secrets
import shutil
import subprocess
import weakref
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from palaestra.core import UserError
from palaestra.sandbox import _holder, _process
from palaestra.sandbox._files import FileEntry, Manifest, WorkspaceFileError, WorkspaceFiles
from palaestra.sandbox._holder import CALL_DIR, DATA, WORKSPACE, Layout
from palaestra.sandbox._limits import CommandLimits, ExecResult
from palaestra.sandbox._probe import Isolation, require_isolation, unavailable, validate_isolation

if TYPE_CHECKING:
    _Finalizer = weakref.finalize[[subprocess.Popen[bytes] | None, Layout], "Workspace"]

logger = logging.getLogger("palaestra.sandbox")

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
_HOLDER_START_S = 30.0
_PYTHON_FLAGS = ("-I", "-S", "-B", "-u", "-X", "utf8")
_warned_unisolated = False

NO_ISOLATION_WARNING = (
    "isolation is 'none': agent code runs as a plain subprocess of palaestra, with its "
    "user's rights on this machine's files, network and processes (resource limits only)"
)
"""What is logged (once per process) and recorded when agent code runs without isolation."""


class Workspace:
    """A sandboxed working directory that persists across commands (module docstring).

    `limits` are the default limits of its commands (each may pass its own); `disk_mb`
    and `max_files` cap what the workspace holds (its files and ``/tmp`` together: the
    kernel answers ``ENOSPC`` past them); `data` is a host directory (or file) mounted
    read-only at `DATA`; `python_paths` are host directories made importable, read-only
    (mounted under ``/opt/palaestra/python/``, on ``PYTHONPATH`` of commands and on
    ``sys.path`` of `run_python`: e.g. a site-packages with pytest); `env` adds
    variables to every command's environment, which otherwise holds only ``PATH``,
    ``HOME``, ``PWD``, ``TMPDIR``, ``LANG``, ``LC_ALL``, ``USER`` and ``LOGNAME``
    (nothing of the host's). `isolation="none"` runs without the kernel sandbox: an
    explicit opt-in that contains nothing (docs/sandbox.md).
    """

    def __init__(
        self,
        *,
        limits: CommandLimits | None = None,
        disk_mb: int = 64,
        max_files: int = 10_000,
        data: str | os.PathLike[str] | None = None,
        python_paths: Sequence[str | os.PathLike[str]] = (),
        env: Mapping[str, str] | None = None,
        isolation: Isolation = "bwrap",
    ) -> None:
        if os.name != "posix":
            raise UserError("the sandbox needs a POSIX system (Linux)")
        self.isolation: Isolation = validate_isolation(isolation)
        if not 1 <= disk_mb <= 65536:
            raise UserError(f"disk_mb must be between 1 and 65536, got {disk_mb}")
        if not 16 <= max_files <= 10_000_000:
            raise UserError(f"max_files must be between 16 and 10000000, got {max_files}")
        self.limits = limits if limits is not None else CommandLimits()
        self.disk_mb = disk_mb
        self.max_files = max_files
        self.data = None if data is None else os.fspath(data)
        if self.data is not None and not os.path.exists(self.data):
            raise UserError(f"workspace data {self.data!r} does not exist")
        self.python_paths = [os.path.abspath(os.fspath(p)) for p in python_paths]
        for path in self.python_paths:
            if not os.path.isdir(path):
                raise UserError(f"python path {path!r} is not a directory")
        self.env = _checked_env(env or {})
        self._layout: Layout | None = None
        self._holder: subprocess.Popen[bytes] | None = None
        self._files: WorkspaceFiles | None = None
        self._run_fd = -1
        self._calls = itertools.count()
        self._closed = False
        self._starting: asyncio.Lock | None = None
        self._finalizer: _Finalizer | None = None

    # -- facts --------------------------------------------------------------------------

    @property
    def isolated(self) -> bool:
        """Whether commands run in the kernel sandbox (False only with isolation none)."""
        return self.isolation == "bwrap"

    @property
    def started(self) -> bool:
        return self._files is not None and not self._closed

    @property
    def workdir(self) -> str:
        """The workspace's path as its commands see it (`WORKSPACE` when isolated)."""
        if self.isolated:
            return WORKSPACE
        return os.path.join(self._require_layout().fs, "work")

    @property
    def data_dir(self) -> str | None:
        """Where the task data is, as commands see it (None without data)."""
        if self.data is None:
            return None
        return DATA if self.isolated else os.path.realpath(self.data)

    @property
    def python(self) -> str:
        """The interpreter commands can run (the host's, bound read-only)."""
        return _holder.interpreter()[0]

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> Workspace:
        """Create the workspace (mount its tmpfs); raises `SandboxUnavailable` where the
        kernel sandbox cannot start. Idempotent while open."""
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:  # concurrent first commands start it once
            if self._closed:
                raise RuntimeError("this workspace was closed; create a new one")
            if self._files is not None:
                return self
            if self.isolated:
                await asyncio.to_thread(require_isolation)
                await asyncio.to_thread(self._start_isolated)
            else:
                _warn_unisolated()
                self._start_plain()
        return self

    def _start_isolated(self) -> None:
        bindings = _holder.readonly_bindings(self.python_paths, self.data)
        layout = _holder.make_layout(bindings)
        argv = _holder.holder_argv(layout, self.disk_mb << 20, self.max_files)
        try:
            holder = subprocess.Popen(
                argv,
                env=_holder.HOST_ENV,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            _holder.remove_layout(layout)
            raise unavailable(f"could not start the workspace holder: {exc}") from None
        self._layout, self._holder = layout, holder
        self._finalizer = weakref.finalize(self, _abandon, holder, layout)
        assert holder.stdout is not None and holder.stderr is not None
        if holder.stdout.readline() != b"ready\n":
            holder.wait(_HOLDER_START_S)
            error = holder.stderr.read().decode("utf-8", errors="replace").strip()
            self._teardown()
            raise unavailable(f"could not mount the workspace's tmpfs: {error}")
        fs = f"/proc/{holder.pid}/root{layout.fs}"
        owner = _holder.NOBODY if _holder.rootful() else None
        self._open(fs, owner)
        etc = self._run_fd
        os.mkdir("etc", 0o755, dir_fd=etc)
        for name, text in (("passwd", _holder.ETC_PASSWD), ("group", _holder.ETC_GROUP)):
            fd = os.open(f"etc/{name}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=etc)
            with os.fdopen(fd, "w", encoding="ascii") as file:
                file.write(text)

    def _start_plain(self) -> None:
        layout = _holder.make_layout([])
        self._layout = layout
        self._finalizer = weakref.finalize(self, _abandon, None, layout)
        for name in ("work", "tmp", "run"):
            os.mkdir(os.path.join(layout.fs, name), 0o700)
        self._open(layout.fs, None)

    def _open(self, fs: str, owner: int | None) -> None:
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        root = os.open(fs, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            self._run_fd = os.open("run", flags, dir_fd=root)
            self._files = WorkspaceFiles(os.open("work", flags, dir_fd=root), owner)
        finally:
            os.close(root)

    async def close(self) -> None:
        """Destroy the workspace: its files are gone. Idempotent. Commands still running
        in it keep their own view until they end (at their wall-clock limit at most)."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._teardown)

    def _teardown(self) -> None:
        if self._files is not None:
            self._files.close()
        if self._run_fd >= 0:
            os.close(self._run_fd)
            self._run_fd = -1
        if self._finalizer is not None:
            self._finalizer()  # stops the holder (its tmpfs goes) and removes the layout
        self._closed = True

    async def __aenter__(self) -> Workspace:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- commands -----------------------------------------------------------------------

    async def run(
        self,
        argv: Sequence[str],
        *,
        limits: CommandLimits | None = None,
        stdin: bytes | str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run the program `argv` (looked up on ``PATH``) in the workspace, under
        `limits`, with `stdin` as its input (none: ``/dev/null``) and `env` added to its
        environment. Nothing the program does raises here: it is in the result (exit
        code 127: no such program)."""
        if not argv or not all(isinstance(a, str) and "\x00" not in a for a in argv):
            raise UserError(f"argv must be a non-empty list of strings, got {argv!r}")
        return await self._call("exec", list(argv), limits, stdin, env, None)

    async def shell(
        self,
        command: str,
        *,
        limits: CommandLimits | None = None,
        stdin: bytes | str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run `command` with ``bash -c`` (``sh`` where bash is missing) in the workspace."""
        shell = "bash" if shutil.which("bash") else "sh"
        return await self.run([shell, "-c", command], limits=limits, stdin=stdin, env=env)

    async def run_python(
        self,
        code: str,
        *,
        limits: CommandLimits | None = None,
        files: Mapping[str, str] | None = None,
        stdin: bytes | str | None = None,
    ) -> ExecResult:
        """Run `code` as ``main.py`` with the host's interpreter (isolated mode, no
        ``site``; `python_paths` importable). `code` and `files` (importable modules,
        e.g. ``{"solution.py": ...}``) are put in the command's private read-only
        directory, not in the workspace; the working directory is the workspace.
        A traceback shows only the snippet's frames; a limit it hit is reported in
        ``killed_by`` (``memory``, ``file_size``, ``disk``, ``processes``...)."""
        program = {"main.py": code, **_checked_files(files or {})}
        return await self._call("python", [], limits, stdin, None, program)

    async def _call(
        self,
        mode: str,
        argv: list[str],
        limits: CommandLimits | None,
        stdin: bytes | str | None,
        env: Mapping[str, str] | None,
        program: Mapping[str, str] | None,
    ) -> ExecResult:
        if not self.started:
            await self.start()
        limits = limits if limits is not None else self.limits
        extra = _checked_env(env or {})
        name = f"c{next(self._calls)}-{secrets.token_hex(4)}"
        self._write_call(name, program or {})
        status = os.pipe()
        os.set_inheritable(status[1], True)
        try:
            layout = self._require_layout()
            if self.isolated:
                call_dir, cwd = CALL_DIR, None
            else:
                call_dir = os.path.join(layout.fs, "run", name)
                cwd = os.path.join(layout.fs, "work")
            config = _process.launcher_config(
                limits, mode=mode, call_dir=call_dir, isolated=self.isolated, status_fd=status[1]
            )
            if self.python_paths:
                config.append("paths=" + os.pathsep.join(self._import_paths()))
            python, _ = _holder.interpreter()
            command = [python, *_PYTHON_FLAGS, "-c", _process.loader(call_dir), *config]
            if mode == "exec":
                command += ["--", *argv]
            environment = {**self._environment(), **self.env, **extra}
            if self.isolated:
                assert self._holder is not None
                if self._holder.poll() is not None:  # killed from outside: no tmpfs to enter
                    raise RuntimeError(
                        f"the workspace's holder process {self._holder.pid} has ended "
                        f"(status {self._holder.returncode}); the workspace is gone"
                    )
                enter = _holder.enter_argv(self._holder.pid)
                full = [*enter, *_holder.bwrap_argv(layout, name, environment, command)]
                environment = dict(_holder.HOST_ENV)
            else:
                full = command
            data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
            return await _process.execute(
                full,
                limits=limits,
                env=environment,
                cwd=cwd,
                stdin=data,
                status=status,
                isolated=self.isolated,
                python_mode=mode == "python",
            )
        finally:
            self._remove_call(name)

    def _environment(self) -> dict[str, str]:
        python, prefix = _holder.interpreter()
        path = f"{os.path.dirname(python)}:/usr/local/bin:/usr/bin:/bin"
        if self.isolated:
            home, tmp = WORKSPACE, "/tmp"
        else:
            fs = self._require_layout().fs
            home, tmp = os.path.join(fs, "work"), os.path.join(fs, "tmp")
        env = {
            "PATH": path,
            "HOME": home,
            "PWD": home,
            "TMPDIR": tmp,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "USER": _holder.SANDBOX_USER,
            "LOGNAME": _holder.SANDBOX_USER,
        }
        if self.python_paths:
            env["PYTHONPATH"] = os.pathsep.join(self._import_paths())
        return env

    def _import_paths(self) -> list[str]:
        """The extra import paths as commands see them."""
        if not self.isolated:
            return list(self.python_paths)
        return [_holder.import_path(i) for i in range(len(self.python_paths))]

    def _write_call(self, name: str, program: Mapping[str, str]) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        os.mkdir(name, 0o755, dir_fd=self._run_fd)
        contents: dict[str, bytes] = {_process.LAUNCHER_FILE: _process.launcher_code()}
        contents.update({key: text.encode("utf-8") for key, text in program.items()})
        for file, data in contents.items():
            try:
                fd = os.open(f"{name}/{file}", flags, 0o644, dir_fd=self._run_fd)
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
            except OSError as exc:
                self._remove_call(name)
                if exc.errno == 28:  # ENOSPC: the sandbox filled the workspace
                    raise WorkspaceFileError(
                        "the workspace is full (disk or file-count limit): the command "
                        "could not be started; remove files first"
                    ) from None
                raise

    def _remove_call(self, name: str) -> None:
        if self._run_fd >= 0:
            shutil.rmtree(name, dir_fd=self._run_fd, ignore_errors=True)

    def _require_layout(self) -> Layout:
        if self._layout is None:
            raise RuntimeError("the workspace is not started: await start() first")
        return self._layout

    # -- files (the host's side) --------------------------------------------------------

    def _require_files(self) -> WorkspaceFiles:
        if self._files is None or self._closed:
            raise WorkspaceFileError("the workspace is not started or already closed")
        return self._files

    def read_bytes(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """The regular file `path` of the workspace (see `WorkspaceFiles.read_bytes`)."""
        return self._require_files().read_bytes(path, max_bytes=max_bytes)

    def read_text(self, path: str, *, max_bytes: int | None = None) -> str:
        return self._require_files().read_text(path, max_bytes=max_bytes)

    def write_bytes(self, path: str, data: bytes) -> None:
        """Create or replace `path` in the workspace (its directories too)."""
        self._require_files().write_bytes(path, data)

    def write_text(self, path: str, text: str) -> None:
        self._require_files().write_text(path, text)

    def remove(self, path: str) -> None:
        """Remove a file, a symbolic link or an empty directory of the workspace."""
        self._require_files().remove(path)

    def exists(self, path: str) -> bool:
        return self._require_files().exists(path)

    def list_files(
        self, path: str = ".", *, recursive: bool = False, limit: int = 1000
    ) -> tuple[list[FileEntry], bool]:
        """Entries under `path` (sorted, directories included, links not followed), at
        most `limit`; and whether some were left out."""
        return self._require_files().list(path, recursive=recursive, limit=limit)

    def manifest(self, *, max_files: int = 1000, max_bytes: int = 64 << 20) -> Manifest:
        """The workspace's files with sizes and SHA-256 hashes, capped (`Manifest`)."""
        return self._require_files().manifest(max_files=max_files, max_bytes=max_bytes)


def _abandon(holder: subprocess.Popen[bytes] | None, layout: Layout) -> None:
    """Stop a holder (closing its stdin ends it, and its tmpfs) and remove the layout."""
    if holder is not None:
        for stream in (holder.stdin, holder.stdout, holder.stderr):
            if stream is not None:
                stream.close()
        try:
            holder.wait(10)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
    _holder.remove_layout(layout)


def _warn_unisolated() -> None:
    global _warned_unisolated
    if not _warned_unisolated:
        _warned_unisolated = True
        logger.warning(NO_ISOLATION_WARNING)


def _checked_env(env: Mapping[str, str]) -> dict[str, str]:
    for name, value in env.items():
        if not _ENV_NAME.fullmatch(name) or not isinstance(value, str) or "\x00" in value:
            raise UserError(
                f"invalid environment variable {name!r}={value!r}: names are letters, "
                "digits and '_', values strings without NUL"
            )
    return dict(env)


def _checked_files(files: Mapping[str, str]) -> dict[str, str]:
    for name in files:
        if not _FILE_NAME.fullmatch(name) or name in ("main.py", _process.LAUNCHER_FILE):
            raise UserError(
                f"invalid sandbox file name {name!r}: use a plain file name (letters, "
                "digits, '_', '.', '-'; no directories), other than main.py"
            )
    return dict(files)
