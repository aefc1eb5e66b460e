"""`PooledTransport` over real sockets: against `ChatServer`, and against a small raw
server (below) for what `ChatServer` never sends (chunked, gzip, close-delimited bodies,
TLS, a connection closed without a word)."""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import openai
import pytest

from palaestra.core import Message, ModelError
from palaestra.models import ModelRequest, OpenAIModel
from palaestra.models._transport import PooledTransport
from palaestra.testing import ChatServer
from palaestra.testing._http import read_request

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


@asynccontextmanager
async def client(
    timeout: float = 5.0, **options: object
) -> AsyncIterator[tuple[httpx2.AsyncClient, PooledTransport]]:
    transport = PooledTransport(**options)  # type: ignore[arg-type]
    async with httpx2.AsyncClient(transport=transport, timeout=timeout) as http:
        yield http, transport


async def chat(http: httpx2.AsyncClient, server: ChatServer, **params: object) -> str:
    reply = await http.post(f"{server.base_url}/chat/completions", json=CHAT, **params)  # type: ignore[arg-type]
    reply.raise_for_status()
    content: str = reply.json()["choices"][0]["message"]["content"]
    return content


# -- a raw HTTP/1.1 server that answers with scripted bytes ----------------------------------


class RawServer:
    """Answers request number i (from 0, over all connections) with `script(i)`: bytes
    to send, or None to close the connection without a word. Closes the connection
    after a reply that says `Connection: close`, or after every reply if `close_after`."""

    def __init__(self, script: Callable[[int], bytes | None], close_after: bool = False):
        self.script = script
        self.close_after = close_after
        self.connections = 0
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while (request := await read_request(reader)) is not None:
                method, path, headers, body = request
                reply = self.script(len(self.requests))
                self.requests.append((f"{method} {path}", headers, body))
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if self.close_after or b"connection: close" in reply.lower():
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def raw_server(
    script: Callable[[int], bytes | None],
    close_after: bool = False,
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[RawServer]:
    raw = RawServer(script, close_after)
    server = await asyncio.start_server(raw.handle, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    raw.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    try:
        yield raw
    finally:
        server.close()
        await server.wait_closed()


def response(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    head = "".join(f"{h}\r\n" for h in headers)
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        head += f"Content-Length: {len(body)}\r\n"
    return f"HTTP/1.1 {status}\r\n{head}\r\n".encode() + body


# -- keep-alive and the connection limit ----------------------------------------------------


async def test_keep_alive_connection_is_reused(server: ChatServer) -> None:
    async with client() as (http, _):
        replies = [await chat(http, server) for _ in range(5)]
    assert replies == ["echo: hi"] * 5
    assert (server.request_count, server.connections_total) == (5, 1)
    # The SDK's client headers arrive as sent.
    assert server.requests[0].headers["content-type"] == "application/json"
    assert "host" in server.requests[0].headers


async def test_connection_limit_queues_without_a_timeout() -> None:
    with ChatServer(delay_s=0.1) as server:
        # 12 requests, 3 at a time, 0.1 s each: the last waits 0.3 s for a connection,
        # longer than the timeout, and that is no failure.
        async with client(timeout=0.25, max_connections=3) as (http, _):
            start = time.monotonic()
            replies = await asyncio.gather(*(chat(http, server) for _ in range(12)))
            elapsed = time.monotonic() - start
    assert replies == ["echo: hi"] * 12
    assert (server.peak_in_flight, server.peak_connections, server.connections_total) == (3, 3, 3)
    assert elapsed >= 0.38


async def test_cancelled_request_frees_its_slot() -> None:
    with ChatServer(delay_s=5.0) as server:
        async with client(max_connections=1) as (http, _):
            stuck = asyncio.create_task(chat(http, server))
            while server.in_flight == 0:
                await asyncio.sleep(0.01)
            stuck.cancel()
            with pytest.raises(asyncio.CancelledError):
                await stuck
            server.delay_s = 0.0
            assert await asyncio.wait_for(chat(http, server), 2.0) == "echo: hi"
        assert server.connections_total == 2  # the cancelled one's connection was not reused


def test_a_new_event_loop_gets_a_new_pool(server: ChatServer) -> None:
    transport = PooledTransport(max_connections=1)

    async def one(close: bool) -> str:
        http = httpx2.AsyncClient(transport=transport, timeout=5.0)
        reply = await chat(http, server)
        if close:
            await http.aclose()
        return reply

    # The first loop's idle connection is useless in the second (and gets hung up).
    assert [asyncio.run(one(close)) for close in (False, True)] == ["echo: hi"] * 2
    assert server.connections_total == 2


# -- response framing -------------------------------------------------------------------------


async def test_chunked_body_then_keep_alive() -> None:
    chunked = response(
        b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
        "Transfer-Encoding: chunked",
    )
    async with raw_server(lambda i: chunked) as raw, client() as (http, _):
        texts = [(await http.get(f"{raw.url}/x")).text for _ in range(3)]
    assert texts == ["hello world"] * 3
    assert raw.connections == 1


async def test_close_delimited_and_gzip_bodies() -> None:
    plain = b'{"a": 1}' * 1000
    replies = [
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + plain,  # to the close
        response(gzip.compress(plain), "Content-Encoding: gzip"),
    ]
    async with raw_server(lambda i: replies[i], close_after=True) as raw, client() as (http, _):
        bodies = [(await http.get(f"{raw.url}/{i}")).content for i in range(2)]
    assert bodies == [plain, plain]
    assert raw.connections == 2


async def test_large_body_is_streamed_and_connection_reused() -> None:
    big = bytes(range(256)) * 12_000  # 3 MB: more than is read with the head
    async with raw_server(lambda i: response(big)) as raw, client() as (http, transport):
        assert (await http.get(f"{raw.url}/a")).content == big
        async with http.stream("GET", f"{raw.url}/b") as streamed:
            parts = [part async for part in streamed.aiter_raw()]
        assert b"".join(parts) == big and len(parts) > 1
        async with http.stream("GET", f"{raw.url}/c"):
            pass  # closed unread: that connection must not be reused
        assert (await http.get(f"{raw.url}/d")).content == big
    assert raw.connections == 2


async def test_connection_close_is_honoured(server: ChatServer) -> None:
    async with client() as (http, _):
        for _ in range(2):  # asked by the client...
            await chat(http, server, headers={"Connection": "close"})
    assert server.connections_total == 2
    closing = response(b"ok", "Connection: close")
    async with raw_server(lambda i: closing) as raw, client() as (http, _):
        for _ in range(2):  # ...and said by the server
            assert (await http.get(raw.url)).text == "ok"
    assert raw.connections == 2


async def test_interim_100_continue_is_skipped() -> None:
    reply = b"HTTP/1.1 100 Continue\r\n\r\n" + response(b"done")
    async with raw_server(lambda i: reply) as raw, client() as (http, _):
        answer = await http.post(raw.url, content=b"body")
    assert (answer.status_code, answer.text) == (200, "done")


async def test_garbled_response_is_a_protocol_error() -> None:
    async with raw_server(lambda i: b"SMTP ready\r\n\r\n") as raw, client() as (http, _):
        with pytest.raises(httpx2.RemoteProtocolError, match="status line"):
            await http.get(raw.url)


async def test_send_bytes_reads_whole_bodies_and_reuses_the_connection() -> None:
    big = bytes(range(256)) * 12_000  # more than is read with the head
    replies = [
        response(b"5\r\nhello\r\n0\r\n\r\n", "Transfer-Encoding: chunked"),
        response(big, "X-Kind: big"),
        response(b"", status="204 No Content"),
    ]
    async with raw_server(lambda i: replies[i]) as raw:
        transport = PooledTransport()
        port = int(raw.url.rsplit(":", 1)[1])
        key = (b"http", b"127.0.0.1", port)
        data = b"POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\nhi"
        sent = [await transport.send_bytes(key, data, {"read": 5.0}) for _ in range(3)]
        await transport.aclose()
    assert [(s.status, s.content) for s in sent] == [(200, b"hello"), (200, big), (204, b"")]
    assert (b"X-Kind", b"big") in sent[1].headers
    assert sent[2].reason == b"No Content"
    assert raw.connections == 1
    assert [r[0] for r in raw.requests] == ["POST /v1/x"] * 3
    assert raw.requests[0][2] == b"hi"


async def test_send_bytes_errors_are_httpx2_transport_errors() -> None:
    transport = PooledTransport()
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(httpx2.ConnectError, match="cannot connect"):
        await transport.send_bytes((b"http", b"127.0.0.1", port), b"GET / HTTP/1.1\r\n\r\n", {})
    with pytest.raises(httpx2.UnsupportedProtocol):
        await transport.send_bytes((b"ftp", b"127.0.0.1", port), b"GET / HTTP/1.1\r\n\r\n", {})
    async with raw_server(lambda i: b"SMTP ready\r\n\r\n") as raw:
        key = (b"http", b"127.0.0.1", int(raw.url.rsplit(":", 1)[1]))
        with pytest.raises(httpx2.RemoteProtocolError, match="status line"):
            await transport.send_bytes(key, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", {})
    await transport.aclose()


async def test_openai_model_reads_gzip_and_chunked_replies() -> None:
    reply = json.dumps(
        {
            "model": "m",
            "choices": [{"message": {"role": "assistant", "content": "hello"}}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        }
    ).encode()
    chunked = b"%X\r\n%s\r\n0\r\n\r\n" % (len(reply), reply)
    replies = [
        response(gzip.compress(reply), "Content-Encoding: gzip"),
        response(chunked, "Transfer-Encoding: chunked"),
        response(b'{"error": {"message": "no such model"}}', status="404 Not Found"),
    ]
    async with raw_server(lambda i: replies[i]) as raw:
        model = OpenAIModel("m", base_url=f"{raw.url}/v1", max_retries=0)
        request = ModelRequest(messages=[Message(role="user", content="hi")])
        try:
            texts = [(await model.generate(request)).message.content for _ in range(2)]
            with pytest.raises(ModelError, match="HTTP 404: no such model"):
                await model.generate(request)
        finally:
            await model.aclose()
    assert texts == ["hello", "hello"]
    method, headers, body = raw.requests[0]
    assert method == "POST /v1/chat/completions"
    assert json.loads(body)["messages"] == [{"role": "user", "content": "hi"}]
    assert headers["content-length"] == str(len(body))
    assert headers["x-stainless-retry-count"] == "0"


# -- a server that closes connections -------------------------------------------------------


async def test_pooled_connection_closed_while_idle_is_replaced() -> None:
    # A server that hangs up after every reply without saying so (its keep-alive timeout).
    async with raw_server(lambda i: response(b"ok"), close_after=True) as raw:
        async with client() as (http, _):
            for _ in range(3):
                assert (await http.get(raw.url)).text == "ok"
                await asyncio.sleep(0.05)
    assert raw.connections == 3


async def test_pooled_connection_dropped_on_reuse_is_retried_once(server: ChatServer) -> None:
    async with client() as (http, _):
        assert await chat(http, server) == "echo: hi"
        server.push(drop=True)  # the pooled connection gets closed as the request arrives
        assert await chat(http, server) == "echo: hi"
    assert (server.request_count, server.connections_total) == (3, 2)


async def test_fresh_connection_dropped_is_an_error(server: ChatServer) -> None:
    server.push(drop=True)
    async with client() as (http, _):
        with pytest.raises(httpx2.RemoteProtocolError, match="without sending a response"):
            await chat(http, server)
    assert server.request_count == 1  # not sent again


async def test_stale_connection_is_retried_once_only() -> None:
    # Request 0 is answered; 1 and 2 are dropped without a word: 1 on the pooled
    # connection (sent again on a new one), 2 on that new one (an error, not retried).
    replies = [response(b"ok"), None, None, response(b"ok")]
    async with raw_server(lambda i: replies[i]) as raw, client() as (http, _):
        assert (await http.get(raw.url)).text == "ok"
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.get(raw.url)
        assert (await http.get(raw.url)).text == "ok"
    assert (len(raw.requests), raw.connections) == (4, 3)


# -- timeouts and errors, as the SDK sees them ------------------------------------------------


async def test_read_timeout_closes_the_connection(server: ChatServer) -> None:
    server.push(delay_s=2.0)
    async with client(timeout=0.2) as (http, _):
        with pytest.raises(httpx2.ReadTimeout):
            await chat(http, server)
        assert await chat(http, server) == "echo: hi"  # on a new connection
    assert server.connections_total == 2


async def test_a_long_read_timeout_fires_from_the_shared_check(server: ChatServer) -> None:
    server.push(delay_s=3.0)
    async with client(timeout=1.0) as (http, transport):
        started = time.monotonic()
        with pytest.raises(httpx2.ReadTimeout):
            await chat(http, server)
        waited = time.monotonic() - started
        assert 1.0 <= waited < 1.6, waited  # late by at most a check interval (0.1 s)
        assert await chat(http, server) == "echo: hi"  # on a new connection
        assert not transport._read_timeouts._open  # every entry was taken out
        await asyncio.sleep(0.25)
        assert transport._read_timeouts._check_handle is None  # no check while none open
    assert server.connections_total == 2


async def test_cancelling_a_request_under_a_long_timeout_stays_a_cancellation(
    server: ChatServer,
) -> None:
    server.push(delay_s=3.0)
    async with client(timeout=30.0) as (http, transport):
        call = asyncio.ensure_future(chat(http, server))
        await asyncio.sleep(0.3)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert not transport._read_timeouts._open
        assert await chat(http, server) == "echo: hi"


async def test_timeouts_raise_timeout_error_in_a_with_block() -> None:
    from palaestra.models._transport import _Timeouts

    timeouts = _Timeouts()
    for seconds in (0.05, 1.0):  # a timer of its own; the shared check
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            with timeouts.after(seconds):
                await asyncio.sleep(5)
        assert seconds <= time.monotonic() - started < seconds + 0.5
    with timeouts.after(1.0):
        await asyncio.sleep(0.01)  # done in time: nothing happens
    with timeouts.after(None):
        await asyncio.sleep(0.01)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_sdk_errors_through_the_transport(server: ChatServer) -> None:
    transport = PooledTransport()
    http = httpx2.AsyncClient(transport=transport, timeout=0.3)
    sdk = openai.AsyncOpenAI(api_key="k", base_url=server.base_url, max_retries=0, http_client=http)
    async with sdk:
        server.push(delay_s=2.0)
        with pytest.raises(openai.APITimeoutError):
            await sdk.post("/chat/completions", body=CHAT, cast_to=httpx2.Response)
        server.push(drop=True)
        with pytest.raises(openai.APIConnectionError):
            await sdk.post("/chat/completions", body=CHAT, cast_to=httpx2.Response)
        server.push(status=503)
        with pytest.raises(openai.APIStatusError) as caught:
            await sdk.post("/chat/completions", body=CHAT, cast_to=httpx2.Response)
        assert caught.value.status_code == 503
        ok = await sdk.post("/chat/completions", body=CHAT, cast_to=httpx2.Response)
        assert ok.json()["choices"][0]["message"]["content"] == "echo: hi"
    assert server.requests[-1].headers["authorization"] == "Bearer k"


async def test_unreachable_port_is_a_connect_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with client() as (http, _):
        with pytest.raises(httpx2.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_openai_model_timeout_is_a_retried_attempt() -> None:
    with ChatServer() as server:
        model = OpenAIModel("m", base_url=server.base_url, timeout_s=0.2, backoff_base_s=0.01)
        server.push(delay_s=2.0)
        try:
            request = ModelRequest(messages=[Message(role="user", content="hi")])
            reply = await model.generate(request)
        finally:
            await model.aclose()
    [attempt] = reply.failed_attempts
    assert attempt.error.startswith("timeout")
    assert reply.message.content == "echo: hi"
    assert server.connections_total == 2


# -- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made by the openssl command)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        + ["-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


async def test_https_with_a_trusted_certificate(certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    async with raw_server(lambda i: response(b"secret"), tls=tls) as raw:
        trusting = ssl.create_default_context(cafile=str(cert))
        async with client(ssl_context=trusting) as (http, _):
            assert [(await http.get(raw.url)).text for _ in range(2)] == ["secret"] * 2
        assert raw.connections == 1
        async with client() as (http, _):  # the default trust does not know this one
            with pytest.raises(httpx2.ConnectError, match="certificate"):
                await http.get(raw.url)


# -- proxies --------------------------------------------------------------------------------


async def test_openai_model_behind_an_env_proxy_goes_through_it(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PooledTransport speaks no proxy, so OpenAIModel uses httpx2's own pool then.
    completion = json.dumps(
        {"choices": [{"index": 0, "message": {"role": "assistant", "content": "via proxy"}}]}
    ).encode()
    async with raw_server(lambda i: response(completion)) as proxy:
        for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        model = OpenAIModel("m", base_url=server.base_url, max_retries=0)
        try:
            reply = await model.generate(
                ModelRequest(messages=[Message(role="user", content="hi")])
            )
        finally:
            await model.aclose()
    assert reply.message.content == "via proxy"
    [(target, _, _)] = proxy.requests
    assert target == f"POST {server.base_url}/chat/completions"  # absolute form: a proxy's
    assert server.request_count == 0
