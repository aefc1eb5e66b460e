"""Hostile and runaway snippets, run for real: each is contained, reported with the right
kind, leaves no process or directory behind, and the host (this test process) survives.

The fork bombs run under the sandbox's process limit; as root (where Linux does not
apply RLIMIT_NPROC) the audit hook is what refuses the forks, so the kernel-only variant
runs only as an ordinary user.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from palaestra.envs.code import Limits, Sandbox, namespaces_available
from tests.envs.code.conftest import processes_in

FORK_BOMB = "import os\nwhile True:\n    os.fork()\n"


async def test_cpu_loop_is_killed_by_the_cpu_limit(sandbox: Sandbox) -> None:
    result = await sandbox.run_python("print('spinning', flush=True)\nwhile True:\n    pass\n")
    assert result.killed_by == "cpu" and result.signal == 24  # SIGXCPU
    assert result.exit_code is None and not result.timed_out
    assert result.stdout == "spinning\n"  # what was printed before the kill is kept
    assert 0.9 < result.duration_s < 2.9
    assert "killed: CPU time limit of 1 s exceeded" in result.render()


async def test_sleeping_snippet_is_killed_at_the_wall_clock(sandbox: Sandbox) -> None:
    limits = Limits(cpu_seconds=5, wall_seconds=0.5)
    result = await sandbox.run_python("import time\ntime.sleep(60)", limits=limits)
    assert result.killed_by == "wall" and result.timed_out and result.signal == 9
    assert 0.4 < result.duration_s < 2.0
    assert "wall-clock limit of 0.5 s" in result.limit_message()


@pytest.mark.parametrize(
    "code",
    ["x = bytearray(10**10)\n", "x = []\nwhile True:\n    x.append(' ' * 10**6)\n"],
    ids=["one-huge-allocation", "growing-list"],
)
async def test_memory_bomb_stops_at_the_memory_limit(sandbox: Sandbox, code: str) -> None:
    result = await sandbox.run_python(code, limits=Limits(memory_mb=128))
    assert result.killed_by == "memory" and result.exit_code == 251
    assert result.stderr.rstrip().endswith("MemoryError")
    assert "memory limit of 128 MiB exceeded" in result.render()


async def test_fork_bomb_is_refused_and_reported(sandbox: Sandbox) -> None:
    result = await sandbox.run_python("print('start', flush=True)\n" + FORK_BOMB)
    assert result.killed_by == "processes" and result.exit_code == 253
    assert "the process limit is reached (max_processes=1)" in result.stderr
    assert result.stdout == "start\n"


async def test_fork_bomb_with_a_few_processes_allowed(sandbox: Sandbox) -> None:
    code = "import os\nprint(os.getcwd(), flush=True)\n" + FORK_BOMB
    result = await sandbox.run_python(code, limits=Limits(max_processes=4, wall_seconds=5))
    assert result.killed_by == "processes", result.stderr
    assert result.duration_s < 4
    # the children, refused in turn, and the main process are all gone with the directory
    workdir = result.stdout.splitlines()[0]
    assert not os.path.exists(workdir) and processes_in(workdir) == []


async def test_children_left_behind_are_killed_with_the_run(sandbox: Sandbox) -> None:
    code = (
        "import os, time\n"
        "print(os.getcwd(), flush=True)\n"
        "for _ in range(3):\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"  # even in a new session (escaping the process group)
        "        time.sleep(60)\n"
        "        os._exit(0)\n"
        "print('parent done', flush=True)\n"
    )
    limits = Limits(max_processes=4, wall_seconds=5)
    result = await sandbox.run_python(code, limits=limits)
    workdir, done = result.stdout.splitlines()
    assert result.ok and done == "parent done" and result.duration_s < 4
    # killed when the main process ended: by the namespace's end, or (without one) by the
    # bootstrap, which kills the children it saw forked
    assert processes_in(workdir) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="Linux does not apply RLIMIT_NPROC to root")
async def test_kernel_process_limit_contains_a_fork_bomb_without_the_hook() -> None:
    sandbox = Sandbox(Limits(max_processes=8, wall_seconds=3), audit_hook=False)
    result = await sandbox.run_python(FORK_BOMB)
    assert result.killed_by in ("processes", "wall")
    assert "Resource temporarily unavailable" in result.stderr or result.timed_out


@pytest.fixture
def listener() -> socket.socket:
    server = socket.create_server(("127.0.0.1", 0))
    server.setblocking(False)
    yield server
    server.close()


def _no_connection_arrived(server: socket.socket) -> bool:
    try:
        server.accept()
    except BlockingIOError:
        return True
    return False


@pytest.mark.parametrize(
    "connect",
    [
        "socket.create_connection(('127.0.0.1', PORT), timeout=2)",
        "s = socket.socket()\ns.connect(('127.0.0.1', PORT))",
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(b'x', ('127.0.0.1', PORT))",
    ],
    ids=["create_connection", "raw-socket", "udp"],
)
async def test_network_is_refused(sandbox: Sandbox, listener: socket.socket, connect: str) -> None:
    port = listener.getsockname()[1]
    code = "import socket\n" + connect.replace("PORT", str(port)) + "\nprint('connected')"
    result = await sandbox.run_python(code)
    assert result.exit_code == 1 and "connected" not in result.stdout
    assert "network access is disabled in the sandbox" in result.stderr
    assert _no_connection_arrived(listener)


@pytest.mark.skipif(not namespaces_available(), reason="needs user and network namespaces")
async def test_network_namespace_alone_blocks_the_connection(listener: socket.socket) -> None:
    sandbox = Sandbox(isolation="namespace", audit_hook=False)
    port = listener.getsockname()[1]
    code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"
    result = await sandbox.run_python(code)
    assert result.exit_code == 1
    assert "Network is unreachable" in result.stderr or "Connection refused" in result.stderr
    assert _no_connection_arrived(listener)


async def test_files_outside_the_directory_cannot_be_read(sandbox: Sandbox, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    for path in ("/etc/passwd", str(secret), "../" * 12 + str(secret).lstrip("/")):
        result = await sandbox.run_python(f"print(open({path!r}).read())")
        assert result.exit_code == 1 and "host secret" not in result.stdout, path
        assert "is not allowed: only the working directory and the Python standard" in (
            result.stderr
        )
    listing = await sandbox.run_python(f"import os\nprint(os.listdir({str(tmp_path)!r}))")
    assert listing.exit_code == 1 and "secret.txt" not in listing.stdout


async def test_files_outside_the_directory_cannot_be_written(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    target = tmp_path / "planted.txt"
    victim = tmp_path / "victim.txt"
    victim.write_text("intact")
    attempts = [
        f"open({str(target)!r}, 'w').write('x')",
        f"import os\nos.remove({str(victim)!r})",
        f"import os\nos.rename({str(victim)!r}, 'stolen.txt')",
        f"import os\nos.link({str(victim)!r}, 'alias.txt')\nprint(open('alias.txt').read())",
        f"import os\nos.symlink({str(victim)!r}, 'link.txt')\nprint(open('link.txt').read())",
        "import os\nfd = os.open('/etc', os.O_RDONLY)\nprint(os.listdir(fd))",
    ]
    for code in attempts:
        result = await sandbox.run_python(code)
        assert result.exit_code == 1 and "intact" not in result.stdout, code
        assert "PermissionError" in result.stderr or "SandboxDenied" in result.stderr, code
    assert not target.exists() and victim.read_text() == "intact"


async def test_other_programs_ctypes_and_gc_walks_are_refused(sandbox: Sandbox) -> None:
    attempts = {
        "import subprocess\nsubprocess.run(['cat', '/etc/passwd'])": "subprocess.Popen",
        "import os\nos.system('cat /etc/passwd')": "os.system",
        "import os\nos.execv('/bin/cat', ['cat', '/etc/passwd'])": "os.exec",
        "import _posixsubprocess\n_posixsubprocess.fork_exec()": "fork_exec",
        "import ctypes": "import _ctypes",
        "import gc\ngc.get_objects()": "gc.get_objects",
    }
    for code, refusal in attempts.items():
        result = await sandbox.run_python(code)
        assert result.exit_code == 1 and refusal in result.stderr, (code, result.stderr)
        assert "root:" not in result.stdout


async def test_the_host_survives_a_kill_attempt(sandbox: Sandbox) -> None:
    code = (
        "import os, signal\n"
        "try:\n"
        "    os.kill(os.getppid(), signal.SIGKILL)\n"
        "except PermissionError as exc:\n"
        "    print(exc)\n"
        "os.killpg(0, signal.SIGKILL)\n"
    )
    result = await sandbox.run_python(code)
    if sandbox.isolated:
        # the parent is the namespace's init, which ignores it; then the group's SIGKILL
        # kills the snippet itself (and nothing outside the namespace)
        assert result.killed_by == "signal" and result.signal == 9
    else:
        assert result.stdout == "os.kill: signals may only be sent to itself and its children\n"
        assert result.exit_code == 1 and "os.killpg" in result.stderr
    after = await sandbox.run_python("print('still here')")
    assert after.stdout == "still here\n"


async def test_huge_files_stop_at_the_file_size_limit(sandbox: Sandbox) -> None:
    code = "with open('big.bin', 'wb') as f:\n    while True:\n        f.write(b'0' * 65536)\n"
    result = await sandbox.run_python(code, limits=Limits(max_file_mb=1))
    assert result.killed_by == "file_size" and "File too large" in result.stderr
