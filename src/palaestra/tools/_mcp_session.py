"""One MCP server's session: started, called, restarted and closed on the toolset's loop.

A `Connection` runs entirely on the `MCPToolset` loop. Its *owner* task enters the SDK's
transport (stdio subprocess or streamable HTTP) and `ClientSession`, initialises, lists
the tools, then waits until it is told to stop: anyio requires that the task which
entered the transport's task group leaves it. Calls are other tasks on the same loop
that share the session (MCP multiplexes requests by id).

A lost connection is noticed by a call that fails with it (`Connection closed`, a
broken stream, a transport error) or by the owner task ending on its own. The
connection is then *down*; the next call restarts it (under a lock, so concurrent calls
restart once) unless `max_restarts` restarts were already spent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import tempfile
from collections.abc import AsyncIterator
from typing import Any, TextIO

from palaestra.tools._mcp_config import MCPServer
from palaestra.tools._tool import ToolOutcome

logger = logging.getLogger("palaestra.tools.mcp")

_CONNECTION_CLOSED = -32000  # JSON-RPC code the SDK uses for a connection that ended
_STOP_TIMEOUT_S = 15.0  # the SDK bounds a stdio shutdown at ~6 s (stdin close, TERM, KILL)
_STDERR_TAIL = 1500


class StartError(Exception):
    """A server could not be started, initialised or listed: the message names the
    server and says why; `reason` is the why alone."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def invalid_json_outcome(name: str, raw: Any, parameters: dict[str, Any]) -> ToolOutcome:
    """What the model reads when its arguments were not JSON (as for local tools)."""
    return ToolOutcome(
        f"Error: the arguments for tool '{name}' were not valid JSON "
        f"({str(raw)[:200]!r}). Call it again with a JSON object matching its "
        f"parameters: {json.dumps(parameters)}",
        is_error=True,
    )


class Connection:
    """The session with one server (all methods run on the toolset's loop)."""

    def __init__(self, server: MCPServer):
        self.server = server
        self.session: Any = None
        self.generation = 0
        """How many sessions were opened; a failure only downs the one it happened on."""
        self.restarts = 0
        self.down: str | None = None
        """Why the connection is down (None while it is up)."""
        self.closed = False
        self._stop: asyncio.Event | None = None
        self._owner: asyncio.Task[None] | None = None
        self._restart_lock: asyncio.Lock | None = None
        self._stderr: TextIO | None = None

    async def start(self) -> list[Any]:
        """Open a session and list the tools; `StartError` saying why not."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[list[Any]] = loop.create_future()
        stop = self._stop = asyncio.Event()
        self._owner = asyncio.create_task(self._own(ready, stop))
        try:
            async with asyncio.timeout(self.server.connect_timeout_s):
                return await ready
        except TimeoutError:
            reason = f"no answer within connect_timeout_s={self.server.connect_timeout_s:g} s"
        except Exception as exc:
            reason = _describe(exc)
        await self._shutdown(force=True)
        raise StartError(
            f"cannot use MCP server {self.server.name!r} ({self.server.where}): "
            f"{reason}{self._stderr_tail()}",
            reason,
        )

    async def call(self, remote: str, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Call tool `remote` (shown to the model as `name`); never raises for failures
        of the server or the connection."""
        server = self.server.name
        session, generation = await self._usable()
        if session is None:
            return ToolOutcome(
                f"Error: tool '{name}' is unavailable: MCP server '{server}' is down "
                f"({self.down}). Use other tools.",
                is_error=True,
            )
        try:
            async with asyncio.timeout(self.server.timeout_s):
                result = await session.call_tool(remote, arguments)
        except TimeoutError:
            if self._owner_ended(generation):
                return self._stopped(name, generation, "the connection ended")
            return ToolOutcome(
                f"Error: tool '{name}' timed out after {self.server.timeout_s:g} s "
                f"(MCP server '{server}'). Try again with a smaller request, or use "
                "another tool.",
                is_error=True,
            )
        except Exception as exc:
            if _is_connection_loss(exc) or self._owner_ended(generation):
                return self._stopped(name, generation, _describe(exc))
            return ToolOutcome(
                f"Error: tool '{name}' failed: MCP server '{server}' answered with an "
                f"error: {_describe(exc)}",
                is_error=True,
            )
        text = _result_text(result)
        if field_of(result, "is_error", "isError"):
            return ToolOutcome(f"Error from tool '{name}': {text}", is_error=True)
        return ToolOutcome(text)

    async def close(self) -> None:
        """End the session for good (a stdio server is stopped)."""
        self.closed = True
        self.down = self.down or "the toolset was closed"
        await self._shutdown()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    # -- internals ---------------------------------------------------------------------

    async def _own(self, ready: asyncio.Future[list[Any]], stop: asyncio.Event) -> None:
        from mcp import ClientSession

        generation = self.generation + 1
        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport())
                session = await stack.enter_async_context(ClientSession(read, write))
                await session.initialize()
                tools = await _list_tools(session)
                if ready.done():  # start() gave up (timeout) meanwhile
                    return
                self.session, self.generation, self.down = session, generation, None
                ready.set_result(tools)
                await stop.wait()
        except asyncio.CancelledError:
            if not ready.done():
                ready.cancel()
            raise
        except BaseException as exc:  # noqa: BLE001 - the transport's exception groups
            if not ready.done():
                ready.set_exception(_leaf(exc))
            elif not stop.is_set() and self.generation == generation:
                self.down = f"the connection ended: {_describe(exc)}"
                logger.warning("MCP server %r: %s", self.server.name, self.down)
        finally:
            if self.generation == generation:
                self.session = None
                if self.down is None and not stop.is_set():
                    self.down = "the connection ended"

    def _transport(self) -> contextlib.AbstractAsyncContextManager[Any]:
        if self.server.transport == "http":
            return _http_streams(self.server)
        from mcp import StdioServerParameters, stdio_client

        command = self.server.command or ""
        if command in ("python", "python3"):
            command = sys.executable
        if self.server.stderr is not None:
            errlog: TextIO = open(self.server.stderr, "a", encoding="utf-8")  # noqa: SIM115
        else:
            errlog = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
        if self._stderr is not None:
            self._stderr.close()
        self._stderr = errlog
        params = StdioServerParameters(
            command=command,
            args=list(self.server.args),
            env=dict(self.server.env) or None,
            cwd=self.server.cwd,
        )
        return stdio_client(params, errlog=errlog)

    async def _usable(self) -> tuple[Any, int]:
        """The live session (restarting a lost one if allowed), or (None, 0)."""
        if self.session is not None and self.down is None:
            return self.session, self.generation
        if self._restart_lock is None:
            self._restart_lock = asyncio.Lock()
        async with self._restart_lock:
            if self.session is not None and self.down is None:
                return self.session, self.generation
            if self.closed:
                return None, 0
            if self.restarts >= self.server.max_restarts:
                if "max_restarts" not in (self.down or ""):
                    self.down = (
                        f"{self.down}; not restarted again after {self.restarts} restart(s), "
                        f"max_restarts={self.server.max_restarts}"
                    )
                return None, 0
            self.restarts += 1
            logger.warning(
                "MCP server %r is down (%s); restarting it (%d of at most %d)",
                self.server.name,
                self.down,
                self.restarts,
                self.server.max_restarts,
            )
            await self._shutdown()
            try:
                await self.start()
            except StartError as exc:
                self.down = f"a restart failed: {exc.reason}"
                return None, 0
            return self.session, self.generation

    def _stopped(self, name: str, generation: int, detail: str) -> ToolOutcome:
        """Mark the session of `generation` lost; the model's error for the call."""
        if generation == self.generation and self.down is None:
            self.down = f"it stopped: {detail}"
            if self._stop is not None:
                self._stop.set()  # let the owner release the transport (reaps the process)
        if self.restarts < self.server.max_restarts:
            then = "It will be restarted for the next call; anything it kept in memory is lost."
        else:
            then = (
                f"It will not be restarted (max_restarts={self.server.max_restarts}); its "
                "tools are unavailable from now on."
            )
        return ToolOutcome(
            f"Error: tool '{name}' could not finish: MCP server '{self.server.name}' "
            f"stopped during the call ({detail}). {then}",
            is_error=True,
        )

    def _owner_ended(self, generation: int) -> bool:
        owner = self._owner
        return generation == self.generation and (owner is None or owner.done())

    async def _shutdown(self, *, force: bool = False) -> None:
        """Stop the owner task (it leaves the transport, which stops a stdio server);
        `force` cancels it, for a session that never became ready."""
        if self._stop is not None:
            self._stop.set()
        owner, self._owner = self._owner, None
        if owner is None or owner.done():
            return
        if force:
            owner.cancel()
            await asyncio.gather(owner, return_exceptions=True)
            return
        try:
            async with asyncio.timeout(_STOP_TIMEOUT_S):
                await asyncio.shield(owner)
        except TimeoutError:
            owner.cancel()
            await asyncio.gather(owner, return_exceptions=True)
        except BaseException:  # noqa: BLE001 - already reported by the owner
            pass

    def _stderr_tail(self) -> str:
        stream = self._stderr
        if stream is None or self.server.transport != "stdio":
            return ""
        try:
            stream.flush()
            stream.seek(0, 2)
            size = stream.tell()
            stream.seek(max(0, size - _STDERR_TAIL))
            tail = stream.read().strip()
        except (OSError, ValueError):
            return ""
        return f"\n--- its stderr (last lines) ---\n{tail}" if tail else ""


@contextlib.asynccontextmanager
async def _http_streams(server: MCPServer) -> AsyncIterator[Any]:
    from mcp.client.streamable_http import create_mcp_http_client, streamable_http_client

    assert server.url is not None
    async with create_mcp_http_client(headers=dict(server.headers) or None) as http:
        async with streamable_http_client(server.url, http_client=http) as streams:
            yield streams[0], streams[1]


async def _list_tools(session: Any) -> list[Any]:
    """Every tool the server lists, following pagination."""
    from mcp.types import PaginatedRequestParams

    tools: list[Any] = []
    cursor: str | None = None
    for _ in range(1000):
        params = None if cursor is None else PaginatedRequestParams(cursor=cursor)
        page = await session.list_tools(params=params)
        tools.extend(page.tools)
        cursor = field_of(page, "next_cursor", "nextCursor")
        if not cursor:
            break
    return tools


def _result_text(result: Any) -> str:
    """A call result's content as text for the model (non-text parts described)."""
    parts: list[str] = []
    for block in getattr(result, "content", None) or []:
        kind = getattr(block, "type", None)
        if kind == "text":
            parts.append(str(block.text))
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            parts.append(str(text) if text is not None else f"[binary resource {resource.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource {block.uri}]")
        elif kind in ("image", "audio"):
            mime = field_of(block, "mime_type", "mimeType")
            parts.append(f"[{kind} {mime}, {len(block.data)} base64 characters]")
        else:
            parts.append(f"[{kind} content]")
    structured = field_of(result, "structured_content", "structuredContent")
    if not parts and structured is not None:
        return json.dumps(structured, default=str)
    return "\n".join(parts)


def _is_connection_loss(exc: BaseException) -> bool:
    import anyio

    if getattr(exc, "code", None) == _CONNECTION_CLOSED:
        return True
    if isinstance(
        exc,
        anyio.ClosedResourceError | anyio.BrokenResourceError | anyio.EndOfStream | OSError,
    ):
        return True
    return type(exc).__module__.split(".")[0] in ("httpx", "httpx2", "httpcore")


def _leaf(exc: BaseException) -> BaseException:
    """The first real exception inside (nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _describe(exc: BaseException) -> str:
    exc = _leaf(exc)
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def field_of(obj: Any, *names: str) -> Any:
    """The first attribute present (mcp 2 spells fields in snake_case, mcp 1 camelCase)."""
    for name in names:
        value = getattr(obj, name, None)
        if value is not None:
            return value
    return None
