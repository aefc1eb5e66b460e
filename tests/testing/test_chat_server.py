"""The scriptable chat-completions server, over real HTTP."""

from __future__ import annotations

import asyncio
import email.utils
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai.types.chat import ChatCompletion

from palaestra.testing import ChatServer, Reply, tool_call

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


async def post_chat(client: httpx.AsyncClient, server: ChatServer, **body: Any) -> httpx.Response:
    return await client.post(f"{server.base_url}/chat/completions", json={**CHAT, **body})


async def test_health_and_models(server: ChatServer) -> None:
    async with httpx.AsyncClient() as client:
        health = await client.get(f"{server.url}/health")
        models = await client.get(f"{server.base_url}/models")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert models.json()["object"] == "list"
    assert [m["id"] for m in models.json()["data"]] == ["palaestra-test"]


async def test_reply_is_a_valid_openai_completion(server: ChatServer) -> None:
    server.push(reply=Reply(content="thinking", tool_calls=[tool_call("add", {"a": 1})]))
    async with httpx.AsyncClient() as client:
        tools = await post_chat(client, server)  # the pushed reply
        text = await post_chat(client, server)  # the default (echo)
    completion = ChatCompletion.model_validate(text.json())  # the SDK's own schema
    assert completion.object == "chat.completion"
    assert completion.model == "m"
    assert completion.choices[0].message.content == "echo: hi"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 2
    with_calls = ChatCompletion.model_validate(tools.json())
    assert with_calls.choices[0].message.content == "thinking"
    [call] = with_calls.choices[0].message.tool_calls or []
    assert call.type == "function" and call.function.name == "add"
    assert json.loads(call.function.arguments) == {"a": 1}
    assert with_calls.choices[0].finish_reason == "tool_calls"
    assert text.json()["id"] != tools.json()["id"]


async def test_keep_alive_and_recording(server: ChatServer) -> None:
    async with httpx.AsyncClient() as client:
        for i in range(3):
            response = await post_chat(
                client, server, messages=[{"role": "user", "content": f"{i}"}]
            )
            assert response.headers["connection"] == "keep-alive"
    assert server.connections_total == 1
    assert server.request_count == 3
    assert [r.json["messages"][0]["content"] for r in server.requests] == ["0", "1", "2"]
    assert server.requests[0].path == "/v1/chat/completions"
    assert server.requests[0].headers["content-type"] == "application/json"


async def test_faults_are_consumed_in_order(server: ChatServer) -> None:
    date = email.utils.formatdate(time.time() + 60, usegmt=True)
    server.push(status=429, retry_after=1)
    server.push(status=503, retry_after=date, retry_after_ms=250)
    server.push(malformed=True)
    server.push(status=500, message="boom", headers={"x-trace": "t1"})
    assert server.pending_faults == 4
    async with httpx.AsyncClient() as client:
        responses = [await post_chat(client, server) for _ in range(5)]
    assert [r.status_code for r in responses] == [429, 503, 200, 500, 200]
    assert responses[0].headers["retry-after"] == "1"
    assert responses[0].json()["error"]["type"] == "rate_limit_exceeded"
    assert responses[1].headers["retry-after"] == date
    assert responses[1].headers["retry-after-ms"] == "250"
    with pytest.raises(json.JSONDecodeError):
        json.loads(responses[2].text)
    assert responses[3].json()["error"]["message"] == "boom"
    assert responses[3].headers["x-trace"] == "t1"
    assert responses[4].json()["choices"][0]["message"]["content"] == "echo: hi"
    assert server.pending_faults == 0


async def test_drop_closes_the_connection(server: ChatServer) -> None:
    server.push(drop=True)
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await post_chat(client, server)
        assert (await post_chat(client, server)).status_code == 200
    assert server.request_count == 2


async def test_delays() -> None:
    with ChatServer(delay_s=0.2) as server:
        server.push(delay_s=0)  # one fast reply, then the default delay again
        async with httpx.AsyncClient() as client:
            start = time.monotonic()
            await post_chat(client, server)
            fast = time.monotonic() - start
            await post_chat(client, server)
            slow = time.monotonic() - start - fast
    assert fast < 0.15
    assert slow >= 0.2


async def test_reply_functions(server: ChatServer) -> None:
    server.reply = lambda request: f"{len(request['messages'])} messages"
    async with httpx.AsyncClient() as client:
        assert (await post_chat(client, server)).json()["choices"][0]["message"][
            "content"
        ] == "1 messages"

        async def slow_reply(request: dict[str, Any]) -> dict[str, Any]:
            await asyncio.sleep(0)
            return {"tool_calls": [tool_call("f", '{"x": ', id="c1")]}

        server.reply = slow_reply
        message = (await post_chat(client, server)).json()["choices"][0]["message"]
        assert message["content"] is None
        assert message["tool_calls"][0]["function"]["arguments"] == '{"x": '  # sent verbatim

        def broken(request: dict[str, Any]) -> str:
            raise KeyError("nope")

        server.reply = broken
        response = await post_chat(client, server)
        assert response.status_code == 500
        assert "KeyError" in response.json()["error"]["message"]


async def test_bad_requests(server: ChatServer) -> None:
    server.push(status=429)  # kept for the next real chat request
    async with httpx.AsyncClient() as client:
        not_json = await client.post(f"{server.base_url}/chat/completions", content=b"{nope")
        no_messages = await client.post(f"{server.base_url}/chat/completions", json={"a": 1})
        unknown = await client.get(f"{server.url}/v2/whatever")
        wrong_method = await client.get(f"{server.base_url}/chat/completions")
    assert not_json.status_code == 400 and "messages" in not_json.json()["error"]["message"]
    assert no_messages.status_code == 400
    assert unknown.status_code == 404
    assert wrong_method.status_code == 405
    assert server.pending_faults == 1


async def test_control_api_and_reset(server: ChatServer) -> None:
    async with httpx.AsyncClient() as client:
        pushed = await client.post(f"{server.url}/_palaestra/push", json={"status": 429})
        assert pushed.json() == {"pending": 1}
        assert (await post_chat(client, server)).status_code == 429
        stats = (await client.get(f"{server.url}/_palaestra/stats")).json()
        assert stats["request_count"] == 1 and stats["pending_faults"] == 0
        bad = await client.post(f"{server.url}/_palaestra/push", json={"nonsense": 1})
        assert bad.status_code == 400
        await client.post(f"{server.url}/_palaestra/reset")
    assert server.request_count == 0 and server.requests == []


async def raw_exchange(server: ChatServer, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(data)
    await writer.drain()
    response = await reader.read()  # until the server closes
    writer.close()
    await writer.wait_closed()
    return response


async def test_chunked_body_and_http_1_0(server: ChatServer) -> None:
    body = json.dumps(CHAT).encode()
    chunked = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n"
        + f"{len(body[:10]):x}\r\n".encode() + body[:10] + b"\r\n"
        + f"{len(body[10:]):x}\r\n".encode() + body[10:] + b"\r\n0\r\n\r\n"
    )  # fmt: skip
    response = await raw_exchange(server, chunked)
    assert response.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b'"content": "echo: hi"' in response
    # HTTP/1.0 without keep-alive: one answer, then the server closes.
    response = await raw_exchange(server, b"GET /health HTTP/1.0\r\n\r\n")
    assert b"Connection: close" in response and response.endswith(b'{"status": "ok"}')
    assert (await raw_exchange(server, b"garbage\r\n\r\n")).startswith(b"HTTP/1.1 400")


async def test_a_thousand_concurrent_connections() -> None:
    n = 1000
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s"
    )

    async def one(i: int) -> bytes:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        body = json.dumps({"messages": [{"role": "user", "content": f"n{i}"}]}).encode()
        writer.write(request % (len(body), body))
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        payload = await reader.readexactly(length)
        writer.close()
        return payload

    with ChatServer(delay_s=0.5, record=False) as server:
        payloads = await asyncio.gather(*(one(i) for i in range(n)))
        assert server.peak_connections == n
        assert server.request_count == n and server.requests == []
    contents = [json.loads(p)["choices"][0]["message"]["content"] for p in payloads]
    assert contents == [f"echo: n{i}" for i in range(n)]


async def test_runs_in_the_callers_loop() -> None:
    async with ChatServer(reply="in-loop") as server:
        async with httpx.AsyncClient() as client:
            response = await post_chat(client, server)
    assert response.json()["choices"][0]["message"]["content"] == "in-loop"


def test_cli_prints_the_url_first_and_stops_on_sigterm() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "palaestra.testing.chat_server", "--port", "0", "--reply", "cli"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        response = httpx.post(f"{url}/chat/completions", json=CHAT)
        assert response.json()["choices"][0]["message"]["content"] == "cli"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
