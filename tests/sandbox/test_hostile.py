"""The hostile-code battery: each case is a real hostile snippet run through the real
sandbox (bubblewrap), and each asserts that its side effect did NOT happen on the host
(the file is absent or unchanged, the listener got nothing, the secret is not in the
output), that this process is alive, and that its process tree is back to what it was
before the call. The classes are those of issue 16 (the audit hook's tables, the host's
virtualenv, fork bombs as root, disk filling, the fallback's network and /proc leaks)
and more: symlinks out of the workspace, ctypes and raw syscalls, signals, setsid
survivors, inherited descriptors, /proc and /sys, inode exhaustion, output, stdin.

It runs as whoever runs the suite (root in CI) and again as an unprivileged user
(`test_unprivileged.py`), so both of the holder's ways are attacked.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest

from palaestra.sandbox import CommandLimits, Workspace, WorkspaceFileError
from tests.sandbox.conftest import descendants, needs_bwrap, processes_with, settle_to

pytestmark = needs_bwrap

REPO = Path(__file__).resolve().parents[2]
SECRET = "palaestra-secret-7c1e9a"


@pytest.fixture(autouse=True)
def host_stays_intact(workspace: Workspace) -> Iterator[None]:
    """After each case: this process alive (it runs this), its process tree back to the
    baseline taken with the workspace open (holder included), the workspace usable."""
    baseline = descendants()
    yield
    assert settle_to(baseline) == set(), "the call left processes on the host"
    os.kill(os.getpid(), 0)


async def run(workspace: Workspace, code: str, **limits: object) -> str:
    """stdout + stderr of `code` (python) in `workspace`."""
    result = await workspace.run_python(code, limits=workspace.limits.model_copy(update=limits))
    return result.stdout + result.stderr


# -- the audit hook's class: tampering gains nothing, there is no hook to turn off ------


async def test_frame_globals_tampering_then_reading_shadow(workspace: Workspace) -> None:
    code = (
        "import sys, os\n"
        "frame = sys._getframe()\n"
        "while frame.f_back is not None:\n"
        "    frame = frame.f_back\n"
        "    for name in list(frame.f_globals):\n"
        "        if name.isupper() or name.startswith('_'):\n"
        "            frame.f_globals[name] = None\n"  # every table a hook could use
        "os.path.realpath = lambda p: '/workspace'\n"
        "os.getpid = lambda: 1\n"
        "print(open('/etc/shadow').read())\n"
    )
    out = await run(workspace, code)
    assert "FileNotFoundError" in out and "/etc/shadow" in out
    assert "root:" not in out


async def test_shadow_is_not_there_by_any_path(workspace: Workspace) -> None:
    code = (
        "import os\n"
        "for path in ('/etc/shadow', '/proc/1/root/etc/shadow', '/proc/self/root/etc/shadow',"
        " '../../../../etc/shadow'):\n"
        "    try:\n"
        "        print(open(path).read())\n"
        "    except OSError as exc:\n"
        "        print(type(exc).__name__)\n"
    )
    out = await run(workspace, code)
    assert out.split() == ["FileNotFoundError"] * 4


async def test_host_files_outside_the_workspace_are_invisible(
    workspace: Workspace, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    candidates = [str(secret), str(REPO / "pyproject.toml"), "/etc/hostname", "/var/log"]
    candidates += ["/home", "/etc/ssh", str(Path.home() / ".bashrc"), "/sys", "/boot"]
    paths = [path for path in candidates if os.path.exists(path)]
    code = f"import os\nfor path in {paths!r}:\n    print(path, os.path.exists(path))\n"
    out = await run(workspace, code)
    assert SECRET not in out and out.count(" False") == len(paths), out


# -- the host's virtualenv, interpreter and file system are not writable ----------------


@pytest.mark.parametrize(
    "target",
    [
        sysconfig.get_paths()["purelib"],  # the venv's site-packages (host's next start)
        sysconfig.get_paths()["stdlib"],  # the interpreter's standard library
        "/usr/lib/python3/dist-packages",
    ],
    ids=["venv-site-packages", "stdlib", "system-dist-packages"],
)
async def test_pth_file_cannot_be_planted(workspace: Workspace, target: str) -> None:
    name = f"palaestra-planted-{os.getpid()}.pth"
    code = (
        "import os\n"
        f"path = os.path.join({target!r}, {name!r})\n"
        "try:\n"
        "    open(path, 'w').write('import os; os.system(\"touch /tmp/pwned\")\\n')\n"
        "    print('wrote')\n"
        "except OSError as exc:\n"
        "    print(type(exc).__name__, exc.errno)\n"
    )
    out = await run(workspace, code)
    assert "wrote" not in out
    assert not Path(target, name).exists()


async def test_writes_anywhere_else_fail(workspace: Workspace, tmp_path: Path) -> None:
    targets = [
        str(REPO / "planted.txt"),
        str(tmp_path / "planted.txt"),
        "/planted.txt",
        "/usr/planted.txt",
        "/etc/planted.txt",
        "/dev/planted.txt",
        "/run/palaestra/planted.txt",
        "/proc/planted.txt",
    ]
    code = (
        "import os\n"
        f"for path in {targets!r}:\n"
        "    try:\n"
        "        open(path, 'w').write('x')\n"
        "        print('wrote', path)\n"
        "    except OSError as exc:\n"
        "        print('refused', exc.errno)\n"
    )
    out = await run(workspace, code)
    assert "wrote" not in out and out.count("refused") == len(targets)
    for target in targets[:2]:
        assert not Path(target).exists()
    assert not Path("/planted.txt").exists() and not Path("/usr/planted.txt").exists()


# -- ctypes and raw system calls ----------------------------------------------------------


async def test_ctypes_loads_but_privileged_calls_fail(workspace: Workspace) -> None:
    code = (
        "import ctypes, os\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "print('setuid', libc.setuid(0), os.getuid())\n"
        "print('unshare', libc.unshare(0x10000000))\n"  # CLONE_NEWUSER: no nested namespace
        "print('mount', libc.mount(b'none', b'/usr', b'tmpfs', 0, None))\n"
        "print('chroot', libc.chroot(b'/'))\n"
        "print('sethostname', libc.sethostname(b'pwned', 5))\n"
    )
    out = await run(workspace, code)
    assert out.split("\n")[:5] == [
        "setuid -1 1000",
        "unshare -1",
        "mount -1",
        "chroot -1",
        "sethostname -1",
    ], out
    assert socket.gethostname() != "pwned"


async def test_raw_syscalls_cannot_reach_host_processes(workspace: Workspace) -> None:
    host = os.getpid()
    code = (
        "import ctypes\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "SYS_kill, SYS_ptrace, SYS_pidfd_open = 62, 101, 434\n"
        f"print(libc.syscall(SYS_kill, {host}, 9), ctypes.get_errno())\n"
        f"print(libc.syscall(SYS_ptrace, 16, {host}, 0, 0), ctypes.get_errno())\n"  # ATTACH
        f"print(libc.syscall(SYS_pidfd_open, {host}, 0), ctypes.get_errno())\n"
    )
    out = await run(workspace, code)
    assert out.split() == ["-1", "3"] * 3  # ESRCH: no such process in its PID namespace


async def test_setuid_programs_give_nothing(workspace: Workspace) -> None:
    result = await workspace.shell(
        "su -c id root; id -u; grep -E 'NoNewPrivs|CapEff|CapPrm' /proc/self/status"
    )
    assert result.stdout.split() == [
        "1000",
        "CapPrm:",
        "0000000000000000",
        "CapEff:",
        "0000000000000000",
        "NoNewPrivs:",
        "1",
    ], result.stdout
    assert "uid=0" not in result.stdout


# -- processes: bombs, survivors, signals -------------------------------------------------


async def test_fork_bomb_with_one_process_as_root_or_not(workspace: Workspace) -> None:
    result = await workspace.run_python(
        "import os\nwhile True:\n    os.fork()\n", limits=CommandLimits(max_processes=1)
    )
    assert result.killed_by == "processes", result.stderr


async def test_fork_bomb_that_ignores_failures_stays_capped(workspace: Workspace) -> None:
    code = (
        "import os, time\n"
        "for _ in range(200):\n"
        "    try:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30)\n"
        "    except OSError:\n"
        "        pass\n"
        "print(len([p for p in os.listdir('/proc') if p.isdigit()]))\n"
    )
    result = await workspace.run_python(code, limits=CommandLimits(max_processes=8, wall_seconds=5))
    # the kernel stopped the forks at 8 of its processes (+ the launcher, PID 1)
    assert result.ok and int(result.stdout.split()[0]) <= 9, result.stdout


async def test_shell_fork_bomb(workspace: Workspace) -> None:
    marker = f"palaestra-bomb-{os.getpid()}"  # $0 of the bomb: in every fork's cmdline
    command = f"bash -c ':(){{ :|:& }};:; wait' {marker}"
    result = await workspace.shell(command, limits=CommandLimits(max_processes=8, wall_seconds=2))
    # it forked until the kernel refused (it then dies out, or runs into the wall clock)
    assert "Resource temporarily unavailable" in result.stderr, result.stderr[-300:]
    assert result.killed_by in (None, "wall")
    assert processes_with(marker) == []  # and all of it is gone when the call returns


async def test_setsid_double_fork_survivors_are_killed(workspace: Workspace) -> None:
    marker = f"palaestra-survivor-{os.getpid()}"
    code = (
        "import os\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv('/bin/sleep', ['sleep', '60', {marker!r}])\n"
        "    os._exit(0)\n"
        "print('main done')\n"
    )
    result = await workspace.run_python(code, limits=CommandLimits(max_processes=8))
    assert result.ok and result.stdout == "main done\n"
    assert processes_with(marker) == []


async def test_nohup_daemon_from_the_shell_is_killed(workspace: Workspace) -> None:
    marker = f"palaestra-daemon-{os.getpid()}"
    result = await workspace.shell(f"nohup setsid sleep 60 {marker} >/dev/null 2>&1 & echo started")
    assert result.stdout == "started\n"
    assert processes_with(marker) == []


async def test_signals_to_the_parent_and_everyone(workspace: Workspace) -> None:
    code = (
        "import os, signal\n"
        f"for pid in (os.getppid(), 1, {os.getpid()}, {os.getppid()}):\n"
        "    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n"
        "    except OSError as exc:\n"
        "        print(pid, type(exc).__name__)\n"
        "os.kill(-1, signal.SIGKILL)\n"
    )
    await workspace.run_python(code)
    assert _alive(os.getpid()) and _alive(os.getppid())  # this process and its parent
    after = await workspace.run_python("print('usable')")
    assert after.stdout == "usable\n"


def fresh_environ_clean(workspace: Workspace) -> bool:
    """The workspace's holder did not inherit the host's environment (nothing to steal)."""
    assert workspace._holder is not None
    return SECRET.encode() not in Path(f"/proc/{workspace._holder.pid}/environ").read_bytes()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except PermissionError:  # someone else's (as nobody, the parent may be root's)
        return True
    except ProcessLookupError:
        return False
    return True


# -- disk and inodes ----------------------------------------------------------------------


async def test_writing_560_mib_stops_at_the_workspace_cap(workspace: Workspace) -> None:
    code = (
        "block = b'0' * (1 << 20)\n"
        "for i in range(560):\n"
        "    with open(f'big{i % 40}.bin', 'wb') as f:\n"  # many files: not just RLIMIT_FSIZE
        "        f.write(block * 14)\n"
    )
    result = await workspace.run_python(code, limits=CommandLimits(max_file_mb=64, wall_seconds=5))
    assert result.killed_by == "disk" and "No space left on device" in result.stderr
    assert workspace.manifest(max_files=100).total_bytes <= 16 << 20


async def test_tmp_and_dev_shm_share_the_cap(workspace: Workspace) -> None:
    code = (
        "import os\n"
        "for target in ('/tmp/fill', '/dev/shm/fill', '/var/tmp/fill'):\n"
        "    try:\n"
        "        with open(target, 'wb') as f:\n"
        "            for _ in range(64):\n"
        "                f.write(b'0' * (1 << 20))\n"
        "        print(target, 'wrote 64 MiB')\n"
        "    except OSError as exc:\n"
        "        print(target, exc.errno)\n"
    )
    result = await workspace.run_python(code, limits=CommandLimits(max_file_mb=128))
    assert "wrote" not in result.stdout, result.stdout
    assert "/tmp/fill 28" in result.stdout and "/dev/shm/fill 28" in result.stdout


async def test_inode_exhaustion_stops_at_the_file_cap(workspace: Workspace) -> None:
    code = (
        "import os\n"
        "made = 0\n"
        "try:\n"
        "    for i in range(100_000):\n"
        "        os.mkdir(f'd{i}') if i % 2 else open(f'f{i}', 'w').close()\n"
        "        made += 1\n"
        "finally:\n"
        "    print(made)\n"
    )
    result = await workspace.run_python(code)
    assert result.killed_by == "disk", result.stderr
    assert int(result.stdout) < 500  # the workspace's max_files
    assert workspace.list_files(limit=1000)[0].__len__() < 500


# -- network --------------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    yield server
    server.close()


def _nothing_arrived(server: socket.socket) -> bool:
    try:
        server.accept()
    except BlockingIOError:
        return True
    return False


async def test_connect_to_a_host_listener(workspace: Workspace, listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    code = (
        "import socket\n"
        "for host in ('127.0.0.1', 'localhost', '::1', '0.0.0.0'):\n"
        "    try:\n"
        f"        socket.create_connection((host, {port}), timeout=1)\n"
        "        print('connected', host)\n"
        "    except OSError as exc:\n"
        "        print(host, type(exc).__name__)\n"
    )
    out = await run(workspace, code)
    assert "connected" not in out
    assert _nothing_arrived(listener)


async def test_abstract_unix_socket_of_the_host(workspace: Workspace) -> None:
    name = f"\0palaestra-test-{os.getpid()}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(name)
    server.listen()
    server.setblocking(False)
    try:
        code = (
            "import socket\n"
            "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            f"s.connect({name!r})\n"
            "print('connected')\n"
        )
        out = await run(workspace, code)
        assert "connected" not in out and "ConnectionRefusedError" in out
        assert _nothing_arrived(server)
    finally:
        server.close()


async def test_no_route_out_and_no_names(workspace: Workspace) -> None:
    code = (
        "import socket\n"
        "for target in (('1.1.1.1', 53), ('10.0.2.2', 80)):\n"
        "    try:\n"
        "        socket.create_connection(target, timeout=1)\n"
        "        print('connected')\n"
        "    except OSError as exc:\n"
        "        print(exc.errno)\n"
        "try:\n"
        "    socket.getaddrinfo('pypi.org', 443)\n"
        "    print('resolved')\n"
        "except OSError:\n"
        "    print('no names')\n"
        "print(sorted(i[1] for i in socket.if_nameindex()))\n"
    )
    out = await run(workspace, code)
    assert out.split("\n")[:4] == ["101", "101", "no names", "['lo']"], out  # ENETUNREACH


# -- /proc, /sys, the host's environment ----------------------------------------------------


async def test_host_environ_is_not_readable(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # /proc/<pid>/environ is a process's environment at exec: a host process started
    # with the secret set holds it there (as a process with an API key would)
    monkeypatch.setenv("PALAESTRA_TEST_SECRET", SECRET)
    keeper = subprocess.Popen(["sleep", "30"])
    code = (
        "import os\n"
        "for pid in PIDS:\n"
        "    try:\n"
        "        print(open(f'/proc/{pid}/environ', 'rb').read())\n"
        "    except OSError as exc:\n"
        "        print(pid, type(exc).__name__)\n"
        "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
        "    try:\n"
        "        print(open(f'/proc/{pid}/environ', 'rb').read())\n"
        "    except OSError:\n"
        "        pass\n"
        "print(dict(os.environ))\n"
    )
    try:
        environ = Path(f"/proc/{keeper.pid}/environ")
        for _ in range(200):  # until the child has exec'd (its environ is empty before)
            if environ.read_bytes():
                break
            await asyncio.sleep(0.01)
        assert SECRET.encode() in environ.read_bytes()
        async with Workspace(limits=workspace.limits) as fresh:  # started with it set
            assert fresh_environ_clean(fresh)  # the holder, bwrap: no host environment
            out = await run(fresh, code.replace("PIDS", f"({os.getpid()}, {keeper.pid})"))
    finally:
        keeper.kill()
        keeper.wait()
    assert SECRET not in out
    assert "FileNotFoundError" in out  # the host's pids do not exist in its /proc


async def test_proc_shows_only_the_sandbox(workspace: Workspace) -> None:
    code = (
        "import os\n"
        "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
        "print(pids)\n"
        "print(open('/proc/1/cmdline', 'rb').read().split(b'\\0')[0])\n"
        "for path in ('/proc/kcore', '/proc/sysrq-trigger'):\n"
        "    try:\n"
        "        open(path, 'rb').read(1)\n"
        "        print('read', path)\n"
        "    except OSError as exc:\n"
        "        print(type(exc).__name__)\n"
    )
    out = await run(workspace, code)
    lines = out.split("\n")
    assert lines[0] == "[1, 2]"  # the launcher and the snippet, nothing else
    assert lines[1].endswith("python3.11'") or "python" in lines[1]
    assert "read" not in out


async def test_sys_is_not_mounted(workspace: Workspace) -> None:
    code = (
        "import os\n"
        "print(os.path.exists('/sys'), os.path.exists('/sys/class/net'))\n"
        "print(os.path.exists('/sys/fs/cgroup'))\n"
    )
    assert (await run(workspace, code)).split() == ["False", "False", "False"]


# -- inherited descriptors -----------------------------------------------------------------


async def test_inherited_descriptors_do_not_reach_the_sandbox(
    workspace: Workspace, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    target = tmp_path / "target.txt"
    target.write_text("intact")
    reader = os.open(secret, os.O_RDONLY)  # os.open: no O_CLOEXEC ...
    writer = os.open(target, os.O_WRONLY | os.O_APPEND)
    os.set_inheritable(reader, True)  # ... and inheritable on purpose
    os.set_inheritable(writer, True)
    try:
        code = (
            "import os\n"
            "print(sorted(os.listdir('/proc/self/fd')))\n"
            "for fd in range(3, 1024):\n"
            "    try:\n"
            "        print(os.read(fd, 100))\n"
            "    except OSError:\n"
            "        pass\n"
            "    try:\n"
            "        os.write(fd, b'pwned')\n"
            "    except OSError:\n"
            "        pass\n"
        )
        out = await run(workspace, code)
    finally:
        os.close(reader)
        os.close(writer)
    assert SECRET not in out
    assert target.read_text() == "intact"


# -- symbolic links out of the workspace ----------------------------------------------------


async def test_symlink_to_etc_passwd_is_not_followed_by_the_host(workspace: Workspace) -> None:
    await workspace.shell("ln -s /etc/passwd passwd; ln -s /etc etc; ln -s / root")
    for path in ("passwd", "etc/passwd", "root/etc/passwd"):
        with pytest.raises(WorkspaceFileError, match="symbolic link|not a directory"):
            workspace.read_text(path)
    entries = {e.path: e for e in workspace.list_files()[0]}
    assert entries["passwd"].kind == "symlink" and entries["passwd"].target == "/etc/passwd"


async def test_symlink_to_a_host_file_cannot_be_written_through(
    workspace: Workspace, tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("intact")
    await workspace.shell(f"ln -s {victim} victim; ln -s {tmp_path} dir")
    for path in ("victim", "dir/victim.txt", "dir/new.txt"):
        with pytest.raises(WorkspaceFileError, match="symbolic link|not a directory"):
            workspace.write_text(path, "pwned")
    assert victim.read_text() == "intact" and not (tmp_path / "new.txt").exists()
    workspace.remove("victim")  # removes the link, not what it points to
    assert victim.read_text() == "intact"


async def test_symlink_to_the_hosts_view_of_the_workspace(workspace: Workspace) -> None:
    assert workspace._holder is not None and workspace._layout is not None
    host_view = f"/proc/{workspace._holder.pid}/root{workspace._layout.fs}"
    result = await workspace.shell(
        f"ln -s {host_view} hostview; ls hostview/ 2>&1; cat {workspace._layout.base}/x 2>&1"
    )
    assert "No such file or directory" in result.stdout
    with pytest.raises(WorkspaceFileError):
        workspace.read_text("hostview/run/etc/passwd")


async def test_symlinks_inside_lead_to_the_sandbox_view_only(workspace: Workspace) -> None:
    code = (
        "import os\n"
        "os.symlink('/etc/shadow', 'shadow')\n"
        "os.symlink('/root/.ssh/id_rsa', 'key')\n"
        "for path in ('shadow', 'key'):\n"
        "    try:\n"
        "        print(open(path).read())\n"
        "    except OSError as exc:\n"
        "        print(type(exc).__name__)\n"
        "try:\n"
        "    os.link('/usr/bin/env', 'hard')\n"
        "except OSError as exc:\n"
        "    print('link', exc.errno)\n"
    )
    out = await run(workspace, code)
    assert out.split("\n")[:3] == ["FileNotFoundError", "FileNotFoundError", "link 18"], out


async def test_fifo_in_the_workspace_does_not_stall_the_host(workspace: Workspace) -> None:
    await workspace.shell("mkfifo pipe")
    with pytest.raises(WorkspaceFileError, match="not a regular file"):
        workspace.read_text("pipe")
    with pytest.raises(WorkspaceFileError, match="not a regular file"):
        workspace.write_text("pipe", "x")
    manifest = workspace.manifest()
    assert [(f.path, f.kind) for f in manifest.files] == [("pipe", "other")]


# -- output and input -------------------------------------------------------------------------


async def test_huge_output_is_cut_and_the_run_killed(workspace: Workspace) -> None:
    code = "import os\nwhile True:\n    os.write(1, b'x' * 65536)\n    os.write(2, b'y' * 65536)\n"
    result = await workspace.run_python(code, limits=CommandLimits(max_output_bytes=100_000))
    assert result.killed_by == "output"
    assert len(result.stdout) <= 100_000 and len(result.stderr) <= 100_000
    assert result.truncated


async def test_stdin_is_the_callers_or_empty(workspace: Workspace) -> None:
    empty = await workspace.run_python("import sys\nprint(repr(sys.stdin.read()))")
    assert empty.stdout == "''\n"  # /dev/null, never the test's own stdin
    given = await workspace.run_python("import sys\nprint(sys.stdin.read()[::-1])", stdin="abc")
    assert given.stdout == "cba\n"
    ignored = await workspace.run_python("print('done')", stdin=b"z" * (8 << 20))
    assert ignored.ok and ignored.stdout == "done\n"  # 8 MiB unread: no deadlock


async def test_memory_bomb_in_many_processes(workspace: Workspace) -> None:
    code = (
        "import os\n"
        "for _ in range(3):\n"
        "    if os.fork() == 0:\n"
        "        break\n"
        "x = bytearray(1 << 40)\n"
    )
    result = await workspace.run_python(code, limits=CommandLimits(max_processes=4, memory_mb=128))
    assert result.killed_by == "memory" and "MemoryError" in result.stderr


async def test_the_workspace_survives_hostile_permissions(workspace: Workspace) -> None:
    assert workspace._layout is not None
    base = workspace._layout.base
    await workspace.shell("mkdir -p locked/deeper && touch locked/deeper/f && chmod 000 locked")
    await workspace.close()
    assert not os.path.exists(base)  # the tmpfs went with the holder; the layout removed


def test_the_battery_is_big_enough() -> None:
    cases = [
        name
        for name, value in globals().items()
        if name.startswith("test_") and callable(value) and name != "test_the_battery_is_big_enough"
    ]
    parametrized = 2  # test_pth_file_cannot_be_planted runs 3 variants
    assert len(cases) + parametrized >= 30, len(cases)
    assert sys.platform.startswith("linux")
