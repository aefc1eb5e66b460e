"""Benchmark of the workspace tools: what each tool adds to the workspace operation under
it, and what `run_tests` costs against pytest run bare on the host.

In one started bubblewrap workspace (pytest importable), each pair runs `--calls` times,
interleaved, and checks its output, so a broken run cannot pass for a fast one:

- **read_file** (the tool: argument validation, no-follow read, UTF-8 check, numbered
  lines) against `Workspace.read_bytes` of the same 2,000-line file;
- **edit_file** (read, count, replace, write, the snippet shown) against
  `read_bytes` + `write_bytes` of the same change;
- **shell** (``true``) against `Workspace.shell` (the sandbox's cost is in both);
- **run_tests** on a 20-test suite against ``python -S -B -m pytest -q -p
  no:cacheprovider`` of a copy of the suite as a host subprocess with the same pytest
  (the staged copy, plugin autoloading off), without the sandbox and the report file.

Then the one-time cost of `pytest_paths()` (copying pytest's distributions and compiling
what lacks bytecode) in a fresh interpreter. Prints medians in milliseconds and ratios.

    .venv/bin/python benchmarks/workspace_tools.py            # 20 calls each
    .venv/bin/python benchmarks/workspace_tools.py --calls 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from palaestra.sandbox import (
    CommandLimits,
    Workspace,
    isolation_problem,
    pytest_paths,
    workspace_tools,
)

SUITE = "\n".join(
    f"def test_{i}():\n    assert sum(range({i})) == {sum(range(i))}\n" for i in range(20)
)
TEXT = "".join(f"line {i} of the file\n" for i in range(2000))


Fn = Callable[[], Awaitable[None]]


async def timed(first: Fn, second: Fn, calls: int) -> tuple[float, float]:
    """Median milliseconds of `calls` calls of each, interleaved (a busy machine slows
    both alike)."""
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(calls):
        for fn, kept in ((first, times[0]), (second, times[1])):
            start = time.perf_counter()
            await fn()
            kept.append((time.perf_counter() - start) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])


async def main(calls: int) -> None:
    problem = isolation_problem()
    if problem:
        sys.exit(f"the kernel sandbox cannot start here: {problem}")
    probe = (
        "import time\nfrom palaestra.sandbox import pytest_paths\n"
        "start = time.perf_counter()\npytest_paths()\nprint(time.perf_counter() - start)"
    )
    staged = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True)
    staging_ms = float(staged.stdout) * 1000
    limits = CommandLimits(cpu_seconds=10, wall_seconds=60, memory_mb=512, max_processes=16)
    rows: list[tuple[str, float, float]] = []
    async with Workspace(limits=limits, python_paths=pytest_paths()) as ws:
        tools = {t.name: t for t in workspace_tools(ws)}
        ws.write_text("big.txt", TEXT)
        ws.write_text("test_suite.py", SUITE)

        async def read_tool() -> None:
            outcome = await tools["read_file"].call({"path": "big.txt"})
            assert outcome.content.startswith("     1\tline 0"), outcome.content[:200]

        async def read_bare() -> None:
            assert ws.read_bytes("big.txt").startswith(b"line 0")

        flip = [0]

        async def edit_tool() -> None:
            old, new = (
                ("line 1000 ", "LINE 1000 ") if flip[0] % 2 == 0 else ("LINE 1000 ", "line 1000 ")
            )
            flip[0] += 1
            outcome = await tools["edit_file"].call(
                {"path": "big.txt", "old_string": old, "new_string": new}
            )
            assert outcome.content.startswith("Edited big.txt"), outcome.content

        async def edit_bare() -> None:
            text = ws.read_bytes("big.txt").decode()
            ws.write_bytes("big.txt", text.replace("line 5 ", "line 5 ", 1).encode())

        async def shell_tool() -> None:
            outcome = await tools["shell"].call({"command": "true"})
            assert outcome.content.startswith("exit code: 0"), outcome.content

        async def shell_bare() -> None:
            assert (await ws.shell("true")).ok

        async def tests_tool() -> None:
            outcome = await tools["run_tests"].call({})
            assert outcome.content.startswith("tests: 20 passed"), outcome.content

        host = Path(tempfile.mkdtemp(prefix="palaestra-bench-"))
        bare_env = {  # the same pytest, started the same way, without the sandbox
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": pytest_paths()[0],
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
        }
        (host / "test_suite.py").write_text(SUITE)

        async def tests_bare() -> None:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-S", "-B", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                str(host), cwd=host, env=bare_env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            out, _ = await process.communicate()
            assert b"20 passed" in out, out

        pairs = [
            ("read_file", read_tool, read_bare),
            ("edit_file", edit_tool, edit_bare),
            ("shell", shell_tool, shell_bare),
            ("run_tests", tests_tool, tests_bare),
        ]
        for name, tool_fn, bare_fn in pairs:
            await tool_fn()  # warm
            await bare_fn()
            tool_ms, bare_ms = await timed(tool_fn, bare_fn, calls)
            rows.append((name, tool_ms, bare_ms))
    print(f"{'tool':<10} {'tool ms':>10} {'under it ms':>12} {'ratio':>7}")
    for name, tool_ms, bare_ms in rows:
        print(f"{name:<10} {tool_ms:>10.3f} {bare_ms:>12.3f} {tool_ms / bare_ms:>7.2f}")
    print("(run_tests: 'under it' is the same pytest started the same way on the host)")
    print(f"pytest_paths(), first call of a process (copy + compile): {staging_ms:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20)
    asyncio.run(main(parser.parse_args().calls))
