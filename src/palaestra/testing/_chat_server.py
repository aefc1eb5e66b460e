"""`ChatServer`: a real, scriptable OpenAI chat-completions server on 127.0.0.1.

Tests and benchmarks need a model server that behaves like a real one on the wire (HTTP,
keep-alive, status codes, headers, dropped connections) but answers instantly or exactly
as slowly and as badly as scripted. This is it, on plain `asyncio` (a minimal HTTP/1.1
parser: keep-alive, Content-Length or chunked bodies), so one process serves thousands of
concurrent connections cheaply and nothing new is installed.

Routes: `POST /v1/chat/completions` (non-streaming), `GET /v1/models`, `GET /health`, and
a small control API for a server in another process: `POST /_palaestra/push` (body: the
keyword arguments of `push`), `GET /_palaestra/stats`, `POST /_palaestra/reset`.

    with ChatServer(delay_s=0.05, reply="hello") as server:
        server.push(status=429, retry_after=0.2)   # the next request gets a 429
        model = OpenAIModel("test", base_url=server.base_url)

The server runs its own event loop in a background thread (`with` / `start()`), or in the
caller's loop (`async with`), or in the foreground from the CLI
(`python -m palaestra.testing.chat_server --port 0`).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from palaestra.testing._http import BadRequest, read_request, write_response
from palaestra.testing._replies import (
    MALFORMED_BODY,
    ReplyFn,
    ReplyLike,
    ServerFault,
    coerce_reply,
    completion_body,
    echo_reply,
    error_body,
)

_CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
_MODELS_PATHS = ("/v1/models", "/models")


@dataclass
class RecordedRequest:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    """Header names in lower case."""
    json: Any
    """The decoded JSON body (None when there was none or it was not JSON)."""


class ChatServer:
    """A scriptable OpenAI-compatible chat-completions server (see the module docstring).

    `reply` is the default answer: text, a `Reply`, or a function of the request JSON
    returning either (the default echoes the last user message). `delay_s` is waited
    before every answer. `record=False` keeps no request bodies (long benchmarks).
    """

    def __init__(
        self,
        *,
        delay_s: float = 0.0,
        reply: ReplyLike | ReplyFn | None = None,
        model: str = "palaestra-test",
        host: str = "127.0.0.1",
        port: int = 0,
        record: bool = True,
    ) -> None:
        self.delay_s = delay_s
        self.reply: ReplyLike | ReplyFn = echo_reply if reply is None else reply
        self.model = model
        self.host = host
        self.port = port
        self.record = record
        self.requests: list[RecordedRequest] = []
        """Chat-completion requests received, in arrival order (when `record`)."""
        self.request_count = 0
        """Chat-completion requests received (recorded or not)."""
        self.connections_total = 0
        """Connections accepted since start."""
        self.open_connections = 0
        self.peak_connections = 0
        """Most connections open at once."""
        self.in_flight = 0
        self.peak_in_flight = 0
        """Most chat requests being answered at once."""
        self._faults: deque[ServerFault] = deque()
        self._lock = threading.Lock()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._thread: threading.Thread | None = None
        self._thread_error: BaseException | None = None

    # -- scripting ---------------------------------------------------------------------

    def push(
        self,
        *,
        status: int | None = None,
        retry_after: float | str | None = None,
        retry_after_ms: float | None = None,
        delay_s: float | None = None,
        malformed: bool = False,
        drop: bool = False,
        reply: ReplyLike | None = None,
        headers: dict[str, str] | None = None,
        message: str | None = None,
        body: Any = None,
    ) -> None:
        """Queue one fault (or special reply) for the next chat request; faults are used in
        the order pushed, one per request. See `ServerFault` for what each option does."""
        fault = ServerFault(
            status=status,
            retry_after=retry_after,
            retry_after_ms=retry_after_ms,
            delay_s=delay_s,
            malformed=malformed,
            drop=drop,
            reply=reply,
            headers=dict(headers or {}),
            message=message,
            body=body,
        )
        with self._lock:
            self._faults.append(fault)

    @property
    def pending_faults(self) -> int:
        """Pushed faults not yet consumed."""
        with self._lock:
            return len(self._faults)

    def reset(self) -> None:
        """Forget recorded requests, counters (peaks included) and pending faults."""
        with self._lock:
            self._faults.clear()
            self.requests = []
            self.request_count = 0
            self.connections_total = 0
            self.peak_connections = self.open_connections
            self.peak_in_flight = self.in_flight

    def stats(self) -> dict[str, int]:
        """Counters as a dict (what `GET /_palaestra/stats` returns)."""
        return {
            "request_count": self.request_count,
            "connections_total": self.connections_total,
            "open_connections": self.open_connections,
            "peak_connections": self.peak_connections,
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "pending_faults": self.pending_faults,
        }

    @property
    def url(self) -> str:
        """`http://host:port` (the port is known once started)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL to give a client: `http://host:port/v1`."""
        return f"{self.url}/v1"

    # -- lifecycle: in the caller's loop -------------------------------------------------

    async def start_async(self) -> ChatServer:
        """Start serving in the running event loop."""
        if self._server is not None:
            raise RuntimeError("ChatServer is already running")
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, backlog=4096, limit=2**20
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop_async(self) -> None:
        """Stop serving and drop every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    async def serve_until_stopped(self) -> None:
        """Serve until `stop()` (or `request_stop()`) is called."""
        if self._server is None:
            await self.start_async()
        assert self._stop_event is not None
        await self._stop_event.wait()
        await self.stop_async()

    def request_stop(self) -> None:
        """Ask a server started by `serve_until_stopped` to stop (thread-safe)."""
        if self._loop is not None and self._stop_event is not None:
            self._loop.call_soon_threadsafe(self._stop_event.set)

    async def __aenter__(self) -> ChatServer:
        return await self.start_async()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop_async()

    # -- lifecycle: in a background thread -----------------------------------------------

    def start(self, timeout_s: float = 10.0) -> ChatServer:
        """Start serving from a background thread with its own event loop."""
        if self._thread is not None:
            raise RuntimeError("ChatServer is already running")
        ready = threading.Event()
        self._thread_error = None

        def run() -> None:
            async def main() -> None:
                await self.start_async()
                ready.set()
                await self.serve_until_stopped()

            try:
                asyncio.run(main())
            except BaseException as exc:  # reported to the starting thread
                self._thread_error = exc
                ready.set()

        self._thread = threading.Thread(target=run, name="palaestra-chat-server", daemon=True)
        self._thread.start()
        if not ready.wait(timeout_s):
            raise RuntimeError(f"ChatServer did not start within {timeout_s} s")
        if self._thread_error is not None:
            self._thread = None
            raise RuntimeError(f"ChatServer failed to start: {self._thread_error}")
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop a server started with `start()` and wait for its thread."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self.request_stop()
        thread.join(timeout_s)

    def __enter__(self) -> ChatServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- HTTP ----------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.connections_total += 1
        self.open_connections += 1
        self.peak_connections = max(self.peak_connections, self.open_connections)
        try:
            while True:
                request = await read_request(reader)
                if request is None:
                    break
                method, path, headers, body = request
                keep_alive = headers.get("connection", "").lower() != "close"
                if not await self._respond(writer, method, path, headers, body, keep_alive):
                    break
        except BadRequest as exc:
            await write_response(writer, 400, error_body(400, str(exc)), keep_alive=False)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        except asyncio.CancelledError:
            # The server is stopping. Ending quietly matters: asyncio's stream callback
            # (3.11) logs a cancelled handler task as an error.
            pass
        finally:
            self.open_connections -= 1
            if task is not None:
                self._tasks.discard(task)
            writer.close()

    async def _respond(
        self,
        writer: asyncio.StreamWriter,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes,
        keep_alive: bool,
    ) -> bool:
        """Answer one request; False when the connection must be closed."""
        if path in _CHAT_PATHS and method == "POST":
            return await self._chat(writer, headers, body, keep_alive)
        if path in _MODELS_PATHS and method == "GET":
            models = {"object": "list", "data": [_model_card(self.model)]}
            return await write_response(writer, 200, models, keep_alive=keep_alive)
        if path == "/health" and method == "GET":
            return await write_response(writer, 200, {"status": "ok"}, keep_alive=keep_alive)
        if path == "/_palaestra/stats" and method == "GET":
            return await write_response(writer, 200, self.stats(), keep_alive=keep_alive)
        if path == "/_palaestra/reset" and method == "POST":
            self.reset()
            return await write_response(writer, 200, {"ok": True}, keep_alive=keep_alive)
        if path == "/_palaestra/push" and method == "POST":
            try:
                self.push(**json.loads(body or b"{}"))
            except (ValueError, TypeError) as exc:
                return await write_response(
                    writer, 400, error_body(400, str(exc)), keep_alive=keep_alive
                )
            return await write_response(
                writer, 200, {"pending": self.pending_faults}, keep_alive=keep_alive
            )
        known = path in (*_CHAT_PATHS, *_MODELS_PATHS, "/health") or path.startswith("/_palaestra/")
        status = 405 if known else 404
        return await write_response(
            writer, status, error_body(status, f"no route {method} {path}"), keep_alive=keep_alive
        )

    async def _chat(
        self, writer: asyncio.StreamWriter, headers: dict[str, str], body: bytes, keep_alive: bool
    ) -> bool:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        with self._lock:
            self.request_count += 1
            number = self.request_count
            if self.record:
                self.requests.append(RecordedRequest("POST", _CHAT_PATHS[0], headers, payload))
            valid = isinstance(payload, dict) and isinstance(payload.get("messages"), list)
            # A scripted fault is meant for a real chat request, not for a garbled one.
            fault = self._faults.popleft() if self._faults and valid else ServerFault()
        if not valid:
            message = "the body must be a JSON object with a 'messages' list"
            return await write_response(
                writer, 400, error_body(400, message), keep_alive=keep_alive
            )
        assert isinstance(payload, dict)

        delay = self.delay_s if fault.delay_s is None else fault.delay_s
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if delay > 0:
                await asyncio.sleep(delay)
        finally:
            self.in_flight -= 1

        if fault.drop:
            return False  # _handle closes the connection without a word
        extra = dict(fault.headers)
        if fault.retry_after is not None:
            value = fault.retry_after
            extra["Retry-After"] = value if isinstance(value, str) else f"{value:g}"
        if fault.retry_after_ms is not None:
            extra["retry-after-ms"] = f"{fault.retry_after_ms:g}"
        if fault.body is not None:
            status = 200 if fault.status is None else fault.status
            return await write_response(writer, status, fault.body, extra, keep_alive=keep_alive)
        if fault.status is not None and fault.status != 200:
            data = error_body(fault.status, fault.message)
            return await write_response(writer, fault.status, data, extra, keep_alive=keep_alive)
        if fault.malformed:
            return await write_response(writer, 200, MALFORMED_BODY, extra, keep_alive=keep_alive)
        try:
            reply = await self._reply_for(payload, fault)
        except Exception as exc:  # a broken reply function: tell the client, loudly
            data = error_body(500, f"reply function raised {type(exc).__name__}: {exc}")
            return await write_response(writer, 500, data, keep_alive=keep_alive)
        data = completion_body(payload, reply, number=number, default_model=self.model)
        return await write_response(writer, 200, data, extra, keep_alive=keep_alive)

    async def _reply_for(self, payload: dict[str, Any], fault: ServerFault) -> Any:
        source = fault.reply if fault.reply is not None else self.reply
        value = source(payload) if callable(source) else source
        if inspect.isawaitable(value):
            value = await value
        return coerce_reply(value)


def _model_card(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": 0, "owned_by": "palaestra"}
