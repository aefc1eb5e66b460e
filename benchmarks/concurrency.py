"""Benchmark of model-call throughput with many episodes in flight against a slow server.

The local test server (`python -m palaestra.testing.chat_server --delay 0.2`) runs as a
subprocess, so it does not share this process's CPU time or GIL; every chat completion
it serves takes `--delay` seconds. With N episodes and N model calls in flight, an ideal
client completes N / delay calls per second; this prints what palaestra achieves and the
ratio.

The workload: `--episodes` single-agent episodes (default 5*N: the first and last
waves of N, when connections open and the pipeline fills and drains, then weigh little
against the steady state the ideal describes; measured here on the same machine, 2*N
gave 0.81 for bare streams and 0.67 for palaestra, 5*N 0.88 and 0.76) of the
`bench.fanout` environment, each doing `--calls` steps of one model call through the
LLM operator and the OpenAI provider (`openai:bench` at the server's URL,
`max_connections` = N, no retries), recorded into a SQLite store in a temporary
directory; `concurrency.episodes` = `concurrency.model_calls` = N.

To tell where a shortfall comes from, it also prints the CPU seconds this process (the
client) and the server used, the server's peak of requests in flight and connections
opened, and the same number of calls made without palaestra's runtime or provider, N
concurrent workers each: plain asyncio streams (one kept-alive connection per worker:
what the machine allows), and `PooledTransport`, the transport under `OpenAIModel`, given
each call's request bytes from a prebuilt head (`send_bytes`, what the provider's HTTP
layer allows). The gap between the second and palaestra is the provider's and the runtime's
own work.
`--httpx2-pool` adds the httpx2 client with its default pool (what the `openai` SDK uses
by default), which scans its connections for every request: milliseconds of CPU per call
at N = 1,000, the reason for `PooledTransport`.

    .venv/bin/python benchmarks/concurrency.py                     # N = 1000
    .venv/bin/python benchmarks/concurrency.py --n 100 --episodes 200 --calls 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import httpx2
from _common import ENV_ID, raise_fd_limit, register_fanout

import palaestra
from palaestra.runtime import (
    Concurrency,
    Experiment,
    Job,
    Limits,
    LLMOperatorConfig,
    ModelConfig,
)


class Server(NamedTuple):
    url: str
    """The OpenAI base URL, `http://127.0.0.1:PORT/v1`."""
    process: subprocess.Popen[str]


@contextmanager
def chat_server(delay: float) -> Iterator[Server]:
    """The test chat server in a subprocess; stopped (SIGTERM) on exit."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "palaestra.testing.chat_server",
            "--port",
            "0",
            "--delay",
            str(delay),
            "--no-record",
            "--reply",
            "ok",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http"):
            raise SystemExit(f"chat server did not start (printed {url!r})")
        yield Server(url, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def server_stats(server: Server) -> dict[str, int]:
    root = server.url.removesuffix("/v1")
    with urllib.request.urlopen(f"{root}/_palaestra/stats", timeout=10) as reply:
        stats: dict[str, int] = json.loads(reply.read())
    return stats


def reset_server(server: Server) -> None:
    root = server.url.removesuffix("/v1")
    request = urllib.request.Request(f"{root}/_palaestra/reset", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of this process, or of process `pid` (Linux /proc)."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Measured(NamedTuple):
    seconds: float
    calls: int
    client_cpu: float
    server_cpu: float
    stats: dict[str, int]


@contextmanager
def measuring(server: Server) -> Iterator[dict[str, Any]]:
    """Wall time, client and server CPU of the block (filled into the yielded dict)."""
    reset_server(server)
    out: dict[str, Any] = {}
    client, served = cpu_seconds(), cpu_seconds(server.process.pid)
    started = time.perf_counter()
    yield out
    out["seconds"] = time.perf_counter() - started
    out["client_cpu"] = cpu_seconds() - client
    out["server_cpu"] = cpu_seconds(server.process.pid) - served
    out["stats"] = stats = server_stats(server)
    stats["connections_total"] -= 1  # the stats request's own connection


# -- palaestra ----------------------------------------------------------------------------


def experiment(url: str, n: int, episodes: int, calls: int) -> Experiment:
    return Experiment(
        name="concurrency",
        models={
            "bench": ModelConfig(
                spec="openai:bench",
                base_url=url,
                max_connections=n,
                max_retries=0,
                timeout_s=120.0,
            )
        },
        jobs=[
            Job(
                env=ENV_ID,
                params={"agents": 1, "steps": calls},
                tasks=1,
                seeds=episodes,
                operator=LLMOperatorConfig(model="bench", keep_history=False),
            )
        ],
        concurrency=Concurrency(episodes=n, model_calls=n),
        limits=Limits(max_steps=calls),
    )


def run_palaestra(server: Server, n: int, episodes: int, calls: int, store: Path) -> Measured:
    exp = experiment(server.url, n, episodes, calls)
    with measuring(server) as out:
        result = palaestra.run(exp, run_id="concurrency", store=store)
    bad = [e for e in result.episodes if e.outcome != "success"]
    if bad:
        first = bad[0]
        raise SystemExit(
            f"{len(bad)} episodes did not succeed, e.g. {first.episode_id}: "
            f"{first.outcome} ({first.reason}) {first.error or ''}"
        )
    made = out["stats"]["request_count"]
    if made != episodes * calls:
        raise SystemExit(f"the server got {made} chat requests, expected {episodes * calls}")
    return Measured(out["seconds"], made, out["client_cpu"], out["server_cpu"], out["stats"])


# -- baselines: bare HTTP clients ---------------------------------------------------------

BODY = {
    "model": "bench",
    "messages": [
        {"role": "system", "content": "You are an agent."},
        {"role": "user", "content": "Step 0. Reply with one word."},
    ],
}


async def _streams(url: str, n: int, total: int) -> None:
    """N workers, each with one kept-alive connection on plain asyncio streams."""
    parts = urlsplit(url)
    body = json.dumps(BODY).encode()
    request = (
        f"POST {parts.path}/chat/completions HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    remaining = [total]

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while remaining[0] > 0:
                remaining[0] -= 1
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"server answered {head[:40]!r}")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                json.loads(await reader.readexactly(length))
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(n)))


def run_streams(server: Server, n: int, total: int) -> Measured:
    with measuring(server) as out:
        asyncio.run(_streams(server.url, n, total))
    return Measured(out["seconds"], total, out["client_cpu"], out["server_cpu"], out["stats"])


async def _pooled(url: str, n: int, total: int) -> None:
    """N workers sharing one `PooledTransport` (N connections), each call the request's
    bytes from a prebuilt head (`send_bytes`, as `OpenAIModel` sends)."""
    from palaestra.models._transport import PooledTransport

    transport = PooledTransport(max_connections=n)
    target = httpx2.URL(f"{url}/chat/completions")
    key = (target.raw_scheme, target.raw_host, target.port or 80)
    body = json.dumps(BODY).encode()
    data = (
        b"POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (target.raw_path, target.netloc, len(body), body)
    )
    timeout = httpx2.Timeout(120.0, pool=None).as_dict()
    remaining = [total]

    async def worker() -> None:
        while remaining[0] > 0:
            remaining[0] -= 1
            reply = await transport.send_bytes(key, data, timeout)
            if reply.status != 200:
                raise RuntimeError(f"server answered {reply.status}")
            json.loads(reply.content)

    try:
        await asyncio.gather(*(worker() for _ in range(n)))
    finally:
        await transport.aclose()


def run_pooled(server: Server, n: int, total: int) -> Measured:
    with measuring(server) as out:
        asyncio.run(_pooled(server.url, n, total))
    return Measured(out["seconds"], total, out["client_cpu"], out["server_cpu"], out["stats"])


async def _httpx2_pool(url: str, n: int, total: int) -> None:
    """N workers sharing one httpx2 client with its default pool of N connections."""
    remaining = [total]
    limits = httpx2.Limits(max_connections=n, max_keepalive_connections=n)
    timeout = httpx2.Timeout(120.0, pool=None)
    async with httpx2.AsyncClient(limits=limits, timeout=timeout) as client:

        async def worker() -> None:
            while remaining[0] > 0:
                remaining[0] -= 1
                reply = await client.post(f"{url}/chat/completions", json=BODY)
                reply.raise_for_status()
                json.loads(reply.content)

        await asyncio.gather(*(worker() for _ in range(n)))


def run_httpx2_pool(server: Server, n: int, total: int) -> Measured:
    with measuring(server) as out:
        asyncio.run(_httpx2_pool(server.url, n, total))
    return Measured(out["seconds"], total, out["client_cpu"], out["server_cpu"], out["stats"])


# -- report -------------------------------------------------------------------------------


def report(label: str, m: Measured, ideal: float) -> None:
    rate = m.calls / m.seconds
    print(
        f"{label}: {rate:,.0f} model calls/s in {m.seconds:.2f} s, ratio {rate / ideal:.2f} "
        f"of ideal; client CPU {m.client_cpu:.2f} s ({m.client_cpu * 1e6 / m.calls:.0f} us "
        f"per call), server CPU {m.server_cpu:.2f} s; server peak in flight "
        f"{m.stats.get('peak_in_flight', '?')}, connections opened "
        f"{m.stats.get('connections_total', '?')}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="episodes and model calls in flight")
    parser.add_argument("--episodes", type=int, help="episodes in all (default 5*N)")
    parser.add_argument("--calls", type=int, default=3, help="model calls per episode")
    parser.add_argument("--delay", type=float, default=0.2, help="server seconds per reply")
    parser.add_argument(
        "--no-baselines", action="store_true", help="skip the bare HTTP client runs"
    )
    parser.add_argument(
        "--httpx2-pool",
        action="store_true",
        help="also run the httpx2 client with its default pool (slow: ms per call)",
    )
    args = parser.parse_args(argv)
    n, calls = args.n, args.calls
    episodes = args.episodes if args.episodes is not None else 5 * n
    if min(n, calls, episodes) < 1 or args.delay <= 0:
        parser.error("--n, --episodes, --calls and --delay must be positive")
    # The client holds N sockets and the server (which inherits the limit) N more.
    limit = raise_fd_limit(2 * n + 512)
    if limit < n + 256:
        print(f"warning: open-files limit {limit} is low for N = {n}", file=sys.stderr)
    register_fanout()
    # Load the built-in suites (networkx, scipy: ~0.7 s of imports) now: a one-time start-up
    # cost of the process, not part of the throughput measured below.
    palaestra.envs.registered()

    ideal = n / args.delay
    total = episodes * calls
    print(
        f"workload: {episodes:,} single-agent episodes x {calls} model calls = {total:,} "
        f"calls, N = {n:,} in flight, server delay {args.delay:g} s; "
        f"ideal {ideal:,.0f} model calls/s"
    )
    with chat_server(args.delay) as server, tempfile.TemporaryDirectory() as tmp:
        # Warm-up: imports and the first connections, charged to neither run.
        run_palaestra(server, 2, 2, 1, Path(tmp) / "warm.db")
        if not args.no_baselines:
            report("bare asyncio streams", run_streams(server, n, total), ideal)
            report("bare PooledTransport", run_pooled(server, n, total), ideal)
            if args.httpx2_pool:
                report("bare httpx2 pool", run_httpx2_pool(server, n, total), ideal)
        report("palaestra", run_palaestra(server, n, episodes, calls, Path(tmp) / "run.db"), ideal)


if __name__ == "__main__":
    main()
