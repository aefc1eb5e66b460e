"""The sandbox runs real subprocesses: what a well-behaved snippet sees and gives back."""

from __future__ import annotations

import os

import pytest

from palaestra.core import UserError
from palaestra.envs.code import CommandLimits, ExecResult, Sandbox, run_python
from palaestra.sandbox import WORKSPACE, SandboxUnavailable
from tests.envs.code.conftest import NO_BWRAP


async def test_prints_exit_code_and_isolation_flag(sandbox: Sandbox) -> None:
    result = await sandbox.run_python("print('hello'); print(6 * 7)")
    assert result.ok and result.exit_code == 0 and result.signal is None
    assert result.stdout == "hello\n42\n" and result.stderr == ""
    assert not result.truncated and result.killed_by is None and not result.timed_out
    assert result.isolated == sandbox.isolated
    assert result.render() == "exit code: 0\nstdout:\nhello\n42"


async def test_exit_status_of_sys_exit(sandbox: Sandbox) -> None:
    result = await sandbox.run_python("import sys\nprint('bye')\nsys.exit(3)")
    assert (result.exit_code, result.stdout, result.killed_by) == (3, "bye\n", None)
    assert not result.ok
    message = await sandbox.run_python("raise SystemExit('gone')")
    assert (message.exit_code, message.stderr) == (1, "gone\n")


async def test_traceback_shows_only_the_snippets_frames(sandbox: Sandbox) -> None:
    code = "def f(x):\n    return 1 / x\n\nprint('before')\nf(0)\n"
    result = await sandbox.run_python(code)
    assert result.exit_code == 1 and result.stdout == "before\n"
    assert result.stderr == (
        "Traceback (most recent call last):\n"
        '  File "main.py", line 5, in <module>\n'
        "    f(0)\n"
        '  File "main.py", line 2, in f\n'
        "    return 1 / x\n"
        "           ~~^~~\n"
        "ZeroDivisionError: division by zero\n"
    )


async def test_syntax_error_is_reported_like_python(sandbox: Sandbox) -> None:
    result = await sandbox.run_python("x = 1\ndef f(:\n    pass\n")
    assert result.exit_code == 1 and result.killed_by is None
    assert result.stderr.startswith('  File "main.py", line 2\n    def f(:\n')
    assert result.stderr.rstrip().endswith("SyntaxError: invalid syntax")


async def test_standard_library_imports_work(sandbox: Sandbox) -> None:
    code = (
        "import json, math, itertools, collections, functools, fractions, re, heapq, asyncio\n"
        "print(json.dumps({'gcd': math.gcd(12, 18)}))\n"
        "print(asyncio.run(asyncio.sleep(0, result='async ok')))\n"
    )
    result = await sandbox.run_python(code)
    assert result.ok, result.stderr
    assert result.stdout == '{"gcd": 6}\nasync ok\n'


async def test_files_live_in_a_private_directory_that_is_removed(sandbox: Sandbox) -> None:
    code = (
        "import os, helper, tempfile\n"
        "open('out.txt', 'w').write('kept here')\n"
        "with tempfile.TemporaryDirectory() as scratch:\n"
        "    open(os.path.join(scratch, 'x'), 'w').write('x')\n"
        "print(os.getcwd()); print(os.environ['HOME'] == os.getcwd())\n"
        "print(sorted(os.listdir('.'))); print(open('out.txt').read(), helper.VALUE)\n"
    )
    result = await sandbox.run_python(code, files={"helper.py": "VALUE = 7\n"})
    assert result.ok, result.stderr
    workdir, home, listing, content = result.stdout.splitlines()
    if sandbox.isolated:
        assert workdir == WORKSPACE  # the sandbox's own view; the host has no such path
    else:
        assert "palaestra-ws-" in workdir
        assert not os.path.exists(workdir)
    assert home == "True"
    # the snippet and its files are in the call's private directory, not the workspace
    assert listing == "['out.txt']" and content == "kept here 7"


async def test_host_environment_does_not_leak(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-of-the-host")
    code = "import os\nprint(sorted(os.environ))\nprint('sk-secret' in repr(os.environ))"
    result = await sandbox.run_python(code)
    keys, leaked = result.stdout.splitlines()
    assert "OPENAI_API_KEY" not in keys and leaked == "False"
    assert keys == "['HOME', 'LANG', 'LC_ALL', 'LOGNAME', 'PATH', 'PWD', 'TMPDIR', 'USER']"


async def test_output_is_cut_at_the_cap_and_the_run_killed(sandbox: Sandbox) -> None:
    limits = CommandLimits(max_output_bytes=1000, wall_seconds=5)
    result = await sandbox.run_python("while True:\n    print('y' * 99)", limits=limits)
    assert result.killed_by == "output" and result.stdout_truncated and result.truncated
    assert result.stdout == ("y" * 99 + "\n") * 10  # exactly the first 1000 bytes
    assert result.exit_code is None and result.signal == 9 and not result.timed_out
    assert result.duration_s < 3
    assert "[stdout truncated at 1000 bytes]" in result.render()
    assert "killed: output went past 1000 bytes" in result.render()


async def test_stderr_has_its_own_cap(sandbox: Sandbox) -> None:
    limits = CommandLimits(max_output_bytes=500)
    code = "import sys\nprint('fine')\nsys.stderr.write('e' * 5000)\n"
    result = await sandbox.run_python(code, limits=limits)
    assert result.stdout == "fine\n" and result.stderr == "e" * 500
    assert result.stderr_truncated and not result.stdout_truncated


@pytest.mark.skipif(NO_BWRAP is not None, reason=f"no sandbox: {NO_BWRAP}")
async def test_module_level_helper_and_unicode() -> None:
    result = await run_python("print('π ≈', round(3.14159, 2))")
    assert isinstance(result, ExecResult) and result.stdout == "π ≈ 3.14\n"


async def test_concurrent_runs_do_not_mix(sandbox: Sandbox) -> None:
    import asyncio

    results = await asyncio.gather(*(sandbox.run_python(f"print({i} ** 2)") for i in range(8)))
    assert [r.stdout for r in results] == [f"{i * i}\n" for i in range(8)]


def test_bad_arguments_are_user_errors() -> None:
    with pytest.raises(UserError, match="valid choices: bwrap, none"):
        Sandbox(isolation="docker")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="invalid sandbox file name '../x.py'"):
        import asyncio

        asyncio.run(Sandbox(isolation="none").run_python("pass", files={"../x.py": ""}))
    if NO_BWRAP is not None:
        with pytest.raises(SandboxUnavailable, match="install bubblewrap"):
            Sandbox()


def test_limits_are_validated() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="cpu_seconds"):
        CommandLimits(cpu_seconds=0)
    with pytest.raises(ValidationError, match="extra"):
        CommandLimits(gpu=1)  # type: ignore[call-arg]
