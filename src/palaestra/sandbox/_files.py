"""The host's side of a workspace's files: read, write, list, remove, and the manifest
(`Manifest`: every file's size and SHA-256, size-capped) recorded at an episode's end.

Everything the sandbox wrote is hostile: a path may be a symbolic link to ``/etc/shadow``
or to the host's copy of the workspace, a FIFO that blocks an open, or a directory
swapped for a link between two calls. So no path is ever resolved by the host's kernel
from the top: each operation walks from a directory descriptor of the workspace's root,
one component at a time, with ``O_NOFOLLOW`` (a symbolic link anywhere on the way is
refused, never followed) and ``O_NONBLOCK`` (a FIFO cannot stall the host), and opens
only regular files. Paths with ``..`` or outside `WORKSPACE` are refused before that.
The files are on the workspace's own tmpfs, so a hard link cannot reach a host file
either (links do not cross file systems).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator

from palaestra.core import FileEntry, WorkspaceManifest
from palaestra.sandbox._holder import WORKSPACE

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHUNK = 1 << 16
MAX_DEPTH = 64
"""Directory levels below the root that listings and the manifest descend into: a nest
thousands deep (a shell loop makes one in a second) would exhaust the host's recursion
limit and file descriptors; what lies deeper is left out and reported as such."""


class WorkspaceFileError(Exception):
    """A file operation on a workspace was refused or failed; the message is worded for
    whoever asked (a model's tool call, typically): what is wrong and what to do."""


Manifest = WorkspaceManifest
"""What a workspace holds (`palaestra.core.WorkspaceManifest`, the payload of the
``workspace`` event an episode's end records): files with sizes and SHA-256, capped."""


def relative_parts(path: str) -> list[str]:
    """`path` (relative to the workspace, or absolute under `WORKSPACE`) as components;
    raises `WorkspaceFileError` for anything that could leave the workspace."""
    if not isinstance(path, str) or "\x00" in path:
        raise WorkspaceFileError(
            f"invalid path {path!r}: give a relative path such as 'src/app.py'"
        )
    text = path.strip()
    if text == WORKSPACE or text.startswith(WORKSPACE + "/"):
        text = text[len(WORKSPACE) :]
    elif text.startswith("/"):
        raise WorkspaceFileError(
            f"{path!r} is outside the workspace: give a path relative to it (or under {WORKSPACE})"
        )
    parts = [part for part in text.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise WorkspaceFileError(f"{path!r} climbs out of its directory ('..' is not allowed)")
    return parts


class WorkspaceFiles:
    """Descriptor-relative access to one directory tree (the workspace's ``work/``)."""

    def __init__(self, root_fd: int, owner: int | None) -> None:
        self.root_fd = root_fd
        """An open descriptor of the workspace's root directory (owned by this object)."""
        self.owner = owner
        """uid and gid to give what the host creates (root's files would be read-only to
        the sandbox's user), or None to keep the host's."""

    def close(self) -> None:
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1

    # -- walking ----------------------------------------------------------------------

    def _walk(self, parts: list[str], *, create: bool = False) -> int:
        """An open descriptor of the directory `parts` (created when `create`)."""
        if self.root_fd < 0:
            raise WorkspaceFileError("the workspace is closed")
        fd = os.dup(self.root_fd)
        try:
            for index, part in enumerate(parts):
                try:
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except FileNotFoundError:
                    if not create:
                        raise WorkspaceFileError(
                            f"no such directory: {'/'.join(parts[: index + 1])}"
                        ) from None
                    self._mkdir(part, fd)
                    child = os.open(part, _DIR_FLAGS, dir_fd=fd)
                except OSError as exc:
                    raise _refused("/".join(parts[: index + 1]), exc) from None
                os.close(fd)
                fd = child
            return fd
        except BaseException:
            os.close(fd)
            raise

    def _mkdir(self, name: str, dir_fd: int) -> None:
        try:
            os.mkdir(name, 0o755, dir_fd=dir_fd)
        except FileExistsError:
            return
        except OSError as exc:
            raise _refused(name, exc) from None
        if self.owner is not None:
            os.chown(name, self.owner, self.owner, dir_fd=dir_fd, follow_symlinks=False)

    def _split(self, path: str) -> tuple[list[str], str]:
        parts = relative_parts(path)
        if not parts:
            raise WorkspaceFileError(f"{path!r} is the workspace itself, not a file")
        return parts[:-1], parts[-1]

    # -- files ------------------------------------------------------------------------

    def read_bytes(self, path: str, *, max_bytes: int | None = None) -> bytes:
        """The content of the regular file `path` (at most `max_bytes`: more is an error,
        so a caller never holds more than it asked for)."""
        folder, name = self._split(path)
        dir_fd = self._walk(folder)
        try:
            fd = self._open_file(name, dir_fd, path)
        finally:
            os.close(dir_fd)
        with os.fdopen(fd, "rb") as file:
            data = file.read() if max_bytes is None else file.read(max_bytes + 1)
        if max_bytes is not None and len(data) > max_bytes:
            raise WorkspaceFileError(f"{path} is larger than {max_bytes} bytes")
        return data

    def read_text(self, path: str, *, max_bytes: int | None = None) -> str:
        """`read_bytes` decoded as UTF-8 (undecodable bytes replaced)."""
        return self.read_bytes(path, max_bytes=max_bytes).decode("utf-8", errors="replace")

    def _open_file(self, name: str, dir_fd: int, shown: str) -> int:
        try:
            fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
        except FileNotFoundError:
            raise WorkspaceFileError(f"no such file: {shown}") from None
        except OSError as exc:
            raise _refused(shown, exc) from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise WorkspaceFileError(f"{shown} is {kind}")
        os.set_blocking(fd, True)
        return fd

    def write_bytes(self, path: str, data: bytes) -> None:
        """Create or replace the regular file `path` (and its missing directories). A
        symbolic link, directory or FIFO in the way is refused; a full workspace is an
        error (the tmpfs's cap holds for the host's writes too)."""
        folder, name = self._split(path)
        dir_fd = self._walk(folder, create=True)
        try:
            try:
                fd = os.open(name, _WRITE_FLAGS, 0o644, dir_fd=dir_fd)
            except OSError as exc:
                raise _refused(path, exc) from None
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise WorkspaceFileError(f"{path} is not a regular file")
                if self.owner is not None:
                    os.fchown(fd, self.owner, self.owner)
                view = memoryview(data)
                while view:
                    try:
                        written = os.write(fd, view[:_CHUNK])
                    except OSError as exc:
                        raise _refused(path, exc) from None
                    view = view[written:]
            finally:
                os.close(fd)
        finally:
            os.close(dir_fd)

    def write_text(self, path: str, text: str) -> None:
        """`write_bytes` of `text` encoded as UTF-8."""
        self.write_bytes(path, text.encode("utf-8"))

    def remove(self, path: str) -> None:
        """Remove the file, symbolic link (not what it points to) or empty directory
        `path`."""
        folder, name = self._split(path)
        dir_fd = self._walk(folder)
        try:
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if stat.S_ISDIR(info.st_mode):
                    os.rmdir(name, dir_fd=dir_fd)
                else:
                    os.unlink(name, dir_fd=dir_fd)
            except FileNotFoundError:
                raise WorkspaceFileError(f"no such file: {path}") from None
            except OSError as exc:
                raise _refused(path, exc) from None
        finally:
            os.close(dir_fd)

    def exists(self, path: str) -> bool:
        """Whether `path` names anything (a symbolic link counts; it is not followed)."""
        try:
            folder, name = self._split(path)
            dir_fd = self._walk(folder)
        except WorkspaceFileError:
            return False
        try:
            os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            return True
        except OSError:
            return False
        finally:
            os.close(dir_fd)

    # -- listings ---------------------------------------------------------------------

    def list(
        self, path: str = ".", *, recursive: bool = False, limit: int = 1000
    ) -> tuple[list[FileEntry], bool]:
        """Entries under `path` (sorted; directories included), at most `limit`; and
        whether entries were left out."""
        parts = relative_parts(path)
        fd = self._walk(parts)
        entries: list[FileEntry] = []
        prefix = "/".join(parts)
        too_deep: list[str] = []
        try:
            for entry in _entries(fd, prefix, recursive, too_deep=too_deep):
                if len(entries) >= limit:
                    return entries, True
                entries.append(entry)
        finally:
            os.close(fd)
        return entries, bool(too_deep)

    def manifest(self, *, max_files: int = 1000, max_bytes: int = 64 << 20) -> Manifest:
        """Every non-directory of the workspace with its size and, within `max_bytes` of
        content read in all, its SHA-256 (see `Manifest`)."""
        fd = self._walk([])
        files: list[FileEntry] = []
        total_files = total_bytes = 0
        budget = max_bytes
        truncated = False
        too_deep: list[str] = []
        try:
            for entry in _entries(fd, "", True, too_deep=too_deep):
                if entry.kind == "dir":
                    continue
                total_files += 1
                total_bytes += entry.size
                if len(files) >= max_files:
                    truncated = True
                    continue
                if entry.kind == "file":
                    if entry.size <= budget:
                        digest = self._hash(entry.path, entry.size)
                        if digest is not None:
                            budget -= entry.size
                            entry = entry.model_copy(update={"sha256": digest})
                    if entry.sha256 is None:
                        truncated = True
                files.append(entry)
        finally:
            os.close(fd)
        truncated = truncated or bool(too_deep)
        return Manifest(
            files=files, total_files=total_files, total_bytes=total_bytes, truncated=truncated
        )

    def _hash(self, path: str, size: int) -> str | None:
        folder, name = self._split(path)
        try:
            dir_fd = self._walk(folder)
        except WorkspaceFileError:
            return None
        try:
            fd = self._open_file(name, dir_fd, path)
        except WorkspaceFileError:
            return None
        finally:
            os.close(dir_fd)
        digest = hashlib.sha256()
        left = size
        with os.fdopen(fd, "rb") as file:
            while left > 0:
                chunk = file.read(min(_CHUNK, left))
                if not chunk:
                    break
                digest.update(chunk)
                left -= len(chunk)
            if left != 0 or file.read(1):
                return None  # changed while read: no hash is better than a wrong one
        return digest.hexdigest()


def _entries(
    dir_fd: int, prefix: str, recursive: bool, *, too_deep: list[str], depth: int = 0
) -> Iterator[FileEntry]:
    """Entries of `dir_fd` sorted by name, depth first when `recursive`, at most
    `MAX_DEPTH` levels down (directories not descended into are added to `too_deep`)."""
    with os.scandir(dir_fd) as scan:
        found = sorted(scan, key=lambda entry: entry.name)
    for item in found:
        path = f"{prefix}/{item.name}" if prefix else item.name
        try:
            info = item.stat(follow_symlinks=False)
        except OSError:
            continue
        mode = info.st_mode
        if stat.S_ISLNK(mode):
            try:
                target = os.readlink(item.name, dir_fd=dir_fd)
            except OSError:
                target = ""
            yield FileEntry(path=path, kind="symlink", target=target)
        elif stat.S_ISDIR(mode):
            yield FileEntry(path=path, kind="dir")
            if recursive and depth + 1 >= MAX_DEPTH:
                too_deep.append(path)
            elif recursive:
                try:
                    child = os.open(item.name, _DIR_FLAGS, dir_fd=dir_fd)
                except OSError:
                    continue
                try:
                    yield from _entries(child, path, True, too_deep=too_deep, depth=depth + 1)
                finally:
                    os.close(child)
        elif stat.S_ISREG(mode):
            yield FileEntry(path=path, kind="file", size=info.st_size)
        else:
            yield FileEntry(path=path, kind="other")


def _refused(path: str, exc: OSError) -> WorkspaceFileError:
    import errno

    reasons = {
        errno.ELOOP: "is a symbolic link, which is not followed",
        errno.ENOTDIR: "has a component that is not a directory (or is a symbolic link)",
        errno.EISDIR: "is a directory",
        errno.ENOSPC: "cannot be written: the workspace is full (disk or file-count limit)",
        errno.EDQUOT: "cannot be written: the workspace is full",
        errno.ENOTEMPTY: "is a directory that is not empty",
        errno.EACCES: "is not accessible (permission denied)",
        errno.EPERM: "is not accessible (operation not permitted)",
        errno.ENXIO: "is not a regular file",
        errno.EEXIST: "already exists",
    }
    reason = reasons.get(exc.errno or 0, exc.strerror or str(exc))
    return WorkspaceFileError(f"{path} {reason}")
