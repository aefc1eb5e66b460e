"""`PooledTransport`: a lean HTTP/1.1 transport for the `openai` SDK's httpx2 client.

Why: httpx2's default pool (httpcore2) walks every connection it holds for every request,
polling each idle socket, so with 1,000 requests in flight each call costs milliseconds
of CPU. Here the idle keep-alive connections to each (scheme, host, port) are a stack:
taking one (the most recently used, LIFO) and putting it back are O(1). A semaphore
bounds the requests in flight, and so the connections open to one server, to
`max_connections`; a request waits for a free slot with no time limit (a queued request
has not failed).

What it speaks: HTTP/1.1 on asyncio streams, TLS for https (httpx2's default certificate
trust); response bodies by Content-Length, chunked, or up to the close; `Connection:
close` from either side ends the connection after the response. Content-Encoding is
left to httpx2's `Response`, which decodes it. Not spoken: HTTP/2, proxies (httpx2 mounts
its own transport for proxies set in the environment), `Expect: 100-continue`, upgrades.

A pooled connection that the server closed while it sat idle is found out on reuse: it
is dropped if its EOF has already arrived, and if the server hangs up before answering a
single byte the request is sent again, once, on a fresh connection. Errors are httpx2's,
so that the SDK raises its own: `ConnectTimeout` / `ReadTimeout` / `WriteTimeout` (the
SDK's `APITimeoutError`), `ConnectError` / `ReadError` / `WriteError` /
`RemoteProtocolError` (its `APIConnectionError`).
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httpx2

_Key = tuple[bytes, bytes, int]
"""Where a connection goes: (scheme, host, port)."""

_READ_SIZE = 65_536
_HEAD_LIMIT = 1 << 20
"""Longest response head (status line and headers) read, in bytes."""


class _Connection:
    """One open connection and when it was last put back idle."""

    __slots__ = ("key", "reader", "writer", "idle_since", "loop")

    def __init__(self, key: _Key, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.key = key
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0
        self.loop = asyncio.get_running_loop()

    def close(self) -> None:
        try:
            self.writer.close()
        except RuntimeError:  # its event loop is already closed: nothing left to do
            pass


class _NothingReceived(Exception):
    """The server closed the connection before sending one byte of the response."""


class PooledTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport: HTTP/1.1 over a LIFO pool of keep-alive connections.

    `max_connections` bounds the requests in flight; `keepalive_expiry_s` is how long an
    idle connection is kept for reuse; `ssl_context` verifies https servers (default:
    httpx2's, i.e. what the SDK's own client trusts).
    """

    def __init__(
        self,
        *,
        max_connections: int = 64,
        keepalive_expiry_s: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, got {max_connections}")
        self.max_connections = max_connections
        self.keepalive_expiry_s = keepalive_expiry_s
        self._ssl_context = ssl_context
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[_Key, deque[_Connection]] = {}
        self._closed = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in (b"http", b"https"):
            raise httpx2.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        key = (scheme, url.raw_host, url.port or (443 if scheme == b"https" else 80))
        timeout: dict[str, float | None] = request.extensions.get("timeout") or {}
        await self._slots.acquire()
        try:
            conn = self._take_idle(key)
            try:
                return await self._exchange(conn or await self._connect(key, timeout), request)
            except _NothingReceived:
                if conn is None or _buffered(request) is None:
                    raise httpx2.RemoteProtocolError(
                        "server disconnected without sending a response", request=request
                    ) from None
            # The pooled connection had been closed by the server: once more on a new one.
            try:
                return await self._exchange(await self._connect(key, timeout), request)
            except _NothingReceived:
                raise httpx2.RemoteProtocolError(
                    "server disconnected without sending a response", request=request
                ) from None
        except BaseException:
            self._slots.release()
            raise

    async def aclose(self) -> None:
        """Close the idle connections; those in use close when their response ends."""
        self._closed = True
        for stack in self._idle.values():
            while stack:
                stack.pop().close()
        self._idle.clear()

    # -- the pool ---------------------------------------------------------------------------

    def _take_idle(self, key: _Key) -> _Connection | None:
        stack = self._idle.get(key)
        if not stack:
            return None
        loop = asyncio.get_running_loop()
        oldest = time.monotonic() - self.keepalive_expiry_s
        while stack:
            conn = stack.pop()
            if conn.loop is loop and conn.idle_since >= oldest and not conn.reader.at_eof():
                return conn
            conn.close()  # expired, closed by the server, or from an earlier event loop
        return None

    def _release(self, conn: _Connection, reuse: bool) -> None:
        """End a request's use of `conn`: back on its stack, or closed; free the slot."""
        self._slots.release()
        if not reuse or self._closed:
            conn.close()
            return
        now = time.monotonic()
        conn.idle_since = now
        stack = self._idle.get(conn.key)
        if stack is None:
            stack = self._idle[conn.key] = deque()
        stack.append(conn)
        oldest = now - self.keepalive_expiry_s
        while stack[0].idle_since < oldest:  # the least recently used, expired
            stack.popleft().close()

    async def _connect(self, key: _Key, timeout: dict[str, float | None]) -> _Connection:
        scheme, raw_host, port = key
        host = raw_host.decode("ascii")
        tls: dict[str, Any] = {}
        if scheme == b"https":
            if self._ssl_context is None:
                self._ssl_context = httpx2.create_ssl_context()
            tls = {"ssl": self._ssl_context, "server_hostname": host}
        try:
            async with asyncio.timeout(timeout.get("connect")):
                reader, writer = await asyncio.open_connection(host, port, limit=_HEAD_LIMIT, **tls)
        except TimeoutError as exc:
            raise httpx2.ConnectTimeout(f"no connection to {host}:{port} in time") from exc
        except OSError as exc:  # ssl.SSLError included
            raise httpx2.ConnectError(f"cannot connect to {host}:{port}: {exc}") from exc
        return _Connection(key, reader, writer)

    # -- one request, one response ------------------------------------------------------------

    async def _exchange(self, conn: _Connection, request: httpx2.Request) -> httpx2.Response:
        """Send `request` on `conn` and read the response head; `conn` is closed on error."""
        timeout: dict[str, float | None] = request.extensions.get("timeout") or {}
        try:
            await self._send(conn.writer, request, timeout.get("write"))
            status, reason, headers, keep_alive = await _read_head(conn.reader, timeout.get("read"))
        except BaseException as exc:
            conn.close()
            if isinstance(exc, _NothingReceived | httpx2.TransportError):
                raise
            if isinstance(exc, Exception):
                raise _read_error(exc, request) from exc
            raise
        fields = {name.lower(): value for name, value in headers}
        chunked = b"chunked" in fields.get(b"transfer-encoding", b"").lower()
        length: int | None = None
        if request.method == "HEAD" or status in (204, 304):
            length, chunked = 0, False
        elif not chunked and b"content-length" in fields:
            try:
                length = int(fields[b"content-length"])
            except ValueError:
                conn.close()
                raise httpx2.RemoteProtocolError("bad Content-Length", request=request) from None
        elif not chunked:
            keep_alive = False  # the body ends when the server closes the connection
        if b"close" in request.headers.get("connection", "").lower().encode():
            keep_alive = False
        body = _Body(self, conn, request, timeout.get("read"), length, chunked, keep_alive)
        extensions = {"http_version": b"HTTP/1.1", "reason_phrase": reason}
        return httpx2.Response(status, headers=headers, stream=body, extensions=extensions)

    async def _send(self, writer: asyncio.StreamWriter, request: httpx2.Request, t: Any) -> None:
        url = request.url
        head = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), url.raw_path)]
        head += [name + b": " + value for name, value in request.headers.raw]
        data = b"\r\n".join(head) + b"\r\n\r\n"
        try:
            async with asyncio.timeout(t):
                body = _buffered(request)
                if body is not None:  # the usual case: one write
                    writer.write(data + body)
                else:
                    writer.write(data)
                    chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
                    async for part in request.stream:  # type: ignore[union-attr]
                        if chunked and part:
                            part = b"%X\r\n%s\r\n" % (len(part), part)
                        writer.write(part)
                        await writer.drain()
                    if chunked:
                        writer.write(b"0\r\n\r\n")
                await writer.drain()
        except TimeoutError as exc:
            raise httpx2.WriteTimeout("request not sent in time", request=request) from exc
        except OSError as exc:  # the server had closed the connection: nothing came back
            raise _NothingReceived() from exc


class _Body(httpx2.AsyncByteStream):
    """A response body read from its connection; the connection goes back to the pool
    (or is closed) when the body has been read to its end, or closed early."""

    def __init__(
        self,
        transport: PooledTransport,
        conn: _Connection,
        request: httpx2.Request,
        read_timeout: float | None,
        length: int | None,
        chunked: bool,
        keep_alive: bool,
    ) -> None:
        self._transport = transport
        self._conn: _Connection | None = conn
        self._request = request
        self._timeout = read_timeout
        self._length = length
        self._chunked = chunked
        self._keep_alive = keep_alive
        if length == 0:
            self._finish(keep_alive)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        reader, timeout = conn.reader, self._timeout
        try:
            if self._chunked:
                while True:
                    async with asyncio.timeout(timeout):
                        line = await reader.readuntil(b"\r\n")
                        size = int(line.split(b";", 1)[0], 16)
                        if size == 0:
                            while await reader.readuntil(b"\r\n") != b"\r\n":
                                pass  # trailers, ignored
                            break
                        data = await reader.readexactly(size + 2)
                    yield data[:-2]
            elif self._length is not None:
                remaining = self._length
                while remaining:
                    async with asyncio.timeout(timeout):
                        data = await reader.readexactly(min(remaining, _READ_SIZE))
                    remaining -= len(data)
                    yield data
            else:
                while True:
                    async with asyncio.timeout(timeout):
                        data = await reader.read(_READ_SIZE)
                    if not data:
                        break
                    yield data
        except Exception as exc:
            self._finish(False)
            raise _read_error(exc, self._request) from exc
        except BaseException:
            self._finish(False)
            raise
        self._finish(self._keep_alive)

    async def aclose(self) -> None:
        self._finish(False)  # not read to the end: the connection's state is unknown

    def _finish(self, reuse: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._transport._release(conn, reuse)


async def _read_head(
    reader: asyncio.StreamReader, timeout: float | None
) -> tuple[int, bytes, list[tuple[bytes, bytes]], bool]:
    """Status, reason, headers and whether the connection may be kept alive (skipping
    interim 1xx responses); `_NothingReceived` if the server closed without a byte."""
    while True:
        try:
            async with asyncio.timeout(timeout):
                raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise _NothingReceived() from exc
            raise
        except ConnectionError as exc:  # reset before a byte came: the same
            raise _NothingReceived() from exc
        lines = raw[:-4].split(b"\r\n")
        version, _, rest = lines[0].partition(b" ")
        code, _, reason = rest.partition(b" ")
        if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit():
            raise httpx2.RemoteProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
        headers = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise httpx2.RemoteProtocolError(f"bad response header line {line[:80]!r}")
            headers.append((name.strip(), value.strip()))
        status = int(code)
        if 100 <= status < 200 and status != 101:
            continue  # e.g. 100 Continue: the real response follows
        tokens = b",".join(v for n, v in headers if n.lower() == b"connection").lower()
        keep_alive = b"close" not in tokens and (version == b"HTTP/1.1" or b"keep-alive" in tokens)
        return status, reason, headers, keep_alive


def _buffered(request: httpx2.Request) -> bytes | None:
    """The request's body if it is in memory (so it can be sent again), else None."""
    try:
        return request.content
    except httpx2.RequestNotRead:
        return None


def _read_error(exc: Exception, request: httpx2.Request) -> httpx2.TransportError:
    """An error while reading a response, as the httpx2 exception the SDK expects."""
    if isinstance(exc, httpx2.TransportError):
        return exc
    if isinstance(exc, TimeoutError):
        return httpx2.ReadTimeout("no response bytes in time", request=request)
    if isinstance(exc, asyncio.IncompleteReadError):
        message = "server closed the connection in the middle of the response"
        return httpx2.RemoteProtocolError(message, request=request)
    if isinstance(exc, asyncio.LimitOverrunError | ValueError):
        return httpx2.RemoteProtocolError(f"malformed response: {exc}", request=request)
    return httpx2.ReadError(f"{type(exc).__name__}: {exc}", request=request)
