"""The workspace's holder process and the command lines that enter it.

A workspace's files live on a tmpfs mounted with a size cap (``size=``) and a file-count
cap (``nr_inodes=``), which the kernel enforces: a full workspace answers ``ENOSPC``,
however the files are written. bubblewrap's own ``--tmpfs --size`` cannot cap the file
count, and a tmpfs it mounts dies with its sandbox, so the workspace mounts its own:

- The **holder** is ``unshare --mount`` (as root) or ``unshare --user --map-root-user
  --mount`` (as any other user) running a few lines of ``sh``: it mounts the tmpfs on
  ``<base>/fs`` in its private mount namespace, binds the read-only paths the sandbox
  needs under ``<base>/ro/<i>`` (as root this is what lets a path under ``/root`` reach
  the unprivileged sandbox user), prints ``ready`` and waits on its stdin. Closing that
  pipe (or the host process dying) ends it, and the tmpfs with it: nothing is left on the
  host's disk. The host reads and writes the files through ``/proc/<holder>/root``.
- Every **command** is ``nsenter`` into the holder's mount namespace, then ``bwrap``
  (see `bwrap_argv`) with new user, mount, PID, network, IPC, UTS and cgroup namespaces.
  As root, ``nsenter`` first drops to ``nobody`` (uid and gid 65534, no supplementary
  groups), so the sandbox's user maps to ``nobody`` outside and holds no privilege on
  the host; as another user it maps to that user.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

SANDBOX_UID = 1000
"""The uid (and gid) of every sandboxed process, inside its user namespace."""
SANDBOX_USER = "sandbox"
NOBODY = 65534
"""The host uid and gid the sandbox's user maps to when palaestra runs as root."""
WORKSPACE = "/workspace"
"""Where the workspace's files are, inside the sandbox (the working directory, ``HOME``)."""
DATA = "/data"
"""Where a workspace's task data is mounted read-only, inside the sandbox."""
IMPORT_PATHS = "/opt/palaestra/python"
"""Where a workspace's extra import paths are mounted read-only, inside the sandbox."""
CALL_DIR = "/run/palaestra"
"""The read-only directory of one command inside the sandbox: the launcher, ``main.py``
and the files given with it (never part of the workspace)."""

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOST_ENV = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
"""The whole environment of the holder, ``nsenter`` and ``bwrap``: nothing of the host's
(no API key sits in their ``/proc/<pid>/environ``)."""


@functools.cache
def program(name: str) -> str:
    """The absolute path of `name` (``bwrap``, ``nsenter``...), found once on the host's
    ``PATH`` (the probe has checked that it is there)."""
    return shutil.which(name) or name


_HOLDER_SCRIPT = r"""set -eu
fs=$1; size=$2; inodes=$3; owner=$4; shift 4
mount -t tmpfs -o "size=$size,nr_inodes=$inodes,mode=0755,uid=0,gid=0" palaestra-workspace "$fs"
mkdir "$fs/work" "$fs/tmp" "$fs/run"
chown "$owner:$owner" "$fs/work" "$fs/tmp"
chmod 0755 "$fs/work" "$fs/run"
chmod 1777 "$fs/tmp"
while [ $# -gt 0 ]; do
  mount --bind "$1" "$2"
  mount -o remount,bind,ro "$2"
  shift 2
done
echo ready
exec cat
"""
"""What the holder runs (`sh -c`, paths as arguments, never spliced into the text)."""


@dataclass(frozen=True)
class Binding:
    """A host path made visible read-only inside the sandbox at `target`."""

    source: str
    target: str


@dataclass
class Layout:
    """Where a workspace lives on the host (a private temporary directory)."""

    base: str
    """``<tmp>/palaestra-ws-*``: mount points only; the files are on the holder's tmpfs."""
    bindings: list[Binding] = field(default_factory=list)

    @property
    def fs(self) -> str:
        return os.path.join(self.base, "fs")

    def staged(self, index: int) -> str:
        """Where the holder binds `bindings[index]`."""
        return os.path.join(self.base, "ro", str(index))


def rootful() -> bool:
    """Whether palaestra runs as root (the sandbox's user then maps to ``nobody``)."""
    return os.geteuid() == 0


def interpreter() -> tuple[str, str]:
    """The host's Python (real path) and its installation prefix (real path)."""
    return os.path.realpath(sys.executable), os.path.realpath(sys.base_prefix)


def import_path(index: int) -> str:
    """Where the `index`-th extra import path of a workspace is, inside the sandbox."""
    return f"{IMPORT_PATHS}/{index}"


def readonly_bindings(python_paths: Sequence[str], data: str | None) -> list[Binding]:
    """The read-only paths of a sandbox beyond ``/usr``: the interpreter's prefix (when
    not under ``/usr``; at its own path, which the interpreter was built for), extra
    import paths at `import_path` (not at their own: a host path under ``/tmp`` would be
    hidden by the sandbox's ``/tmp``), task data at `DATA`."""
    _, prefix = interpreter()
    found: list[Binding] = []
    if not (prefix == "/usr" or prefix.startswith("/usr/")):
        found.append(Binding(prefix, prefix))
    for index, path in enumerate(python_paths):
        found.append(Binding(os.path.realpath(path), import_path(index)))
    if data is not None:
        found.append(Binding(os.path.realpath(data), DATA))
    return found


def make_layout(bindings: list[Binding]) -> Layout:
    """A fresh private directory with the mount points of a workspace."""
    base = tempfile.mkdtemp(prefix="palaestra-ws-")
    layout = Layout(base, bindings)
    os.mkdir(layout.fs)
    os.mkdir(os.path.join(base, "ro"))
    for index, binding in enumerate(bindings):
        if os.path.isdir(binding.source):
            os.mkdir(layout.staged(index))
        else:
            open(layout.staged(index), "x").close()
    if rootful():
        # the sandbox enters as nobody: it must traverse to the staged mounts (not list)
        for path in (base, os.path.join(base, "ro"), layout.fs):
            os.chmod(path, 0o711)
    return layout


def remove_layout(layout: Layout) -> None:
    shutil.rmtree(layout.base, ignore_errors=True)


def holder_argv(layout: Layout, disk_bytes: int, max_files: int) -> list[str]:
    """The holder's command line (see the module docstring)."""
    unshare = [program("unshare"), "--mount", "--propagation", "private"]
    if not rootful():
        unshare[1:1] = ["--user", "--map-root-user"]
    owner = str(NOBODY if rootful() else 0)
    pairs: list[str] = []
    for index, binding in enumerate(layout.bindings):
        pairs += [binding.source, layout.staged(index)]
    script = [layout.fs, f"{max(disk_bytes // 1024, 64)}k", str(max_files), owner]
    return [*unshare, "--", "sh", "-c", _HOLDER_SCRIPT, "sh", *script, *pairs]


def enter_argv(holder_pid: int) -> list[str]:
    """``nsenter`` into the holder's mount namespace, as the user bwrap must run as."""
    target = [program("nsenter"), "--target", str(holder_pid), "--mount"]
    if rootful():
        return [*target, "--setuid", str(NOBODY), "--setgid", str(NOBODY), "--"]
    return [*target, "--user", "--preserve-credentials", "--"]


def _usr_links() -> list[str]:
    """``/bin``, ``/lib``... as on the host: links into ``/usr`` (merged /usr) or binds."""
    argv: list[str] = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = "/" + name
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    return argv


def bwrap_argv(
    layout: Layout, call: str | None, env: Mapping[str, str], command: Sequence[str]
) -> list[str]:
    """bubblewrap's command line for one command of a workspace.

    `call` is the name of the command's directory under ``run/`` of the tmpfs (mounted
    read-only at `CALL_DIR`); `env` is the whole environment of the sandbox.
    """
    fs = layout.fs
    argv = [
        program("bwrap"),
        "--unshare-all",  # user, mount, pid, net, ipc, uts, cgroup (where possible)
        "--unshare-user",  # implied by --unshare-all, but --disable-userns wants it named
        "--disable-userns",  # no nested user namespace: no capabilities, ever, inside
        "--die-with-parent",
        "--as-pid-1",  # the launcher is PID 1: its exit empties the namespace before bwrap's
        "--new-session",
        "--uid", str(SANDBOX_UID),
        "--gid", str(SANDBOX_UID),
        "--hostname", "sandbox",
        "--ro-bind", "/usr", "/usr",
        *_usr_links(),
        "--ro-bind-try", "/etc/ld.so.cache", "/etc/ld.so.cache",
        "--ro-bind-try", "/etc/alternatives", "/etc/alternatives",
        "--ro-bind-try", "/etc/localtime", "/etc/localtime",
        "--ro-bind", os.path.join(fs, "run", "etc", "passwd"), "/etc/passwd",
        "--ro-bind", os.path.join(fs, "run", "etc", "group"), "/etc/group",
    ]  # fmt: skip
    for index, binding in enumerate(layout.bindings):
        argv += ["--ro-bind", layout.staged(index), binding.target]
    argv += [
        "--bind", os.path.join(fs, "work"), WORKSPACE,
        "--bind", os.path.join(fs, "tmp"), "/tmp",
        "--proc", "/proc",
        "--dev", "/dev",
        "--bind", os.path.join(fs, "tmp"), "/dev/shm",
    ]  # fmt: skip
    if call is not None:
        argv += ["--ro-bind", os.path.join(fs, "run", call), CALL_DIR]
    argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORKSPACE, "--clearenv"]
    for name, value in env.items():
        argv += ["--setenv", name, value]
    return [*argv, "--", *command]


ETC_PASSWD = (
    f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
    f"{SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_UID}:palaestra sandbox:{WORKSPACE}:/bin/bash\n"
    f"nobody:x:{NOBODY}:{NOBODY}:nobody:/nonexistent:/usr/sbin/nologin\n"
)
ETC_GROUP = f"root:x:0:\n{SANDBOX_USER}:x:{SANDBOX_UID}:\nnogroup:x:{NOBODY}:\n"


def probe_run() -> str | None:
    """Start a holder, run the interpreter under bubblewrap in it, stop it: None when
    all of it worked, else what failed (with the program's own error)."""
    python, _ = interpreter()
    layout = make_layout(readonly_bindings((), None))
    try:
        holder = subprocess.Popen(
            holder_argv(layout, 1 << 20, 64),
            env=HOST_ENV,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as exc:
        remove_layout(layout)
        return f"could not start the workspace holder: {exc}"
    try:
        assert holder.stdout is not None and holder.stderr is not None
        if holder.stdout.readline() != b"ready\n":
            holder.wait(10)
            error = holder.stderr.read().decode("utf-8", errors="replace")
            return f"could not mount the workspace (unshare/mount): {error.strip()}"
        etc = os.path.join(f"/proc/{holder.pid}/root", layout.fs.lstrip("/"), "run", "etc")
        os.mkdir(etc)
        for name, text in (("passwd", ETC_PASSWD), ("group", ETC_GROUP)):
            with open(os.path.join(etc, name), "w", encoding="ascii") as file:
                file.write(text)
        command = [python, "-I", "-S", "-c", "pass"]
        argv = [*enter_argv(holder.pid), *bwrap_argv(layout, None, {}, command)]
        code, error = run_quietly(argv, env=HOST_ENV)
        if code != 0:
            return f"bubblewrap could not start a sandbox: {error.strip() or f'exit {code}'}"
        return None
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        try:
            holder.wait(10)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
        for stream in (holder.stdout, holder.stderr):
            if stream is not None:
                stream.close()
        remove_layout(layout)


def run_quietly(argv: list[str], *, env: dict[str, str], timeout: float = 30) -> tuple[int, str]:
    """Run `argv` (stdin closed); its exit status and its stderr (or why it did not run)."""
    try:
        done = subprocess.run(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return 1, str(exc)
    return done.returncode, done.stderr.decode("utf-8", errors="replace")
