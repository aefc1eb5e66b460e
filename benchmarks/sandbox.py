"""Benchmark of sandboxed calls per second: `palaestra.sandbox` against a bare interpreter
spawn in the same command, so the cost of the kernel isolation shows; and what a
workspace costs to create and destroy.

Every variant runs the same trivial snippet, ``print('ok')``, `--calls` times, first one
call after another (sequential), then with `--concurrency` calls in flight (an
`asyncio.Semaphore`), and checks every output, so a broken run cannot pass for a fast
one. Variants:

- **bare python -I -S -c**: `asyncio.create_subprocess_exec(sys.executable, "-I", "-S",
  "-c", code)`, its output read with `communicate()`: one interpreter start, nothing else
  (the baseline of the ratios);
- **workspace, bwrap**: `Workspace.run_python` in one started workspace: per call,
  ``nsenter`` + ``bwrap`` (six namespaces, the mounts) + the launcher and its worker;
- **sandbox, bwrap (fresh workspace)**: `Sandbox.run_python`: the same, plus creating and
  destroying a workspace (its holder and tmpfs) for each call;
- **workspace, isolation none**: `Workspace(isolation="none").run_python`: the launcher
  alone, without the kernel sandbox (what the isolation itself costs is the difference).

Then the start cost: `--starts` workspaces created (`start`) and destroyed (`close`) one
after another, in milliseconds per workspace, with and without bubblewrap.

Prints, per variant, calls per second sequential and concurrent, milliseconds per call
(sequential), and ratios against the first row. Runs are interleaved and repeated
(`--repeat`); medians are reported.

    .venv/bin/python benchmarks/sandbox.py                          # 100 calls, 4 in flight
    .venv/bin/python benchmarks/sandbox.py --calls 20 --concurrency 2 --repeat 1 --starts 5
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

from palaestra.sandbox import CommandLimits, Sandbox, Workspace, isolation_problem

CODE = "print('ok')"
EXPECTED = "ok\n"

Call = Callable[[], Awaitable[str]]


def bare() -> Call:
    """One plain, isolated Python subprocess per call."""

    async def call() -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-I",
            "-S",
            "-c",
            CODE,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, _ = await process.communicate()
        return out.decode()

    return call


def in_workspace(workspace: Workspace) -> Call:
    async def call() -> str:
        result = await workspace.run_python(CODE)
        if not result.ok:
            raise SystemExit(f"the workspace failed on {CODE!r}: {result.render()}")
        return result.stdout

    return call


def in_sandbox(sandbox: Sandbox) -> Call:
    async def call() -> str:
        result = await sandbox.run_python(CODE)
        if not result.ok:
            raise SystemExit(f"the sandbox failed on {CODE!r}: {result.render()}")
        return result.stdout

    return call


async def measure(call: Call, calls: int, concurrency: int) -> float:
    """Seconds for `calls` calls with at most `concurrency` in flight."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            out = await call()
        if out != EXPECTED:
            raise SystemExit(f"expected {EXPECTED!r} from every call, got {out!r}")

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(calls)))
    return time.perf_counter() - started


async def start_cost(isolation: str, starts: int) -> float:
    """Milliseconds to create and destroy one workspace (median of `starts`)."""
    samples = []
    for _ in range(starts):
        began = time.perf_counter()
        workspace = Workspace(isolation=isolation)  # type: ignore[arg-type]
        await workspace.start()
        await workspace.close()
        samples.append(time.perf_counter() - began)
    return 1000 * statistics.median(samples)


async def run(args: argparse.Namespace) -> None:
    problem = isolation_problem()
    if problem is not None:
        raise SystemExit(f"the bubblewrap sandbox cannot start here: {problem}")
    limits = CommandLimits(wall_seconds=30)
    async with (
        Workspace(limits=limits) as isolated,
        Workspace(limits=limits, isolation="none") as plain,
    ):
        table: dict[str, Call] = {
            "bare python -I -S -c": bare(),
            "workspace, bwrap": in_workspace(isolated),
            "sandbox, bwrap (fresh workspace)": in_sandbox(Sandbox(limits)),
            "workspace, isolation none": in_workspace(plain),
        }
        for call in table.values():  # warm up: imports, page cache
            await measure(call, 2, 1)
        sequential: dict[str, list[float]] = {name: [] for name in table}
        concurrent: dict[str, list[float]] = {name: [] for name in table}
        for _ in range(args.repeat):  # interleaved, so machine load hits all alike
            for name, call in table.items():
                sequential[name].append(await measure(call, args.calls, 1))
                concurrent[name].append(await measure(call, args.calls, args.concurrency))
    starts = {
        "bwrap": await start_cost("bwrap", args.starts),
        "none": await start_cost("none", args.starts),
    }

    def rate(samples: list[float]) -> float:
        return args.calls / statistics.median(samples)

    base = next(iter(table))
    base_seq, base_conc = rate(sequential[base]), rate(concurrent[base])
    n = args.concurrency
    print(
        f"workload: {args.calls} calls of {CODE}, sequential and {n} in flight, "
        f"median of {args.repeat}"
    )
    header = f"{'variant':<34} {'seq calls/s':>11} {'ms/call':>8} {f'{n} in flight':>13}"
    print(header + f" {'seq ratio':>9} {'conc ratio':>10}")
    for name in table:
        seq, conc = rate(sequential[name]), rate(concurrent[name])
        print(
            f"{name + ':':<34} {seq:>11.1f} {1000 / seq:>8.2f} {conc:>13.1f} "
            f"{seq / base_seq:>9.2f} {conc / base_conc:>10.2f}"
        )
    print(f"workspace start + close, median of {args.starts}:")
    for isolation, ms in starts.items():
        print(f"  isolation {isolation}: {ms:.1f} ms")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=100, help="calls per measurement")
    parser.add_argument("--concurrency", type=int, default=4, help="calls in flight")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians shown")
    parser.add_argument("--starts", type=int, default=20, help="workspaces created and closed")
    args = parser.parse_args(argv)
    for name in ("calls", "concurrency", "repeat", "starts"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
