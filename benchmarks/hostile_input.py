"""What the defences against hostile input cost: the web guard per HTTP request, and the
terminal escaping per megabyte of printed text.

```
python benchmarks/hostile_input.py [--requests N] [--chars N] [--repeat R]
```

1. The guard (`palaestra._webguard.WebGuard`: Host, Origin, bearer token) in front of a
   minimal ASGI app, called in process (no sockets), against the same app alone: the
   difference is what every request to the viewer or the environment server pays.
2. `palaestra.cli._terminal.printable` over `--chars` characters of plain ASCII output,
   of text in several scripts, and of hostile text (an escape every 7 characters),
   against `str.translate` over the same text with an empty table (a lower bound for
   any pass over the characters).

Medians of `--repeat` runs; ratios against the baselines.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from palaestra._webguard import GuardPolicy, WebGuard
from palaestra.cli._terminal import printable

TOKEN = "benchmark-token-0123456789"


async def _app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def _drive(app: Any, requests: int) -> float:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/runs",
        "query_string": b"limit=50",
        "server": ("127.0.0.1", 8765),
        "headers": [
            (b"host", b"127.0.0.1:8765"),
            (b"authorization", f"Bearer {TOKEN}".encode()),
            (b"accept", b"*/*"),
            (b"user-agent", b"benchmark"),
        ],
    }
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    start = time.perf_counter()
    for _ in range(requests):
        await app(scope, receive, send)
    took = time.perf_counter() - start
    assert statuses == [200] * requests, set(statuses)
    return took / requests


def _median(runs: list[float]) -> float:
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--chars", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    guarded = WebGuard(_app, policy=GuardPolicy(token=TOKEN))
    bare = _median([asyncio.run(_drive(_app, args.requests)) for _ in range(args.repeat)])
    guard = _median([asyncio.run(_drive(guarded, args.requests)) for _ in range(args.repeat)])
    print(f"requests: {args.requests:,} per run, {args.repeat} runs (medians)")
    print(f"bare ASGI app: {bare * 1e6:.2f} us per request")
    print(
        f"with the guard (Host, Origin, token): {guard * 1e6:.2f} us per request, "
        f"+{(guard - bare) * 1e6:.2f} us, ratio {guard / bare:.1f} x bare"
    )

    line = "plain model output, a tool result line\n"
    texts = {
        "ascii": line * (args.chars // len(line) + 1),
        "scripts": "héllo wörld 日本語 العربية 🙂 text\n" * (args.chars // 30 + 1),
        "hostile": "x\x1b[31m y\u202e z\n" * (args.chars // 14 + 1),
    }
    empty: dict[int, int] = {}
    print(f"text: {args.chars:,} characters each")
    for name, text in texts.items():
        text = text[: args.chars]
        base = _median(
            [_timed(lambda t=text: t.translate(empty)) for _ in range(args.repeat)]  # type: ignore[misc]
        )
        cost = _median([_timed(lambda t=text: printable(t)) for _ in range(args.repeat)])  # type: ignore[misc]
        escaped = len(printable(text)) - len(text)
        print(
            f"printable {name}: {cost * 1e3:.1f} ms per {args.chars:,} chars "
            f"({escaped:,} characters of escapes added), ratio {cost / base:.2f} x translate"
        )


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
