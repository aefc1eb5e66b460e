"""Tools from Model Context Protocol servers, through the official `mcp` SDK.

`MCPToolset` opens one session per `MCPServer` (a stdio subprocess or a streamable-HTTP
endpoint), lists the server's tools, and offers each as a palaestra `Tool` whose schema
is the server's `inputSchema` and whose call is `session.call_tool`. An operator runs
them like any other tool, so the LLM operator's tool loop records each `tool_call` /
`tool_result` pair.

Where the sessions live: on a private event loop in a daemon thread. The SDK's
transports are anyio task groups that the task which entered them must leave; a session
opened once per run outlives every episode's task; and the runtime builds operators
synchronously before any episode, so it can connect there (and fail before the first
episode) only on a loop that is not its own. A call crosses threads with
`run_coroutine_threadsafe`, a few tens of microseconds next to a JSON-RPC round trip.

Errors, by who must act (CONVENTIONS.md):
- the user: a server that cannot be started, initialised or listed within
  `connect_timeout_s`, or an allow/deny list naming tools it does not offer, raises
  `UserError` naming the server, its command or URL, and the cause.
- the model: an error result from the server (`isError`), a protocol error, a call that
  times out, a server that stops mid-call or is down: each comes back as a `ToolOutcome`
  with `is_error=True` and words the model can act on; never an exception.
A server whose connection is lost (a crashed process, a dropped HTTP session) is
restarted on the next call, at most `max_restarts` times per run; after that, or while a
restart fails, every call of its tools says it is down.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from palaestra.core import ConfigError, UserError
from palaestra.tools._mcp_config import MCPServer
from palaestra.tools._mcp_session import (
    Connection,
    StartError,
    field_of,
    invalid_json_outcome,
)
from palaestra.tools._tool import Tool, ToolOutcome

logger = logging.getLogger("palaestra.tools.mcp")

_CLOSE_TIMEOUT_S = 30.0


class MCPTool(Tool):
    """A tool offered by an MCP server: `name` (with the server's `prefix`), the server's
    description and input schema; a call goes to the server's session."""

    def __init__(
        self,
        toolset: MCPToolset,
        connection: Connection,
        *,
        remote_name: str,
        description: str,
        parameters: dict[str, Any],
    ):
        # Not Tool.__init__: the schema comes from the server, not from type hints.
        self.name = connection.server.prefix + remote_name
        self.description = description
        self.parameters = parameters
        self.server = connection.server.name
        """Name of the server (`MCPServer.name`)."""
        self.remote_name = remote_name
        """The tool's name on the server."""
        self._toolset = toolset
        self._connection = connection

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutcome:
        """Call the tool on its server; every failure becomes an error for the model."""
        if "__raw__" in arguments:
            return invalid_json_outcome(self.name, arguments["__raw__"], self.parameters)
        return await self._toolset._call(self._connection, self.remote_name, self.name, arguments)

    def __repr__(self) -> str:
        return f"MCPTool({self.name!r}, server={self.server!r})"


class MCPToolset:
    """Sessions with MCP servers, and their tools as palaestra `Tool`s.

    Connect with `connect(server)` (blocking; from any thread but none of this toolset's)
    or `await aconnect(server)`; both return that server's tools (the same objects for an
    equal configuration, which is connected once). Close with `close()` / `aclose()`;
    as a context manager (sync or async) it connects the servers given to the constructor
    and closes on exit::

        async with MCPToolset([MCPServer(name="calc", command="python",
                                         args=["-m", "palaestra.testing.mcp_server"])]) as mcp:
            operator = LLMOperator(model, tools=mcp.tools)
    """

    def __init__(self, servers: Sequence[MCPServer | Mapping[str, Any]] = ()):
        self.servers = [_as_server(s) for s in servers]
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connections: dict[str, Connection] = {}
        self._tools: dict[str, list[Tool]] = {}
        self._closed = False
        self._connecting: asyncio.Lock | None = None  # created on the loop

    @property
    def tools(self) -> list[Tool]:
        """Every tool of every connected server, in connection order."""
        return [t for tools in self._tools.values() for t in tools]

    def connect(self, servers: MCPServer | Sequence[MCPServer] | None = None) -> list[Tool]:
        """Connect (concurrently) and return the servers' tools, in order; default: the
        servers given to the constructor. Raises `UserError` if one cannot be used."""
        loop = self._ensure_loop()
        if threading.current_thread() is self._thread:
            raise RuntimeError("MCPToolset.connect() called from its own loop; use aconnect()")
        return asyncio.run_coroutine_threadsafe(self._connect(self._list(servers)), loop).result()

    async def aconnect(self, servers: MCPServer | Sequence[MCPServer] | None = None) -> list[Tool]:
        """`connect` for async callers."""
        loop = self._ensure_loop()
        future = asyncio.run_coroutine_threadsafe(self._connect(self._list(servers)), loop)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Close every session (stdio servers are stopped) and the toolset's loop."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._close_all(), loop)
        try:
            future.result(timeout=_CLOSE_TIMEOUT_S)
        except Exception:
            logger.warning("closing MCP sessions failed", exc_info=True)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=_CLOSE_TIMEOUT_S)

    async def aclose(self) -> None:
        """`close` for async callers (the blocking part runs in a worker thread)."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> MCPToolset:
        try:
            self.connect()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> MCPToolset:
        try:
            await self.aconnect()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        names = ", ".join(c.server.name for c in self._connections.values())
        return f"MCPToolset([{names}])"

    # -- internals ---------------------------------------------------------------------

    def _list(self, servers: MCPServer | Sequence[MCPServer] | None) -> list[MCPServer]:
        if servers is None:
            return list(self.servers)
        if isinstance(servers, MCPServer | Mapping):
            return [_as_server(servers)]
        return [_as_server(s) for s in servers]

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise UserError("this MCPToolset is closed; create a new one")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=_run_loop, args=(loop,), name="palaestra-mcp", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def _connect(self, servers: list[MCPServer]) -> list[Tool]:
        """On the toolset's loop: start what is new (concurrently), then the tools."""
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            return await self._connect_locked(servers)

    async def _connect_locked(self, servers: list[MCPServer]) -> list[Tool]:
        fresh: dict[str, MCPServer] = {}
        for server in servers:
            key = server.key()
            if key not in self._connections and key not in fresh:
                fresh[key] = server
        if fresh:
            started = list(fresh.items())
            connections = [Connection(server) for _, server in started]
            results = await asyncio.gather(
                *(c.start() for c in connections), return_exceptions=True
            )
            failure: BaseException | None = None
            for (key, _server), connection, result in zip(
                started, connections, results, strict=True
            ):
                if isinstance(result, BaseException):
                    failure = failure or result
                    await connection.close()
                    continue
                try:
                    tools = self._make_tools(connection, result)
                except UserError as exc:
                    failure = failure or exc
                    await connection.close()
                    continue
                self._connections[key] = connection
                self._tools[key] = tools
            if failure is not None:
                if isinstance(failure, StartError):
                    raise UserError(str(failure)) from None
                raise failure
        return [t for server in servers for t in self._tools[server.key()]]

    def _make_tools(self, connection: Connection, listed: list[Any]) -> list[Tool]:
        server = connection.server
        offered = [str(t.name) for t in listed]
        for field, names in (("allow", server.allow or []), ("deny", server.deny)):
            unknown = [n for n in names if n not in offered]
            if unknown:
                raise UserError(
                    f"MCP server {server.name!r} ({server.where}): `{field}` names tools it "
                    f"does not offer: {', '.join(unknown)}; it offers: "
                    f"{', '.join(offered) or '(none)'}"
                )
        tools: list[Tool] = []
        for item in listed:
            name = str(item.name)
            if (server.allow is not None and name not in server.allow) or name in server.deny:
                continue
            schema = field_of(item, "input_schema", "inputSchema") or {"type": "object"}
            tools.append(
                MCPTool(
                    self,
                    connection,
                    remote_name=name,
                    description=str(getattr(item, "description", None) or ""),
                    parameters=dict(schema),
                )
            )
        return tools

    async def _call(
        self, connection: Connection, remote: str, name: str, arguments: Mapping[str, Any]
    ) -> ToolOutcome:
        closed = ToolOutcome(
            f"Error: tool '{name}' is unavailable: the connection to MCP server "
            f"'{connection.server.name}' is closed.",
            is_error=True,
        )
        loop = self._loop
        if self._closed or loop is None:
            return closed
        call = connection.call(remote, name, dict(arguments))
        try:
            future = asyncio.run_coroutine_threadsafe(call, loop)
        except RuntimeError:  # the loop closed in the meantime
            call.close()
            return closed
        return await asyncio.wrap_future(future)

    async def _close_all(self) -> None:
        connections = list(self._connections.values())
        await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def _as_server(value: MCPServer | Mapping[str, Any]) -> MCPServer:
    if isinstance(value, MCPServer):
        return value
    try:
        return MCPServer.model_validate(dict(value))
    except ValidationError as exc:
        problems = "; ".join(err["msg"] for err in exc.errors())
        raise ConfigError(f"invalid MCP server {dict(value)!r}: {problems}") from None
