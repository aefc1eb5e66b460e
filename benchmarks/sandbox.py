"""Benchmark of `run_python` tool calls per second: the sandbox of `code.python` against
a bare subprocess spawn, so the cost of its limits, namespaces and audit hook shows.

Every variant runs the same trivial snippet, ``print('ok')``, `--calls` times, first one
call after another (sequential), then with `--concurrency` calls in flight (an
`asyncio.Semaphore`), and checks every output, so a broken run cannot pass for a fast
one. Variants:

- **bare python -c**: `asyncio.create_subprocess_exec(sys.executable, "-c", code)`, its
  output read with `communicate()`: what one Python process costs on this machine;
- **bare python -I -S -c**: the same, isolated and without ``site`` (the interpreter
  flags the sandbox uses): how much of the first row is interpreter start-up;
- **sandbox, no namespaces**: `Sandbox(isolation="none")`: resource limits, private
  directory, audit hook, output caps (the bootstrap's own start-up included);
- **sandbox, namespaces**: `Sandbox(isolation="namespace")` (the default where Linux
  allows it): the same under ``unshare`` in new user, network and PID namespaces;
- **sandbox, namespaces, no hook**: the same without the audit hook.

Prints, per variant, calls per second sequential and concurrent, milliseconds per call
(sequential), and ratios against the first row. Runs are interleaved and repeated
(`--repeat`); medians are reported.

    .venv/bin/python benchmarks/sandbox.py                          # 200 calls, 8 in flight
    .venv/bin/python benchmarks/sandbox.py --calls 50 --concurrency 4 --repeat 1
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

from palaestra.envs.code import Limits, Sandbox, namespaces_available

CODE = "print('ok')"
EXPECTED = "ok\n"

Call = Callable[[], Awaitable[str]]


def bare(*flags: str) -> Call:
    """One plain Python subprocess per call."""

    async def call() -> str:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *flags,
            "-c",
            CODE,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, _ = await process.communicate()
        return out.decode()

    return call


def sandboxed(sandbox: Sandbox) -> Call:
    """One sandboxed run per call."""

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


def variants() -> dict[str, Call]:
    limits = Limits(wall_seconds=30)
    out = {
        "bare python -c": bare(),
        "bare python -I -S -c": bare("-I", "-S"),
        "sandbox, no namespaces": sandboxed(Sandbox(limits, isolation="none")),
    }
    if namespaces_available():
        out["sandbox, namespaces"] = sandboxed(Sandbox(limits, isolation="namespace"))
        out["sandbox, namespaces, no hook"] = sandboxed(
            Sandbox(limits, isolation="namespace", audit_hook=False)
        )
    return out


async def run(args: argparse.Namespace) -> None:
    table = variants()
    for call in table.values():  # warm up: imports, page cache, the namespace probe
        await measure(call, 2, 1)
    sequential: dict[str, list[float]] = {name: [] for name in table}
    concurrent: dict[str, list[float]] = {name: [] for name in table}
    for _ in range(args.repeat):  # interleaved, so machine load hits all alike
        for name, call in table.items():
            sequential[name].append(await measure(call, args.calls, 1))
            concurrent[name].append(await measure(call, args.calls, args.concurrency))

    def rate(samples: list[float]) -> float:
        return args.calls / statistics.median(samples)

    base = next(iter(table))
    base_seq, base_conc = rate(sequential[base]), rate(concurrent[base])
    n = args.concurrency
    print(
        f"workload: {args.calls} calls of {CODE}, sequential and {n} in flight, "
        f"median of {args.repeat}; namespaces available: {namespaces_available()}"
    )
    header = f"{'variant':<30} {'seq calls/s':>11} {'ms/call':>8} {f'{n} in flight':>13}"
    print(header + f" {'seq ratio':>9} {'conc ratio':>10}")
    for name in table:
        seq, conc = rate(sequential[name]), rate(concurrent[name])
        print(
            f"{name + ':':<30} {seq:>11.1f} {1000 / seq:>8.2f} {conc:>13.1f} "
            f"{seq / base_seq:>9.2f} {conc / base_conc:>10.2f}"
        )
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per measurement")
    parser.add_argument("--concurrency", type=int, default=8, help="calls in flight")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; medians shown")
    args = parser.parse_args(argv)
    for name in ("calls", "concurrency", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
