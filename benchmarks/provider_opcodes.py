"""Python work per model call of the OpenAI provider, counted rather than timed.

On a shared machine the wall time of one call (about a hundred microseconds of CPU)
moves by more than any small change to the provider's hot path, so this counts what the
call executes instead: every Python bytecode instruction run in this thread during
`OpenAIModel.generate` (provider, transport, wire translation, the SDK's helpers, asyncio),
with `sys.settrace` opcode events, against a real `ChatServer` on 127.0.0.1 (in its own
thread, not counted). The count is the same from run to run; the time the tracing takes
is not a figure.

Printed: instructions per successful call (after warm-up calls, so the connection is
kept alive and reused), by palaestra module and in all; and per call whose first send
is dropped by the server on the reused connection and re-sent by the transport (the
slow path that records the re-send as an attempt).

    .venv/bin/python benchmarks/provider_opcodes.py
    .venv/bin/python benchmarks/provider_opcodes.py --calls 50
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

from palaestra.core import Message
from palaestra.models import ModelRequest, OpenAIModel
from palaestra.testing import ChatServer


class _Counter:
    """Bytecode instructions executed in this thread, by source file."""

    def __init__(self) -> None:
        self.by_file: Counter[str] = Counter()

    def _trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        frame.f_trace_opcodes = True
        if event == "opcode":
            name = frame.f_code.co_filename
            self.by_file[name.split("/src/", 1)[1] if "/src/palaestra/" in name else "other"] += 1
        return self._trace

    async def run(self, calls: int, call: Callable[[], Awaitable[object]]) -> None:
        sys.settrace(self._trace)
        try:
            for _ in range(calls):
                await call()
        finally:
            sys.settrace(None)


async def _measure(calls: int) -> tuple[Counter[str], Counter[str]]:
    with ChatServer(reply="hello") as server:
        model = OpenAIModel("bench", base_url=server.base_url, backoff_base_s=0.01)
        request = ModelRequest(messages=[Message(role="user", content="hi")], seed=1)
        try:
            for _ in range(5):  # warm: the connection pooled, the request head encoded
                await model.generate(request)
            plain = _Counter()
            await plain.run(calls, lambda: model.generate(request))

            async def resent_call() -> object:
                server.push(drop=True)
                reply = await model.generate(request)
                assert reply.failed_attempts and reply.failed_attempts[0].resent
                return reply

            resent = _Counter()
            await resent.run(calls, resent_call)
        finally:
            await model.aclose()
    return plain.by_file, resent.by_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20, help="calls counted of each kind")
    args = parser.parse_args()
    plain, resent = asyncio.run(_measure(args.calls))
    n = args.calls
    print(f"Python instructions per successful call, mean of {n} calls:")
    for name, count in sorted(plain.items()):
        if name != "other":
            print(f"  {count / n:8.1f}  {name}")
    ours = sum(c for k, c in plain.items() if k != "other")
    print(f"  {ours / n:8.1f}  palaestra in all")
    print(f"  {sum(plain.values()) / n:8.1f}  all Python code (SDK helpers, asyncio included)")
    print(
        f"per call whose first send is dropped on the reused connection and re-sent: "
        f"{sum(resent.values()) / n:.1f} in all"
    )


if __name__ == "__main__":
    main()
