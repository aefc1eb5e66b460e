"""The program the sandbox's child interpreter runs.

palaestra never imports this module to *run* it: `_sandbox` compiles its source once,
writes the code object (marshalled) into a private working directory that holds the
snippet as ``main.py``, and starts ``python -I -S -B -u -c <loader> name=value...``
there; the loader removes the file and runs the code as ``__main__``. It only uses the
standard library, because the child runs isolated (``-I``: no environment variables, no
user site) and without ``site`` (``-S``: no site-packages), so nothing of palaestra is
importable there.

What it does, in order:

1. Lowers its resource limits (soft = hard, so the snippet cannot raise them again): CPU
   seconds, address space, processes, file size, open files, core dumps off.
2. When it is process 1 of a fresh PID namespace (the sandbox ran it under ``unshare
   --pid``), it forks the *worker* and stays behind as a tiny init: it reaps orphans,
   writes the worker's exit status to the status pipe, and exits as soon as the worker
   does, which makes the kernel kill everything else left in the namespace. An alarm
   makes it exit on its own shortly after the wall-clock limit, even if the host died.
3. The worker installs the audit hook (`install_guard`), compiles ``main.py`` and runs
   it as ``__main__``. An uncaught exception is printed like Python prints it (without
   this program's frames); an exhausted limit ends the process with one of the exit
   codes below, so the host can say which limit it was.

A snippet that exits on purpose with one of these codes is reported as having hit that
limit: it can only mislead the report about itself.
"""

from __future__ import annotations

import _signal  # the C module: `signal` imports `enum`, milliseconds of start-up
import builtins
import errno
import os
import sys

TYPE_CHECKING = False  # `typing` is not imported: the child starts faster without it
if TYPE_CHECKING:
    from collections.abc import Callable

FRAME_NAME = "<palaestra-sandbox>"
"""File name of this program's frames in the child (left out of tracebacks)."""
EXIT_MEMORY = 251
"""The worker ended on an uncaught `MemoryError` (the address-space limit)."""
EXIT_FILE_SIZE = 252
"""The worker ended on an uncaught "file too large" error (the file-size limit)."""
EXIT_PROCESSES = 253
"""The worker ended because it could not start a process (process limit or policy)."""

_READ_DEVICES = ("/dev/null", "/dev/zero", "/dev/urandom", "/dev/random")
_WRITE_DEVICES = ("/dev/null",)
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC

_ALWAYS_REFUSED = {
    "os.exec": "process",
    "os.posix_spawn": "process",
    "os.spawn": "process",
    "os.system": "process",
    "os.startfile": "process",
    "subprocess.Popen": "process",
    "os.symlink": "file",
    "gc.get_objects": "introspection",
    "gc.get_referrers": "introspection",
    "gc.get_referents": "introspection",
    "socket.connect": "network",
    "socket.bind": "network",
    "socket.sendto": "network",
    "socket.sendmsg": "network",
    "socket.getaddrinfo": "network",
    "socket.gethostbyname": "network",
    "socket.gethostbyname_ex": "network",
    "socket.gethostbyaddr": "network",
    "socket.getnameinfo": "network",
}
"""Audit events refused outright, with the kind of refusal."""

_AF_UNIX = 1
"""`socket.AF_UNIX` on every POSIX system (the only family a socket may be created with)."""
_REFUSED_PREFIXES = {"ctypes.": "ctypes", "syslog.": "syslog"}
"""Families of audit events refused outright, by prefix, with the kind of refusal."""
_REFUSED_IMPORTS = {"_posixsubprocess", "_ctypes"}
"""Modules that would reach around the hook: starting programs (the real one; a stand-in
that refuses is installed), foreign function calls."""

_WRITE_EVENTS = {
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.mkdir": (0,),
    "os.rename": (0, 1),
    "os.link": (0, 1),
    "os.truncate": (0,),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.utime": (0,),
    "os.mkfifo": (0,),
    "os.mknod": (0,),
    "os.setxattr": (0,),
    "os.removexattr": (0,),
    "os.chflags": (0,),
    "os.lchflags": (0,),
    "shutil.rmtree": (0,),
}
"""Audit events that change the file system, and which of their arguments are paths."""

_READ_EVENTS = {"os.listdir": (0,), "os.scandir": (0,), "os.listxattr": (0,)}

_EXPLAIN = {
    "network": "network access is disabled in the sandbox",
    "process": "starting other programs is disabled in the sandbox",
    "introspection": "inspecting the interpreter's internals is disabled in the sandbox",
    "ctypes": "ctypes and foreign function calls are disabled in the sandbox",
    "file": "creating symbolic links is disabled in the sandbox",
    "syslog": "writing to the system log is disabled in the sandbox",
}


class SandboxDenied(PermissionError):
    """The audit hook refused an operation; `kind` says which policy refused it."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def set_limits(config: dict[str, str]) -> None:
    """Lower every resource limit of this process (and of everything it starts)."""
    import resource  # here, not at the top: the host imports this module on any system

    cpu = int(config["cpu_seconds"])
    wanted = {
        resource.RLIMIT_CPU: (cpu, cpu + 1),
        resource.RLIMIT_AS: (int(config["memory_bytes"]),) * 2,
        resource.RLIMIT_NPROC: (int(config["nproc"]),) * 2,
        resource.RLIMIT_FSIZE: (int(config["file_bytes"]),) * 2,
        resource.RLIMIT_NOFILE: (int(config["open_files"]),) * 2,
        resource.RLIMIT_CORE: (0, 0),
    }
    for which, (soft, hard) in wanted.items():
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:
            hard = min(hard, current_hard)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))


def reap(status_fd: int | None, wall_seconds: float) -> None:
    """As process 1 of a PID namespace: fork the worker (which returns from this call)
    and, in this process, wait for it, report its status and exit."""

    def expire(signum: int, frame: object) -> None:
        os._exit(128 + _signal.SIGALRM)

    _signal.signal(_signal.SIGALRM, expire)
    _signal.alarm(int(wall_seconds) + 2)
    worker = os.fork()
    if worker == 0:
        _signal.signal(_signal.SIGALRM, _signal.SIG_DFL)
        if status_fd is not None:
            os.close(status_fd)
        return
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:  # pragma: no cover - the worker is always a child
            os._exit(1)
        if pid == worker:
            break
    if os.WIFSIGNALED(status):
        report, code = f"signal {os.WTERMSIG(status)}", 128 + os.WTERMSIG(status)
    else:
        report, code = f"exit {os.WEXITSTATUS(status)}", os.WEXITSTATUS(status)
    if status_fd is not None:
        os.write(status_fd, report.encode())
    os._exit(code)


def install_guard(
    workdir: str, read_roots: list[str], max_processes: int, isolated: bool
) -> Callable[[], None]:
    """Install the audit hook that refuses what the snippet must not do.

    Paths are resolved with `os.path.realpath` (relative to the current directory) and
    must lie under `workdir` to be written, under `workdir` or `read_roots` to be read;
    relative paths that climb above their base (``..``) are refused, directories outside
    `workdir` cannot be opened as file descriptors and symbolic links cannot be created,
    so ``dir_fd`` arguments and links cannot lead outside either. Sockets may be created
    (local socket pairs, as asyncio needs) but not connected, bound or used to resolve
    names. Other programs cannot be started; this process may fork at most
    ``max_processes - 1`` children, which may not fork again. Without a PID namespace
    (`isolated` false) signals can only be sent to this process and its children.

    Returns a function that kills the children this process forked (called when the
    snippet's main process is done: the run ends with it).
    """
    workdir = os.path.realpath(workdir)
    readable = [workdir] + [os.path.realpath(root) for root in read_roots]
    forks_left = [max_processes - 1]
    children: list[int] = []
    real_fork = os.fork

    def fork() -> int:
        pid = real_fork()
        if pid:
            children.append(pid)
        return pid

    def in_child() -> None:
        forks_left[0] = 0
        children.clear()

    import posix

    os.fork = posix.fork = fork
    os.register_at_fork(after_in_child=in_child)

    def under(path: object, roots: list[str], devices: tuple[str, ...]) -> bool:
        text = os.fsdecode(path)  # type: ignore[arg-type]
        if not os.path.isabs(text):
            normal = os.path.normpath(text)
            if normal == ".." or normal.startswith(".." + os.sep):
                return False
        real = os.path.realpath(text)
        if real in devices:
            return True
        return any(real == root or real.startswith(root + os.sep) for root in roots)

    def check(path: object, write: bool, what: str) -> None:
        if path is None or isinstance(path, int):
            return
        if write and not under(path, [workdir], _WRITE_DEVICES):
            raise SandboxDenied(
                "file", f"{what} {path!r} is not allowed: only the working directory is writable"
            )
        if not write and not under(path, readable, _READ_DEVICES):
            raise SandboxDenied(
                "file",
                f"{what} {path!r} is not allowed: only the working directory and the "
                "Python standard library are readable",
            )

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event == "open":
            path, mode, flags = args[0], args[1], args[2]
            write = (isinstance(mode, str) and any(c in mode for c in "wax+")) or bool(
                isinstance(flags, int) and flags & _WRITE_FLAGS
            )
            check(path, write, "writing" if write else "reading")
            if isinstance(path, (str, bytes)) and os.path.isdir(path):
                if not under(path, [workdir], ()):
                    raise SandboxDenied(
                        "file", f"opening the directory {path!r} outside the working directory"
                    )
        elif event in _WRITE_EVENTS:
            for index in _WRITE_EVENTS[event]:
                check(args[index], True, event)
        elif event in _READ_EVENTS:
            for index in _READ_EVENTS[event]:
                check("." if args[index] is None else args[index], False, event)
        elif event in _ALWAYS_REFUSED:
            kind = _ALWAYS_REFUSED[event]
            raise SandboxDenied(kind, f"{event}: {_EXPLAIN[kind]}")
        elif event in ("os.fork", "os.forkpty"):
            if forks_left[0] <= 0:
                raise SandboxDenied(
                    "fork", f"{event}: the process limit is reached (max_processes={max_processes})"
                )
            forks_left[0] -= 1
        elif event == "socket.__new__":
            family = args[1]
            if family != _AF_UNIX:
                raise SandboxDenied("network", f"socket family {family}: {_EXPLAIN['network']}")
        elif event == "import" and args[0] in _REFUSED_IMPORTS:
            kind = "ctypes" if "ctypes" in str(args[0]) else "process"
            raise SandboxDenied(kind, f"import {args[0]}: {_EXPLAIN[kind]}")
        elif event in ("os.kill", "os.killpg") and not isolated:
            if event == "os.killpg" or (args[0] != os.getpid() and args[0] not in children):
                raise SandboxDenied(
                    "process", f"{event}: signals may only be sent to itself and its children"
                )
        elif event.startswith(tuple(_REFUSED_PREFIXES)):
            kind = _REFUSED_PREFIXES[event.split(".", 1)[0] + "."]
            raise SandboxDenied(kind, f"{event}: {_EXPLAIN[kind]}")

    # `subprocess` (which asyncio imports) needs `_posixsubprocess`, whose `fork_exec` is
    # not audited: it gets a stand-in that refuses, and importing the real one is refused.
    stand_in = type(sys)("_posixsubprocess")

    def fork_exec(*args: object, **kwargs: object) -> int:
        raise SandboxDenied("process", f"_posixsubprocess.fork_exec: {_EXPLAIN['process']}")

    stand_in.fork_exec = fork_exec  # type: ignore[attr-defined]
    sys.modules["_posixsubprocess"] = stand_in
    sys.addaudithook(hook)

    def end_children() -> None:
        for pid in children:
            try:
                os.kill(pid, _signal.SIGKILL)
            except OSError:  # already gone
                pass

    return end_children


def run_main(workdir: str) -> int:
    """Run ``main.py`` as ``__main__``; returns the exit code this process should have."""
    path = os.path.join(workdir, "main.py")
    with open(path, encoding="utf-8") as file:
        source = file.read()
    sys.argv = ["main.py"]
    sys.path.insert(0, workdir)
    try:
        code = compile(source, "main.py", "exec")
    except (SyntaxError, ValueError) as exc:
        print_exception(exc)
        return 1
    namespace: dict[str, object] = {"__name__": "__main__", "__builtins__": builtins}
    namespace["__file__"] = "main.py"
    try:
        exec(code, namespace)
    except SystemExit as exc:
        return _exit_code(exc.code)
    except BaseException as exc:
        namespace.clear()  # frees what the snippet held (a memory bomb) before printing
        outcome = _classify(exc)
        try:
            print_exception(exc)
        except MemoryError:
            os.write(2, f"{type(exc).__name__}: {exc}\n".encode(errors="replace"))
        return outcome
    return 0


def print_exception(exc: BaseException) -> None:
    """Print `exc` as Python would, leaving out the frames of this program (the audit
    hook's included) and of the ``-c`` loader that started it."""
    import traceback

    report = traceback.TracebackException.from_exception(exc)
    seen: set[int] = set()
    pending = [report]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        frames = [frame for frame in current.stack if frame.filename != FRAME_NAME]
        if frames and frames[0].filename == "<string>" and frames[0].name == "<module>":
            frames = frames[1:]  # the loader (the -c command) is always the outermost
        current.stack = traceback.StackSummary.from_list(frames)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    sys.stderr.write("".join(report.format()))


def _classify(exc: BaseException) -> int:
    if isinstance(exc, MemoryError):
        return EXIT_MEMORY
    if isinstance(exc, SandboxDenied) and exc.kind == "fork":
        return EXIT_PROCESSES
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return EXIT_FILE_SIZE
    if isinstance(exc, BlockingIOError) and "fork" in _last_frame_code(exc):
        return EXIT_PROCESSES
    return 1


def _last_frame_code(exc: BaseException) -> str:
    """Source text of the line that raised `exc` (to tell a failed fork from other EAGAIN)."""
    import linecache

    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return ""
    return linecache.getline(tb.tb_frame.f_code.co_filename, tb.tb_lineno)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def parse_config(arguments: list[str]) -> dict[str, str]:
    """``name=value`` arguments as a dict (no `json`: importing it costs milliseconds)."""
    return dict(argument.split("=", 1) for argument in arguments)


def main() -> None:
    config = parse_config(sys.argv[1:])
    read_roots = [path for path in sys.path if path]  # the standard library, nothing else
    set_limits(config)
    status_fd = int(config["status_fd"]) if "status_fd" in config else None
    isolated = os.getpid() == 1
    if isolated:
        reap(status_fd, float(config["wall_seconds"]))
    workdir = config["workdir"]
    end_children: Callable[[], None] = lambda: None  # noqa: E731
    if config.get("guard") == "on":
        end_children = install_guard(workdir, read_roots, int(config["max_processes"]), isolated)
    code = run_main(workdir)
    end_children()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # a closed or broken stream: nothing more to report
        pass
    sys.exit(code)


if __name__ == "__main__":
    main()
