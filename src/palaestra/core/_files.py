"""Output files written whole or not at all: `atomic_write`, `atomic_path`, `atomic_directory`.

Every file palaestra writes as an output (exports, reports, checkpoints, reproduction
files) goes through this module. It is written under a temporary name in the
destination's own directory, flushed and fsync'd, renamed over the destination
(`os.replace`, atomic within one file system) and the directory fsync'd, so that the
rename itself survives a power cut. Whatever happens meanwhile (an exception, Ctrl-C,
`kill -9`, a full disk) the destination is either its old content or absent, never a
truncated file.

An error removes the temporary file; `kill -9` cannot, so a temporary name carries the
writer's host and pid (`.NAME.HOST.PID.RANDOM.palaestra-tmp`) and the next write to the
same destination removes those left by writers that are no longer alive.

Destinations that are not regular files (`/dev/stdout`, a FIFO, a terminal) are written
in place: there is nothing to rename over. What the user must fix (the destination is a
directory, its directory is missing or read-only, the disk is full) is a `UserError` that
names the path.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from palaestra.core._errors import UserError

TMP_SUFFIX = ".palaestra-tmp"
"""Suffix of every temporary file or directory this module creates."""

_NAME_PART = 80
"""Characters of the destination's name kept in a temporary name (names are limited to
255 bytes on most file systems)."""

_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
"""Errors while writing that the user must act on (space, quota, file size limit): they
are reported as a `UserError` naming the destination."""


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:32] or "host"


def _tmp_name(dest: Path) -> str:
    token = secrets.token_hex(4)
    return f".{dest.name[:_NAME_PART]}.{_host()}.{os.getpid()}.{token}{TMP_SUFFIX}"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(dest: str | Path) -> list[Path]:
    """Remove the temporary files or directories that writers of `dest` on this host left
    when they were killed (their pid is gone); returns what was removed."""
    dest = Path(dest)
    prefix, host = f".{dest.name[:_NAME_PART]}.", _host()
    removed = []
    try:
        entries = list(os.scandir(dest.parent))
    except OSError:
        return []
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(TMP_SUFFIX)):
            continue
        parts = name[len(prefix) : -len(TMP_SUFFIX)].split(".")
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        if _alive(int(parts[1])):
            continue
        path = Path(entry.path)
        with contextlib.suppress(OSError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
            else:
                path.unlink()
            removed.append(path)
    return removed


def _user_error(path: Path, exc: OSError) -> UserError:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.EACCES, errno.EPERM):
        reason = f"permission denied ({reason}); choose a writable location"
    elif exc.errno == errno.EROFS:
        reason = "the file system is read-only; choose another location"
    elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = f"{reason}; free some space or choose another location"
    return UserError(f"cannot write {path}: {reason}")


def _parent(dest: Path, shown: Path, *, make_parents: bool) -> Path:
    """The destination's directory, created when asked; `UserError` when it cannot be."""
    parent = dest.parent
    if parent.is_dir():
        return parent
    if parent.exists():
        raise UserError(f"cannot write {shown}: {parent} is not a directory")
    if not make_parents:
        raise UserError(f"cannot write {shown}: directory {parent} does not exist; create it first")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create directory {parent} for {shown}: {exc.strerror}") from None
    return parent


def _resolve(path: str | Path, *, directory: bool) -> tuple[Path, os.stat_result | None]:
    """(the path to replace, the current destination's stat or None).

    A symbolic link is followed (its target is replaced, the link stays); a destination of
    the wrong type, or one the user may not write, is a `UserError`."""
    shown = Path(path)
    try:
        st = os.stat(shown)
    except FileNotFoundError:
        st = None
    except NotADirectoryError:
        raise UserError(f"cannot write {shown}: a parent of it is a file") from None
    except OSError as exc:
        raise _user_error(shown, exc) from None
    if st is not None:
        if directory and not stat.S_ISDIR(st.st_mode):
            raise UserError(f"cannot write directory {shown}: a file of that name exists")
        if not directory and stat.S_ISDIR(st.st_mode):
            raise UserError(f"cannot write {shown}: it is a directory; give a file name")
        if stat.S_ISREG(st.st_mode) and not os.access(shown, os.W_OK):
            if os.statvfs(shown).f_flag & os.ST_RDONLY:
                raise _user_error(shown, OSError(errno.EROFS, os.strerror(errno.EROFS)))
            raise UserError(f"cannot write {shown}: the file is read-only")
    real = Path(os.path.realpath(shown)) if shown.is_symlink() else shown
    return real, st


def _fsync_path(path: Path) -> None:
    """fsync a file or directory by path (no-op where the file system refuses)."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) if path.is_dir() else os.O_RDONLY
    try:
        fd = os.open(path, flags)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot fsync a directory
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def _create_temp(parent: Path, dest: Path, shown: Path) -> Path:
    """An empty temporary file beside `dest`, created with the usual mode (umask applies)."""
    while True:
        tmp = parent / _tmp_name(dest)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise _user_error(shown, exc) from None
        os.close(fd)
        return tmp


@contextlib.contextmanager
def atomic_path(path: str | Path, *, make_parents: bool = False) -> Iterator[Path]:
    """A temporary path beside `path` to write by name (for libraries that take a path:
    pyarrow, torch.save); renamed over `path` when the block ends without an error.

    The yielded file exists (empty) and may be overwritten. A destination that is not a
    regular file (a FIFO, `/dev/stdout`) is yielded itself and written in place."""
    shown = Path(path)
    dest, st = _resolve(shown, directory=False)
    if st is not None and not stat.S_ISREG(st.st_mode):
        yield dest
        return
    parent = _parent(dest, shown, make_parents=make_parents)
    remove_stale_temporaries(dest)
    tmp = _create_temp(parent, dest, shown)
    try:
        yield tmp
        _fsync_path(tmp)
        if st is not None:
            os.chmod(tmp, stat.S_IMODE(st.st_mode))
        os.replace(tmp, dest)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
            raise _user_error(shown, exc) from exc
        raise
    _fsync_path(parent)


@contextlib.contextmanager
def atomic_write(
    path: str | Path,
    mode: str = "w",
    *,
    encoding: str = "utf-8",
    newline: str | None = "\n",
    make_parents: bool = False,
) -> Iterator[IO[Any]]:
    """An open file (`mode` "w" text, "wb" binary) whose content replaces `path` only when
    the block ends without an error (see the module docstring).

    ```python
    with atomic_write("out.jsonl") as fp:
        fp.write(line)
    ```
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes a whole file: mode 'w' or 'wb', got {mode!r}")
    with atomic_path(path, make_parents=make_parents) as target:
        if mode == "wb":
            with open(target, "wb") as fp:
                yield fp
        else:
            with open(target, "w", encoding=encoding, newline=newline) as fp:
                yield fp


@contextlib.contextmanager
def atomic_directory(path: str | Path, *, make_parents: bool = True) -> Iterator[Path]:
    """A temporary directory beside `path` to fill; when the block ends without an error
    every file in it is fsync'd and it is renamed to `path`.

    An existing `path` is renamed aside first and removed after: a crash between the two
    renames leaves `path` absent and the old directory under a `.palaestra-old` name."""
    shown = Path(path)
    dest, st = _resolve(shown, directory=True)
    parent = _parent(dest, shown, make_parents=make_parents)
    remove_stale_temporaries(dest)
    tmp = parent / _tmp_name(dest)
    try:
        tmp.mkdir()
    except OSError as exc:
        raise _user_error(shown, exc) from None
    try:
        yield tmp
        for root, dirs, files in os.walk(tmp):
            for name in files:
                _fsync_path(Path(root, name))
            for name in dirs:
                _fsync_path(Path(root, name))
        _fsync_path(tmp)
        if st is not None:
            old = parent / (_tmp_name(dest)[: -len(TMP_SUFFIX)] + ".palaestra-old")
            os.rename(dest, old)
            os.rename(tmp, dest)
            _fsync_path(parent)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, dest)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and exc.errno in _FULL_ERRNOS:
            raise _user_error(shown, exc) from exc
        raise
    _fsync_path(parent)
