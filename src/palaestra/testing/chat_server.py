"""Run the scriptable chat-completions server in the foreground.

    python -m palaestra.testing.chat_server --port 0 --delay 0.2

The first line printed is the OpenAI base URL (`http://127.0.0.1:PORT/v1`), so a
benchmark that starts this in another process can read it and point clients at it.
Faults can then be scripted over HTTP: `POST /_palaestra/push` with the keyword
arguments of `ChatServer.push` as JSON; counters are at `GET /_palaestra/stats`.
Stops on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from palaestra.testing._chat_server import ChatServer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m palaestra.testing.chat_server",
        description="A scriptable OpenAI-compatible chat-completions server for tests.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each reply")
    parser.add_argument("--reply", default=None, help="fixed reply text (default: echo)")
    parser.add_argument("--model", default="palaestra-test", help="model id to report")
    parser.add_argument(
        "--no-record", action="store_true", help="keep no request bodies (long benchmarks)"
    )
    return parser


async def _serve(server: ChatServer) -> None:
    await server.start_async()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, server.request_stop)
        except NotImplementedError:  # Windows: Ctrl-C still raises KeyboardInterrupt
            pass
    print(server.base_url, flush=True)
    await server.serve_until_stopped()


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, print the base URL, serve until interrupted."""
    args = _parser().parse_args(argv)
    if args.delay < 0:
        print("error: --delay must be >= 0", file=sys.stderr)
        return 2
    server = ChatServer(
        delay_s=args.delay,
        reply=args.reply,
        model=args.model,
        host=args.host,
        port=args.port,
        record=not args.no_record,
    )
    try:
        asyncio.run(_serve(server))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
