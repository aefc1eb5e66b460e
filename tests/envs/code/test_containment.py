"""Runaway and hostile snippets through `code.python`'s sandbox, run for real: each is
stopped by the kernel, reported with the right kind, and the host (this test process)
survives. The limits are checked in both isolation modes; what only the kernel sandbox
contains (UDP, files, signals) is checked with bubblewrap. tests/sandbox/test_hostile.py
holds the full hostile-code battery (and its cases are not repeated here: a host
listener, processes that outlive the run, ...); `Sandbox` runs each snippet in a fresh
`Workspace`, the battery's subject."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from palaestra.envs.code import CommandLimits, Sandbox

FORK_BOMB = "import os\nwhile True:\n    os.fork()\n"


async def test_cpu_loop_is_killed_by_the_cpu_limit(sandbox: Sandbox) -> None:
    code = "print('spinning', flush=True)\nwhile True:\n    pass\n"
    # a wall clock far above the CPU limit: on a busy machine a CPU second takes longer
    result = await sandbox.run_python(
        code, limits=sandbox.limits.model_copy(update={"wall_seconds": 30})
    )
    assert result.killed_by == "cpu" and result.signal == 24  # SIGXCPU
    assert result.exit_code is None and not result.timed_out
    assert result.stdout == "spinning\n"  # what was printed before the kill is kept
    assert result.duration_s > 0.9
    assert "killed: CPU time limit of 1 s exceeded" in result.render()


async def test_sleeping_snippet_is_killed_at_the_wall_clock(sandbox: Sandbox) -> None:
    limits = CommandLimits(cpu_seconds=5, wall_seconds=0.5)
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
    result = await sandbox.run_python(code, limits=CommandLimits(memory_mb=128))
    assert result.killed_by == "memory" and result.exit_code == 251
    assert result.stderr.rstrip().endswith("MemoryError")
    assert "memory limit of 128 MiB exceeded" in result.render()


async def test_fork_bomb_is_stopped_by_the_kernel(isolated: Sandbox) -> None:
    # the sandbox's uid is not 0, so RLIMIT_NPROC holds even when the host runs as root
    result = await isolated.run_python("print('start', flush=True)\n" + FORK_BOMB)
    assert result.killed_by == "processes" and result.exit_code == 253
    assert "BlockingIOError: [Errno 11] Resource temporarily unavailable" in result.stderr
    assert result.stdout == "start\n"


async def test_fork_bomb_with_a_few_processes_allowed(isolated: Sandbox) -> None:
    code = "import os\nprint(os.getpid(), flush=True)\n" + FORK_BOMB
    result = await isolated.run_python(code, limits=CommandLimits(max_processes=4, wall_seconds=5))
    assert result.killed_by == "processes", result.stderr
    assert result.duration_s < 4
    # pid 2 of its own PID namespace: 1 is the launcher that waits for it
    assert result.stdout.split() == ["2"]


async def test_udp_to_the_host_arrives_nowhere(isolated: Sandbox) -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setblocking(False)
    port = receiver.getsockname()[1]
    code = (
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        f"for _ in range(20):\n    s.sendto(b'x', ('127.0.0.1', {port}))\nprint('sent')"
    )
    try:
        result = await isolated.run_python(code)
        # the sandbox's loopback is its own: the datagrams went to its namespace
        assert result.ok and result.stdout == "sent\n"
        with pytest.raises(BlockingIOError):
            receiver.recv(16)
    finally:
        receiver.close()


async def test_host_files_cannot_be_read(isolated: Sandbox, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    for path in (str(secret), "../" * 12 + str(secret).lstrip("/"), "/etc/shadow"):
        result = await isolated.run_python(f"print(open({path!r}).read())")
        assert result.exit_code == 1 and "host secret" not in result.stdout, path
        assert "FileNotFoundError" in result.stderr, result.stderr
    passwd = await isolated.run_python("print(open('/etc/passwd').read())")
    assert passwd.ok and "sandbox:x:1000" in passwd.stdout  # the sandbox's own, not the host's
    assert open("/etc/passwd").read() != passwd.stdout


async def test_host_files_cannot_be_written(isolated: Sandbox, tmp_path: Path) -> None:
    target = tmp_path / "planted.txt"
    attempts = [
        f"open({str(target)!r}, 'w').write('x')",
        "open('/usr/planted.txt', 'w').write('x')",
        "open('/planted.txt', 'w').write('x')",
        "import os\nos.symlink('/etc/passwd', 'link')\nopen('link', 'w').write('x')",
    ]
    for code in attempts:
        result = await isolated.run_python(code)
        assert result.exit_code == 1, code
        assert "Error" in result.stderr, (code, result.stderr)
    assert not target.exists() and not Path("/usr/planted.txt").exists()
    assert not Path("/planted.txt").exists()


async def test_other_programs_run_but_stay_inside(isolated: Sandbox) -> None:
    code = (
        "import subprocess\n"
        "done = subprocess.run(['cat', '/etc/shadow'], capture_output=True, text=True)\n"
        "print(done.returncode, done.stderr.strip())\n"
    )
    result = await isolated.run_python(code, limits=CommandLimits(max_processes=4))
    assert result.ok, result.stderr
    assert result.stdout == "1 cat: /etc/shadow: No such file or directory\n"


async def test_the_host_survives_a_kill_attempt(isolated: Sandbox) -> None:
    code = (
        "import os, signal\n"
        "for pid in (os.getppid(), 1):\n"
        "    try:\n"
        "        os.kill(pid, signal.SIGKILL)\n"
        "    except OSError as exc:\n"
        "        print(pid, exc)\n"
        "os.killpg(0, signal.SIGKILL)\n"
    )
    result = await isolated.run_python(code)
    # the parent (the launcher) and PID 1 are the sandbox's own; nothing outside is visible
    assert result.killed_by == "signal" or result.exit_code is not None
    after = await isolated.run_python("print('still here')")
    assert after.stdout == "still here\n"


async def test_huge_files_stop_at_the_file_size_limit(sandbox: Sandbox) -> None:
    code = "with open('big.bin', 'wb') as f:\n    while True:\n        f.write(b'0' * 65536)\n"
    result = await sandbox.run_python(code, limits=CommandLimits(max_file_mb=1))
    assert result.killed_by == "file_size" and "File too large" in result.stderr
