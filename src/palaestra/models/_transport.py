"""`PooledTransport`: a lean HTTP/1.1 httpx2 transport under `OpenAIModel`.

Why: httpx2's default pool (httpcore2) walks every connection it holds for every request,
polling each idle socket, so with 1,000 requests in flight a call costs milliseconds of
CPU. Here the idle keep-alive connections to each (scheme, host, port) are a stack:
taking one (the most recently used) and putting it back are O(1). A semaphore bounds the
requests in flight, and so the connections open to one server, to `max_connections`; a
request waits for a free slot with no time limit (a queued request has not failed).

It speaks HTTP/1.1 on asyncio streams, with TLS for https (httpx2's default certificate
trust); response bodies by Content-Length, chunked, or up to the close; `Connection:
close` from either side ends the connection after the response. httpx2's `Response`
decodes any Content-Encoding. Not spoken: HTTP/2, proxies (an httpx2 client given a
transport ignores the proxy environment variables too), `Expect: 100-continue`,
upgrades. One event loop at a time: a new loop starts a new pool.

A pooled connection that the server closed while it sat idle is dropped if its EOF has
already arrived; if the server hangs up before sending one byte of the response, the
request is sent again, once, on a fresh connection (a keep-alive race: the server may
have closed the idle connection as the request left, or read it and dropped it, and the
two cannot be told apart). That re-send is not silent: the result says so, as a
`Resend` (what happened to the first send, and when), in `RawResponse.resent`, in an
httpx2 response's `extensions["palaestra.resent"]`, or on the exception that a failed
re-send raises (`resent_of(exc)` finds it, through the SDK's wrapping too), so that the
provider records the first send as an attempt of its own. Errors are httpx2's, which the SDK
(and `OpenAIModel`, which calls `handle_async_request` itself) turns into its own:
`ConnectTimeout` / `ReadTimeout` / `WriteTimeout` (the SDK's `APITimeoutError`);
`ConnectError` / `ReadError` / `RemoteProtocolError` (its `APIConnectionError`). It works
under an httpx2 client as well as called directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

import httpx2

from palaestra.core import Limiter

_Key = tuple[bytes, bytes, int]
"""Where a connection goes: (scheme, host, port)."""

_READ_SIZE = 65_536
_EAGER_LIMIT = 1 << 20
"""A body of known length up to this size is read with the head: one timer, no stream."""
_HEAD_LIMIT = 1 << 20
"""Longest response head (status line and headers), in bytes."""
_NO_RESPONSE = "server disconnected without sending a response"


class _Connection:
    __slots__ = ("key", "reader", "writer", "idle_since")

    def __init__(self, key: _Key, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.key, self.reader, self.writer = key, reader, writer
        self.idle_since = 0.0

    def close(self) -> None:
        try:
            self.writer.close()
        except RuntimeError:  # its event loop is closed already: just hang up
            with contextlib.suppress(OSError):
                self.writer.get_extra_info("socket").shutdown(socket.SHUT_RDWR)


_TICK_S = 0.1
"""How often `_Timeouts` looks for expired deadlines."""
_COARSE_MIN_S = 1.0
"""Timeouts from this long are checked every `_TICK_S` (late by at most that, under 10%);
shorter ones get a timer of their own."""


class _Timeouts:
    """Timeouts for the requests in flight, checked together.

    `asyncio.timeout` schedules and cancels a timer per use, a CPU cost per request that
    adds up with 1,000 requests in flight (docs/benchmarks.md). Here a long timeout (the
    usual case: a read timeout of a minute) is an entry in a set that one periodic check walks, and
    `after()` behaves as `asyncio.timeout` does: when the time is up, the task is
    cancelled and the block raises `TimeoutError`; a cancellation from elsewhere stays a
    cancellation.
    """

    __slots__ = ("_open", "_check_handle")

    def __init__(self) -> None:
        self._open: set[_Timeout] = set()
        self._check_handle: asyncio.TimerHandle | None = None

    def after(self, seconds: float | None) -> _Timeout:
        """A `with` block that raises `TimeoutError` if not done in `seconds` (None: no
        limit). Use it in one task, inside the event loop that runs this transport."""
        return _Timeout(self, seconds)

    def _watch(self, entry: _Timeout, loop: asyncio.AbstractEventLoop) -> None:
        self._open.add(entry)
        if self._check_handle is None:
            self._check_handle = loop.call_later(_TICK_S, self._check, loop)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        expired = [entry for entry in self._open if entry.deadline <= now]
        for entry in expired:
            self._open.discard(entry)
            entry.expire()
        self._check_handle = loop.call_later(_TICK_S, self._check, loop) if self._open else None


class _Timeout:
    __slots__ = ("_owner", "_seconds", "_task", "_cancelling", "_handle", "deadline", "expired")

    def __init__(self, owner: _Timeouts, seconds: float | None) -> None:
        self._owner, self._seconds = owner, seconds
        self._handle: asyncio.TimerHandle | None = None
        self.expired = False

    def __enter__(self) -> _Timeout:
        if self._seconds is None:
            return self
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a transport timeout must be used inside a task")
        self._task, self._cancelling = task, task.cancelling()
        loop = asyncio.get_running_loop()
        self.deadline = loop.time() + self._seconds
        if self._seconds >= _COARSE_MIN_S:
            self._owner._watch(self, loop)
        else:
            self._handle = loop.call_at(self.deadline, self.expire)
        return self

    def expire(self) -> None:
        self.expired = True
        self._task.cancel()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if self._seconds is None:
            return
        if self._handle is not None:
            self._handle.cancel()
        else:
            self._owner._open.discard(self)
        # as asyncio.timeout: the cancellation we asked for becomes a TimeoutError, one
        # requested by someone else stays what it is
        if (
            self.expired
            and self._task.uncancel() <= self._cancelling
            and exc_type is asyncio.CancelledError
        ):
            raise TimeoutError from exc


class _NothingReceived(Exception):
    """The server closed the connection before sending one byte of the response."""


RESENT_EXTENSION = "palaestra.resent"
"""Key of the `Resend` in an httpx2 response's `extensions`, where the transport had to
send the request a second time."""
_RESENT_ATTR = "palaestra_resent"
"""The attribute that holds the `Resend` on an exception raised after a re-send."""
_now = time.monotonic


class Resend(NamedTuple):
    """A request that went out on a reused keep-alive connection, got no byte of reply,
    and was sent again at once on a new connection: the first send, as an attempt."""

    error: str
    """What happened to the first send."""
    failed_at: float
    """`time.monotonic()` when it failed (so its latency is `failed_at - start`, and the
    re-send's own starts there)."""


def note_resend(exc: BaseException, resent: Resend | None) -> None:
    """Let `exc` carry `resent` (where there was a re-send) for `resent_of` to find: for
    an error raised after the transport returned (e.g. a reply that is not JSON)."""
    if resent is not None:
        setattr(exc, _RESENT_ATTR, resent)


def resent_of(value: object) -> Resend | None:
    """The `Resend` behind a result or an error of this transport, if there was one: on
    a `RawResponse`, an httpx2 response (or the response of an SDK status error), or an
    exception, followed through `__cause__` (the SDK raises its own errors from ours)."""
    if isinstance(value, RawResponse):
        return value.resent
    seen = 0
    while value is not None and seen < 8:
        found = getattr(value, _RESENT_ATTR, None)
        if isinstance(found, Resend):
            return found
        response = getattr(value, "response", None)
        extensions = getattr(response, "extensions", None)
        if isinstance(extensions, dict) and isinstance(extensions.get(RESENT_EXTENSION), Resend):
            return extensions[RESENT_EXTENSION]
        if isinstance(value, httpx2.Response):
            found = value.extensions.get(RESENT_EXTENSION)
            return found if isinstance(found, Resend) else None
        value = getattr(value, "__cause__", None)
        seen += 1
    return None


class PooledTransport(httpx2.AsyncBaseTransport):
    """An httpx2 transport: HTTP/1.1 over a LIFO pool of keep-alive connections.

    `max_connections` bounds the requests in flight; `keepalive_expiry_s` is how long an
    idle connection is kept for reuse; `ssl_context` verifies https servers (default:
    httpx2's, what the SDK's own client trusts).
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
        self._slots = Limiter(max_connections)
        self._read_timeouts = _Timeouts()
        self._idle: dict[_Key, deque[_Connection]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in (b"http", b"https"):
            raise httpx2.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        key = (scheme, url.raw_host, url.port or (443 if scheme == b"https" else 80))
        timeout: dict[str, float | None] = request.extensions.get("timeout") or {}
        data, close = _encode(request, await request.aread())
        sent = await self._send(key, data, close, timeout, request.method, request, whole=False)
        assert isinstance(sent, httpx2.Response)
        return sent

    async def send_bytes(
        self,
        key: _Key,
        data: bytes,
        timeout: dict[str, float | None],
        *,
        method: str = "POST",
        close: bool = False,
    ) -> RawResponse:
        """Send a request already encoded as HTTP/1.1 bytes (`data`: head and body) to
        `key` = (scheme, host, port) and read the whole response, without building httpx2
        request or response objects: the provider's hot path. `close` says the head asks
        `Connection: close`. Errors are the same httpx2 exceptions as
        `handle_async_request`'s (with no `request` attached); the body is as received
        (any Content-Encoding is left to the caller)."""
        if key[0] not in (b"http", b"https"):
            raise httpx2.UnsupportedProtocol(f"unsupported URL scheme {key[0]!r}")
        sent = await self._send(key, data, close, timeout, method, None, whole=True)
        assert isinstance(sent, RawResponse)
        return sent

    async def _send(
        self,
        key: _Key,
        data: bytes,
        close: bool,
        timeout: dict[str, float | None],
        method: str,
        request: httpx2.Request | None,
        *,
        whole: bool,
    ) -> httpx2.Response | RawResponse:
        """One request on a pooled (or new) connection, under the in-flight limit."""
        if asyncio.get_running_loop() is not self._loop:
            self._new_pool()
        await self._slots.acquire()
        try:
            conn = self._take_idle(key)
            if conn is not None:  # reused: a send that gets nothing back is sent again
                try:
                    return await self._exchange(
                        conn, method, request, data, close, timeout, whole=whole
                    )
                except _NothingReceived as exc:
                    resent = Resend(f"{exc} on a reused keep-alive connection", _now())
                return await self._resend(key, data, close, timeout, method, request, resent, whole)
            conn = await self._connect(key, timeout)
            try:
                return await self._exchange(
                    conn, method, request, data, close, timeout, whole=whole
                )
            except _NothingReceived:
                raise httpx2.RemoteProtocolError(_NO_RESPONSE, request=request) from None
        except BaseException:
            self._slots.release()
            raise

    async def _resend(
        self,
        key: _Key,
        data: bytes,
        close: bool,
        timeout: dict[str, float | None],
        method: str,
        request: httpx2.Request | None,
        resent: Resend,
        whole: bool,
    ) -> httpx2.Response | RawResponse:
        """The request again, once, on a new connection, after its first send on a reused
        one got nothing back: `resent` goes with its response, or with its error."""
        try:
            conn = await self._connect(key, timeout)
            try:
                sent = await self._exchange(
                    conn, method, request, data, close, timeout, whole=whole
                )
            except _NothingReceived:
                raise httpx2.RemoteProtocolError(_NO_RESPONSE, request=request) from None
        except httpx2.TransportError as exc:
            note_resend(exc, resent)
            raise
        if isinstance(sent, RawResponse):
            return sent._replace(resent=resent)
        sent.extensions[RESENT_EXTENSION] = resent
        return sent

    async def aclose(self) -> None:
        """Close the idle connections; those in use close when their response ends."""
        self._closed = True
        self._drop_idle()

    # -- the pool -------------------------------------------------------------------------

    def _new_pool(self) -> None:
        """Start over in the running event loop: idle connections of another are useless."""
        self._loop = asyncio.get_running_loop()
        self._slots = Limiter(self.max_connections)
        self._read_timeouts = _Timeouts()
        self._drop_idle()

    def _drop_idle(self) -> None:
        for stack in self._idle.values():
            while stack:
                stack.pop().close()
        self._idle.clear()

    def _take_idle(self, key: _Key) -> _Connection | None:
        stack = self._idle.get(key)
        oldest = time.monotonic() - self.keepalive_expiry_s
        while stack:
            conn = stack.pop()
            if conn.idle_since >= oldest and not conn.reader.at_eof():
                return conn
            conn.close()  # expired, or closed by the server
        return None

    def _release(self, conn: _Connection, reuse: bool) -> None:
        """End a request's use of `conn`: back on its stack, or closed; free the slot."""
        self._slots.release()
        if not reuse or self._closed:
            conn.close()
            return
        conn.idle_since = now = time.monotonic()
        stack = self._idle.get(conn.key)
        if stack is None:
            stack = self._idle[conn.key] = deque()
        stack.append(conn)
        while stack[0].idle_since < now - self.keepalive_expiry_s:  # least recently used
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

    # -- one request, one response --------------------------------------------------------

    async def _exchange(
        self,
        conn: _Connection,
        method: str,
        request: httpx2.Request | None,
        data: bytes,
        close: bool,
        timeout: dict[str, float | None],
        *,
        whole: bool,
    ) -> httpx2.Response | RawResponse:
        """Send the request on `conn` and read the response head (with a small body of
        known length, so that `conn` is free at once; with `whole`, the whole body, as a
        `RawResponse`); `conn` is closed on any error."""
        reader, writer = conn.reader, conn.writer
        content: bytes | None = None
        try:
            writer.write(data)
            if writer.transport.get_write_buffer_size():  # the socket is full: wait, bounded
                try:
                    async with asyncio.timeout(timeout.get("write")):
                        await writer.drain()
                except TimeoutError as exc:
                    raise httpx2.WriteTimeout("request not sent in time") from exc
                except OSError as exc:  # the server had closed the connection
                    raise _NothingReceived(f"request not sent whole: {_name(exc)}") from exc
            with self._read_timeouts.after(timeout.get("read")):
                status, reason, headers, keep_alive = await _read_head(reader)
                length, chunked, keep_alive = _framing(method, status, headers, keep_alive)
                if length is not None and length <= _EAGER_LIMIT:
                    content = await reader.readexactly(length)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, _NothingReceived | httpx2.TransportError):
                raise
            if isinstance(exc, Exception):
                raise _read_error(exc, request) from exc
            raise
        keep_alive = keep_alive and not close
        if content is not None:
            self._release(conn, keep_alive)
            if whole:
                return RawResponse(status, reason, headers, content)
            stream: httpx2.AsyncByteStream = httpx2.ByteStream(content)
        else:
            body = _Body(self, conn, request, timeout.get("read"), length, chunked, keep_alive)
            if whole:
                return RawResponse(status, reason, headers, b"".join([c async for c in body]))
            stream = body
        extensions = {"http_version": b"HTTP/1.1", "reason_phrase": reason}
        return httpx2.Response(status, headers=headers, stream=stream, extensions=extensions)


class RawResponse(NamedTuple):
    """A whole response as `PooledTransport.send_bytes` reads it."""

    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    """Names and values as received, in order."""
    content: bytes
    """The body as received: chunked framing removed, any Content-Encoding kept."""
    resent: Resend | None = None
    """Set when the request had to be sent a second time (see `Resend`)."""


class _Body(httpx2.AsyncByteStream):
    """A response body read from its connection as it is consumed; the connection goes
    back to the pool (or is closed) once the body is read to its end, or closed early."""

    def __init__(
        self,
        transport: PooledTransport,
        conn: _Connection,
        request: httpx2.Request | None,
        timeout: float | None,
        length: int | None,
        chunked: bool,
        keep_alive: bool,
    ) -> None:
        self._transport, self._request = transport, request
        self._conn: _Connection | None = conn
        self._timeout, self._length, self._chunked = timeout, length, chunked
        self._keep_alive = keep_alive

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._conn is None:
            return
        reader, timeout, remaining = self._conn.reader, self._timeout, self._length
        try:
            while True:
                async with asyncio.timeout(timeout):
                    if self._chunked:
                        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                        if size == 0:
                            while await reader.readuntil(b"\r\n") != b"\r\n":
                                pass  # trailers, ignored
                            break
                        data = (await reader.readexactly(size + 2))[:-2]
                    elif remaining is not None:
                        if not remaining:
                            break
                        data = await reader.readexactly(min(remaining, _READ_SIZE))
                        remaining -= len(data)
                    else:  # up to the close
                        data = await reader.read(_READ_SIZE)
                        if not data:
                            break
                yield data
        except BaseException as exc:
            self._finish(False)
            if isinstance(exc, Exception) and not isinstance(exc, httpx2.TransportError):
                raise _read_error(exc, self._request) from exc
            raise
        self._finish(self._keep_alive)

    async def aclose(self) -> None:
        self._finish(False)  # not read to its end: the connection's state is unknown

    def _finish(self, reuse: bool) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._transport._release(conn, reuse)


def _encode(request: httpx2.Request, body: bytes) -> tuple[bytes, bool]:
    """The request as bytes to send, and whether it asks to close the connection."""
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    close = chunked = False
    for name, value in request.headers.raw:
        lines.append(name + b": " + value)
        lower = name.lower()
        if lower == b"connection" and b"close" in value.lower():
            close = True
        elif lower == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:  # a streamed body, now read into memory: one chunk
        body = (b"%X\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    return b"\r\n".join(lines) + b"\r\n\r\n" + body, close


async def _read_head(
    reader: asyncio.StreamReader,
) -> tuple[int, bytes, list[tuple[bytes, bytes]], bool]:
    """Status, reason, headers and whether the server keeps the connection alive
    (interim 1xx responses skipped); `_NothingReceived` if it closed without a byte."""
    while True:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise _NothingReceived(_NO_RESPONSE) from exc
            raise
        except ConnectionError as exc:  # reset before a byte came: the same
            raise _NothingReceived(f"{_NO_RESPONSE} ({_name(exc)})") from exc
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


def _framing(
    method: str, status: int, headers: list[tuple[bytes, bytes]], keep_alive: bool
) -> tuple[int | None, bool, bool]:
    """How the body is delimited: (Content-Length or None, chunked, keep_alive)."""
    if method == "HEAD" or status in (204, 304):
        return 0, False, keep_alive
    length: int | None = None
    for name, value in headers:
        lower = name.lower()
        if lower == b"transfer-encoding" and b"chunked" in value.lower():
            return None, True, keep_alive
        if lower == b"content-length":
            if not value.isdigit():
                raise httpx2.RemoteProtocolError(f"bad Content-Length {value[:40]!r}")
            length = int(value)
    # Without a length, the body ends when the server closes the connection.
    return length, False, keep_alive and length is not None


def _read_error(exc: Exception, request: httpx2.Request | None) -> httpx2.TransportError:
    """An error while reading a response, as the httpx2 exception the SDK expects."""
    if isinstance(exc, TimeoutError):
        return httpx2.ReadTimeout("no response bytes in time", request=request)
    if isinstance(exc, asyncio.IncompleteReadError):
        message = "server closed the connection in the middle of the response"
        return httpx2.RemoteProtocolError(message, request=request)
    if isinstance(exc, asyncio.LimitOverrunError | ValueError):
        return httpx2.RemoteProtocolError(f"malformed response: {exc}", request=request)
    return httpx2.ReadError(f"{type(exc).__name__}: {exc}", request=request)


def _name(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
