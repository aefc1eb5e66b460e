"""The program that starts every sandboxed command, inside the sandbox.

palaestra never imports this module to *run* it: `_process` compiles its source once,
writes the code object (marshalled) into the call's private, read-only directory and
starts ``python -I -S -B -u -X utf8 -c <loader> name=value... [-- argv...]`` inside the
sandbox; the loader reads the file and runs the code as ``__main__``. It uses only the
standard library: the interpreter runs isolated (``-I``: no environment variables, no
user site) and without ``site`` (``-S``), so nothing of palaestra is importable there.

What it does, in order:

1. Lowers its resource limits (soft = hard, so nothing started later can raise them):
   CPU seconds, address space, processes, file size, open files, core dumps off.
2. Forks the *worker* and stays behind as its waiter: it writes the worker's exit status
   to the status pipe and exits as soon as the worker ends. Under bubblewrap it is the
   PID 1 of the sandbox's PID namespace (``--as-pid-1``): it reaps the orphans the
   worker leaves (a zombie would still count against the process limit), the worker
   cannot signal it (PID 1 ignores signals it has no handler for), and its exit makes
   the kernel kill every process left in the namespace (even ones that called
   ``setsid``) and wait for them, before ``bwrap`` sees it end. Without isolation it
   kills its process group (itself included: the status is written first); a child that
   called ``setsid`` left that group and survives.
   An alarm makes it exit on its own shortly after the wall-clock limit, even if the
   host died.
3. The worker runs the command: in ``python`` mode it compiles ``main.py`` of the call
   directory and runs it as ``__main__`` (an uncaught exception is printed like Python
   prints it, without this program's frames; an exhausted limit ends the process with
   one of the exit codes below, so the host can say which limit it was); in ``exec``
   mode it replaces itself with the given program (``bash -c ...``, ``pytest``...).

Nothing here is a security boundary: the worker runs as the same user as this program
and may kill it or write to its status pipe, which can only mislead the report about
its own run. The boundary is the kernel's (namespaces, mounts, limits; docs/sandbox.md).
"""

from __future__ import annotations

import _signal  # the C module: `signal` imports `enum`, milliseconds of start-up
import builtins
import errno
import os
import sys

FRAME_NAME = "<palaestra-sandbox>"
"""File name of this program's frames in the child (left out of tracebacks)."""
EXIT_MEMORY = 251
"""The worker ended on an uncaught `MemoryError` (the address-space limit)."""
EXIT_FILE_SIZE = 252
"""The worker ended on an uncaught "file too large" error (the file-size limit)."""
EXIT_DISK = 254
"""The worker ended on an uncaught "no space left" error (the workspace's disk or file cap)."""
EXIT_PROCESSES = 253
"""The worker ended because it could not start a process (the process limit)."""
EXIT_NOT_FOUND = 127
"""The program to run in ``exec`` mode does not exist (as a shell reports it)."""


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
    if int(config["nproc"]) == 0:  # no user namespace: it would count the host's processes
        del wanted[resource.RLIMIT_NPROC]
    for which, (soft, hard) in wanted.items():
        _, current_hard = resource.getrlimit(which)
        if current_hard != resource.RLIM_INFINITY:
            hard = min(hard, current_hard)
            soft = min(soft, hard)
        resource.setrlimit(which, (soft, hard))


def wait_for_worker(status_fd: int | None, wall_seconds: float, isolated: bool) -> int:
    """Fork the worker (which gets 0 back) and, in this process, wait for it, report its
    status and exit (this call never returns there)."""

    def expire(signum: int, frame: object) -> None:
        os._exit(128 + _signal.SIGALRM)

    _signal.signal(_signal.SIGALRM, expire)
    _signal.alarm(int(wall_seconds) + 2)
    try:
        worker = os.fork()
    except OSError as exc:  # the limits leave no room for the worker itself
        os.write(2, f"cannot start the command: {exc}\n".encode())
        os._exit(EXIT_PROCESSES)
    if worker == 0:
        _signal.signal(_signal.SIGALRM, _signal.SIG_DFL)
        _signal.alarm(0)
        if status_fd is not None:
            os.close(status_fd)
        return 0
    while True:  # as PID 1, every orphan of the namespace is this process's to reap
        try:
            pid, status = os.waitpid(-1 if isolated else worker, 0)
        except ChildProcessError:  # pragma: no cover - the worker is always a child
            os._exit(1)
        if pid == worker:
            break
    if os.WIFSIGNALED(status):
        report, code = f"signal {os.WTERMSIG(status)}", 128 + os.WTERMSIG(status)
    else:
        report, code = f"exit {os.WEXITSTATUS(status)}", os.WEXITSTATUS(status)
    if status_fd is not None:
        try:
            os.write(status_fd, report.encode())
        except OSError:  # the host stopped listening
            pass
    if not isolated:  # what the worker left in the group goes, and this process with it
        os.killpg(0, _signal.SIGKILL)
    os._exit(code)


def run_main(call_dir: str, paths: list[str]) -> int:
    """Run ``main.py`` of `call_dir` as ``__main__`` (`call_dir`, then `paths`, first on
    ``sys.path``); returns the exit code to end with."""
    path = os.path.join(call_dir, "main.py")
    with open(path, encoding="utf-8") as file:
        source = file.read()
    sys.argv = ["main.py"]
    sys.path[0:0] = [call_dir, *paths]
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


def run_program(argv: list[str]) -> None:
    """Replace this process with `argv` (looked up on ``PATH``); never returns."""
    try:
        os.execvp(argv[0], argv)
    except OSError as exc:
        os.write(2, f"{argv[0]}: {exc.strerror}\n".encode(errors="replace"))
        os._exit(EXIT_NOT_FOUND if exc.errno in (errno.ENOENT, errno.ENOTDIR) else 126)


def print_exception(exc: BaseException) -> None:
    """Print `exc` as Python would, leaving out the frames of this program and of the
    ``-c`` loader that started it."""
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
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return EXIT_FILE_SIZE
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return EXIT_DISK
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


def parse_arguments(arguments: list[str]) -> tuple[dict[str, str], list[str]]:
    """``name=value`` arguments as a dict, and the program after ``--`` (if any)."""
    if "--" in arguments:
        split = arguments.index("--")
        arguments, program = arguments[:split], arguments[split + 1 :]
    else:
        program = []
    return dict(argument.split("=", 1) for argument in arguments), program


def main() -> None:
    config, program = parse_arguments(sys.argv[1:])
    set_limits(config)
    status_fd = int(config["status_fd"]) if "status_fd" in config else None
    wait_for_worker(status_fd, float(config["wall_seconds"]), config["isolated"] == "1")
    if config["mode"] == "exec":
        run_program(program)
    paths = [path for path in config.get("paths", "").split(os.pathsep) if path]
    code = run_main(config["call_dir"], paths)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:  # a closed or broken stream: nothing more to report
        pass
    sys.exit(code)


if __name__ == "__main__":
    main()
