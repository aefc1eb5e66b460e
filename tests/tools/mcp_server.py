"""An MCP server for the tests, written with the SDK's server API, run as a real process:

    python tests/tools/mcp_server.py              # stdio
    python tests/tools/mcp_server.py --http PORT  # streamable HTTP at 127.0.0.1:PORT/mcp

Tools with behaviour a test can observe: `add` (a result), `fail` (an error result),
`pid` (which process answered: a restart changes it), `crash` (the process exits in the
middle of the call), `sleep` (a call that hangs until it is timed out).
With `MCP_TEST_FAIL_START=1` in its environment it exits before serving (a server that
cannot start), after writing a line to stderr; with `MCP_TEST_ONCE=PATH`, `crash` creates
PATH and a server that finds PATH exits the same way (a server that cannot be restarted).
"""

from __future__ import annotations

import argparse
import os
import sys

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("palaestra-test", log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def fail(reason: str) -> str:
    """Always answers with an error result."""
    raise ToolError(f"refused: {reason}")


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.tool()
def crash() -> str:
    """Ends the server process in the middle of the call."""
    marker = os.environ.get("MCP_TEST_ONCE")
    if marker:
        open(marker, "w").close()
    os._exit(3)


@server.tool()
async def sleep(seconds: float) -> str:
    """Answers after `seconds`."""
    await anyio.sleep(seconds)
    return f"slept {seconds}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=None, metavar="PORT")
    args = parser.parse_args()
    marker = os.environ.get("MCP_TEST_ONCE")
    if os.environ.get("MCP_TEST_FAIL_START") or (marker and os.path.exists(marker)):
        print("mcp test server: refusing to start (MCP_TEST_FAIL_START)", file=sys.stderr)
        sys.exit(7)
    if args.http is not None:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run("stdio")


if __name__ == "__main__":
    main()
