"""A small Model Context Protocol server for examples and tests: a calculator and notes.

    python -m palaestra.testing.mcp_server                         # stdio
    python -m palaestra.testing.mcp_server --http --port 8765      # streamable HTTP at /mcp

Tools: `add`, `subtract`, `multiply`, `divide`, `remainder` (whole numbers stay whole;
dividing by zero is an error result), and `note_write` / `note_read`, which keep text in
the server's memory (so a restarted server has forgotten them). Written with the
official SDK's server API (`mcp.server.mcpserver.MCPServer`); declare it in an
experiment as::

    operator: {kind: llm, model: m, mcp: [{name: calc, command: python,
                                           args: [-m, palaestra.testing.mcp_server]}]}
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def build_server() -> Any:
    """The server object (an SDK `MCPServer`) with the calculator and notes tools."""
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("palaestra-calc", log_level="WARNING")
    notes: dict[str, str] = {}

    @server.tool()
    def add(a: float, b: float) -> int | float:
        """Return a + b."""
        return _number(a + b)

    @server.tool()
    def subtract(a: float, b: float) -> int | float:
        """Return a - b."""
        return _number(a - b)

    @server.tool()
    def multiply(a: float, b: float) -> int | float:
        """Return a * b."""
        return _number(a * b)

    @server.tool()
    def divide(a: float, b: float) -> int | float:
        """Return a / b (b must not be 0)."""
        if b == 0:
            raise ToolError("division by zero: b must not be 0")
        return _number(a / b)

    @server.tool()
    def remainder(a: int, b: int) -> int:
        """Return a mod b, from 0 to b-1 (b must be positive)."""
        if b <= 0:
            raise ToolError(f"b must be a positive whole number, got {b}")
        return a % b

    @server.tool()
    def note_write(key: str, text: str) -> str:
        """Keep `text` under `key` in the server's memory."""
        notes[key] = text
        return f"saved {key!r} ({len(notes)} note(s) kept)"

    @server.tool()
    def note_read(key: str) -> str:
        """Return the text kept under `key`."""
        if key not in notes:
            known = ", ".join(sorted(notes)) or "none"
            raise ToolError(f"no note {key!r}; kept notes: {known}")
        return notes[key]

    return server


def main(argv: list[str] | None = None) -> int:
    """Serve over stdio (default) or streamable HTTP until stopped."""
    parser = argparse.ArgumentParser(
        prog="python -m palaestra.testing.mcp_server",
        description="A small MCP server (calculator and notes) for examples and tests.",
    )
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP at /mcp")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="HTTP port (default 8765)")
    args = parser.parse_args(argv)
    server = build_server()
    try:
        if args.http:
            server.run("streamable-http", host=args.host, port=args.port)
        else:
            server.run("stdio")
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
