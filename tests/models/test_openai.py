"""`OpenAIModel` over real HTTP against the scriptable `ChatServer` (nothing mocked)."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import openai
import pytest

from palaestra.core import Message, ModelError, ModelReplyError, ToolCall, ToolSpec, UserError
from palaestra.models import Model, ModelRequest
from palaestra.models._openai import OpenAIModel, decode_arguments, parse_response
from palaestra.models._retry import RetryPolicy
from palaestra.testing import ChatServer, Reply, tool_call


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with ChatServer() as running:
        yield running


@pytest.fixture
async def model(server: ChatServer) -> AsyncIterator[OpenAIModel]:
    client = OpenAIModel("test-model", base_url=server.base_url, backoff_base_s=0.01)
    yield client
    await client.aclose()


def ask(text: str = "hello", **params: Any) -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", content=text)], **params)


# -- translation --------------------------------------------------------------------------


async def test_chat_text_and_usage(model: OpenAIModel, server: ChatServer) -> None:
    response = await model.generate(ask("what is two plus two"))
    assert response.message.role == "assistant"
    assert response.message.content == "echo: what is two plus two"
    assert response.message.tool_calls == []
    assert response.finish_reason == "stop"
    assert response.model == "test-model"
    assert response.failed_attempts == []
    assert response.latency_s > 0
    assert response.usage.input_tokens == 4 + 5  # the server's estimate: 4 per message + words
    assert response.usage.output_tokens == 6
    assert response.usage.cached_tokens == 0


async def test_usage_maps_cached_tokens(model: OpenAIModel, server: ChatServer) -> None:
    usage = {
        "prompt_tokens": 120,
        "completion_tokens": 7,
        "total_tokens": 127,
        "prompt_tokens_details": {"cached_tokens": 100},
    }
    server.push(reply=Reply(content="hi", usage=usage))
    response = await model.generate(ask())
    assert (response.usage.input_tokens, response.usage.output_tokens) == (120, 7)
    assert response.usage.cached_tokens == 100
    server.push(reply=Reply(content="hi", usage={"prompt_tokens": 3, "completion_tokens": 1}))
    assert (await model.generate(ask())).usage.cached_tokens == 0


async def test_messages_and_params_on_the_wire(model: OpenAIModel, server: ChatServer) -> None:
    call = ToolCall(id="call_1", name="lookup", arguments={"q": "x"})
    request = ModelRequest(
        messages=[
            Message(role="system", content="be brief"),
            Message(role="user", content="find x", name="alice"),
            Message(role="assistant", content=None, tool_calls=[call]),
            Message(role="tool", content="x is 1", tool_call_id="call_1"),
        ],
        temperature=0.3,
        top_p=0.9,
        max_tokens=50,
        seed=11,
        stop=["END"],
    )
    await model.generate(request)
    wire = server.requests[0].json
    assert wire["model"] == "test-model"
    assert wire["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "find x", "name": "alice"},
        {
            "role": "assistant",
            "content": "",  # not null: llama.cpp's server rejects a null content
            "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "lookup", "arguments": '{"q": "x"}'}}
            ],
        },
        {"role": "tool", "content": "x is 1", "tool_call_id": "call_1"},
    ]  # fmt: skip
    params = {k: wire[k] for k in ("temperature", "top_p", "max_tokens", "seed", "stop")}
    assert params == {"temperature": 0.3, "top_p": 0.9, "max_tokens": 50, "seed": 11,
                      "stop": ["END"]}  # fmt: skip
    assert "tools" not in wire


async def test_unset_params_are_not_sent(model: OpenAIModel, server: ChatServer) -> None:
    await model.generate(ask())
    wire = server.requests[0].json
    assert set(wire) == {"model", "messages"}


async def test_tool_calls_round_trip(model: OpenAIModel, server: ChatServer) -> None:
    def reply(request: dict[str, Any]) -> Reply:
        names = [tool["function"]["name"] for tool in request["tools"]]
        return Reply(
            tool_calls=[
                tool_call(names[0], {"city": "Oslo", "days": 3}, id="call_a"),
                tool_call(names[1], '{"broken": ', id="call_b"),  # invalid JSON
                tool_call(names[1], "[1, 2]", id="call_c"),  # JSON, but not an object
            ]
        )

    server.reply = reply
    tools = [
        ToolSpec(
            name="weather",
            description="Forecast for a city",
            parameters={"type": "object", "properties": {"city": {"type": "string"}}},
        ),
        ToolSpec(name="noop"),
    ]
    response = await model.generate(ask("weather?", tools=tools))

    wire = server.requests[0].json
    assert wire["tools"][0] == {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "Forecast for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
    assert wire["tool_choice"] == "auto"
    assert response.finish_reason == "tool_calls"
    assert response.message.content is None
    calls = response.message.tool_calls
    assert [(c.id, c.name) for c in calls] == [("call_a", "weather"), ("call_b", "noop"),
                                               ("call_c", "noop")]  # fmt: skip
    assert calls[0].arguments == {"city": "Oslo", "days": 3}
    assert calls[1].arguments == {"__raw__": '{"broken": '}
    assert calls[2].arguments == {"__raw__": "[1, 2]"}

    # Sent back in the conversation, the raw text is returned exactly as the model wrote it.
    follow_up = ModelRequest(messages=[*ask().messages, response.message], tools=tools)
    await model.generate(follow_up)
    echoed = server.requests[1].json["messages"][1]["tool_calls"]
    assert echoed[0]["function"]["arguments"] == json.dumps({"city": "Oslo", "days": 3})
    assert echoed[1]["function"]["arguments"] == '{"broken": '


async def test_extra_body_is_merged(server: ChatServer) -> None:
    model = OpenAIModel("m", base_url=server.base_url, extra_body={"top_k": 20})
    try:
        await model.generate(ask())
    finally:
        await model.aclose()
    assert server.requests[0].json["top_k"] == 20


def test_parse_response_edge_cases() -> None:
    body = {"choices": [{"message": {"content": [{"type": "text", "text": "a"},
                                                 {"type": "text", "text": "b"}]}}]}  # fmt: skip
    assert parse_response(json.dumps(body)).message.content == "ab"
    for bad in ["[]", '{"choices": []}', '{"choices": [{"finish_reason": "stop"}]}', "{"]:
        with pytest.raises(ModelReplyError, match="malformed reply"):
            parse_response(bad)
    assert decode_arguments(None) == {}
    assert decode_arguments("") == {}
    assert decode_arguments({"a": 1}) == {"a": 1}


# -- construction -------------------------------------------------------------------------


def test_name_and_protocol(server: ChatServer) -> None:
    assert OpenAIModel("gpt-x", base_url=server.base_url).name == "openai:gpt-x"
    named = OpenAIModel("gpt-x", base_url=server.base_url, name="local:qwen")
    assert named.name == "local:qwen"
    assert isinstance(named, Model)


def test_missing_key_without_base_url_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("MY_KEY", raising=False)
    with pytest.raises(UserError, match="MY_KEY"):
        OpenAIModel("gpt-x", api_key_env="MY_KEY")


async def test_key_and_base_url_from_env(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("MY_KEY", "sk-test-123")
    model = OpenAIModel("m", api_key_env="MY_KEY")
    local = OpenAIModel("m", api_key_env="UNSET_KEY_VAR")  # local server: placeholder key
    try:
        await model.generate(ask())
        await local.generate(ask())
    finally:
        await model.aclose()
        await local.aclose()
    assert server.requests[0].headers["authorization"] == "Bearer sk-test-123"
    assert server.requests[1].headers["authorization"] == "Bearer EMPTY"


# -- the SDK defines the request and its errors ---------------------------------------------


def sdk_client(server: ChatServer) -> openai.AsyncOpenAI:
    """The official client, configured as OpenAIModel configures its own."""
    return openai.AsyncOpenAI(
        api_key="sk-test", base_url=server.base_url, max_retries=0, timeout=60.0
    )


async def sdk_create(sdk: openai.AsyncOpenAI, text: str = "hello") -> None:
    await sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])


async def test_sends_the_headers_the_sdk_sends(server: ChatServer) -> None:
    sdk = sdk_client(server)
    # Made where no event loop runs, as a runtime may make it: the SDK names the async
    # library in X-Stainless-Async, so the headers must be taken once a loop runs.
    model = await asyncio.to_thread(OpenAIModel, "m", base_url=server.base_url, api_key="sk-test")
    try:
        await sdk_create(sdk)
        await model.generate(ask())
    finally:
        await sdk.close()
        await model.aclose()
    by_sdk, ours = server.requests
    assert ours.json == by_sdk.json
    assert ours.headers == by_sdk.headers
    headers = ours.headers
    assert headers["authorization"] == "Bearer sk-test"
    assert headers["user-agent"] == f"AsyncOpenAI/Python {openai.__version__}"
    assert headers["content-type"] == headers["accept"] == "application/json"
    assert headers["x-stainless-async"] == "async:asyncio"
    assert headers["x-stainless-package-version"] == openai.__version__
    assert (headers["x-stainless-retry-count"], headers["x-stainless-read-timeout"]) == (
        "0",
        "60.0",
    )
    for name in ("lang", "os", "arch", "runtime", "runtime-version"):
        assert headers[f"x-stainless-{name}"]


async def test_a_retry_says_which_it_is(model: OpenAIModel, server: ChatServer) -> None:
    server.push(status=500)
    server.push(status=503)
    await model.generate(ask())
    counts = [r.headers["x-stainless-retry-count"] for r in server.requests]
    assert counts == ["0", "1", "2"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 418, 422, 429, 500, 503])
async def test_status_errors_are_the_sdks_own(server: ChatServer, status: int) -> None:
    sdk = sdk_client(server)
    model = OpenAIModel("m", base_url=server.base_url, api_key="sk-test", max_retries=0)
    try:
        server.push(status=status, message="no such luck")
        with pytest.raises(openai.APIStatusError) as by_sdk:
            await sdk_create(sdk)
        server.push(status=status, message="no such luck")
        with pytest.raises(ModelError) as caught:
            await model.generate(ask())
    finally:
        await sdk.close()
        await model.aclose()
    ours = caught.value.__cause__
    assert isinstance(ours, openai.APIStatusError)
    assert type(ours) is type(by_sdk.value)
    assert str(ours) == str(by_sdk.value) == f"Error code: {status} - no such luck"
    assert ours.body == by_sdk.value.body
    assert ours.request.url == by_sdk.value.request.url
    assert f"HTTP {status}: no such luck" in str(caught.value)


async def test_a_timeout_is_the_sdks_timeout_error(server: ChatServer) -> None:
    model = OpenAIModel("m", base_url=server.base_url, timeout_s=0.2, max_retries=0)
    server.push(delay_s=2.0)
    try:
        with pytest.raises(ModelError, match="timeout") as caught:
            await model.generate(ask())
    finally:
        await model.aclose()
    error = caught.value.__cause__
    assert isinstance(error, openai.APITimeoutError)
    assert isinstance(error.__cause__, httpx2.ReadTimeout)
    assert str(error.request.url) == f"{server.base_url}/chat/completions"


async def test_a_redirect_is_followed_as_the_sdk_does(
    model: OpenAIModel, server: ChatServer
) -> None:
    # The transport does not follow redirects; the SDK's client does, so a 3xx is sent
    # again through the SDK, which follows it to the end.
    location = {"Location": f"{server.base_url}/chat/completions"}
    server.push(status=307, headers=location)
    server.push(status=307, headers=location)
    response = await model.generate(ask())
    assert response.message.content == "echo: hello"
    assert response.failed_attempts == []
    assert server.request_count == 3


# -- retries ------------------------------------------------------------------------------


async def test_429_waits_for_retry_after(model: OpenAIModel, server: ChatServer) -> None:
    server.push(status=429, retry_after=0.2)
    start = time.monotonic()
    response = await model.generate(ask())
    elapsed = time.monotonic() - start
    assert response.message.content == "echo: hello"
    assert 0.2 <= elapsed < 1.0
    [attempt] = response.failed_attempts
    assert attempt.status == 429
    assert attempt.retry_after_s == 0.2
    assert "429" in attempt.error and "scripted error 429" in attempt.error
    assert server.request_count == 2


async def test_429_honours_retry_after_ms(model: OpenAIModel, server: ChatServer) -> None:
    server.push(status=429, retry_after_ms=150, retry_after=30)
    response = await model.generate(ask())
    assert response.failed_attempts[0].retry_after_s == 0.15


async def test_500_then_success(model: OpenAIModel, server: ChatServer) -> None:
    server.push(status=500)
    response = await model.generate(ask(seed=5))
    [attempt] = response.failed_attempts
    assert attempt.status == 500
    # No Retry-After: the wait is the seeded full-jitter draw.
    expected = RetryPolicy(backoff_base_s=0.01).backoff_delay(1, random.Random(5))
    assert attempt.retry_after_s == expected
    assert response.message.content == "echo: hello"


async def test_slow_reply_is_retried_as_a_timeout(server: ChatServer) -> None:
    model = OpenAIModel("m", base_url=server.base_url, timeout_s=0.3, backoff_base_s=0.01)
    server.push(delay_s=3.0)
    try:
        response = await model.generate(ask())
    finally:
        await model.aclose()
    [attempt] = response.failed_attempts
    assert "timeout" in attempt.error
    assert attempt.status is None
    assert 0.25 <= attempt.latency_s < 1.5
    assert response.message.content == "echo: hello"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"malformed": True}, "malformed reply"),
        ({"body": {"id": "x", "object": "chat.completion", "choices": []}}, "no choices"),
        ({"body": {"choices": [{"index": 0, "finish_reason": "stop"}]}}, "no message"),
        ({"drop": True}, "connection error"),
        ({"status": 503, "retry_after": 0}, "HTTP 503"),
        ({"status": 408}, "HTTP 408"),
    ],
)
async def test_retryable_failures(
    model: OpenAIModel, server: ChatServer, fault: dict[str, Any], error: str
) -> None:
    server.push(**fault)
    response = await model.generate(ask())
    [attempt] = response.failed_attempts
    assert error in attempt.error
    assert response.message.content == "echo: hello"


async def test_400_fails_at_once(model: OpenAIModel, server: ChatServer) -> None:
    server.push(status=400, message="unknown parameter 'temprature'")
    with pytest.raises(ModelError) as caught:
        await model.generate(ask())
    error = caught.value
    assert error.status == 400
    assert error.attempts == 1
    text = str(error)
    for part in ("openai:test-model", server.base_url, "400", "unknown parameter", "check"):
        assert part in text
    assert [a.status for a in error.failed_attempts] == [400]  # type: ignore[attr-defined]
    assert server.request_count == 1


async def test_401_advises_on_the_key(model: OpenAIModel, server: ChatServer) -> None:
    server.push(status=401)
    with pytest.raises(ModelError, match="OPENAI_API_KEY"):
        await model.generate(ask())


async def test_all_attempts_fail(server: ChatServer) -> None:
    model = OpenAIModel("m", base_url=server.base_url, max_retries=2, backoff_base_s=0.01)
    for _ in range(3):
        server.push(status=500)
    try:
        with pytest.raises(ModelError) as caught:
            await model.generate(ask())
    finally:
        await model.aclose()
    error = caught.value
    assert (error.status, error.attempts) == (500, 3)
    assert "after 3 attempts" in str(error) and "HTTP 500" in str(error)
    attempts = error.failed_attempts  # type: ignore[attr-defined]
    assert [a.status for a in attempts] == [500, 500, 500]
    assert attempts[0].retry_after_s is not None and attempts[-1].retry_after_s is None
    assert server.request_count == 3


async def test_all_malformed_raises_reply_error(server: ChatServer) -> None:
    model = OpenAIModel("m", base_url=server.base_url, max_retries=1, backoff_base_s=0.01)
    server.push(malformed=True)
    server.push(malformed=True)
    try:
        with pytest.raises(ModelReplyError, match="after 2 attempts"):
            await model.generate(ask())
    finally:
        await model.aclose()


async def test_unreachable_server() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = OpenAIModel(
        "m", base_url=f"http://127.0.0.1:{port}/v1", max_retries=1, backoff_base_s=0.01
    )
    try:
        with pytest.raises(ModelError, match="connection error.*reachable") as caught:
            await model.generate(ask())
    finally:
        await model.aclose()
    assert caught.value.attempts == 2
    assert caught.value.status is None
    error = caught.value.__cause__
    assert type(error) is openai.APIConnectionError  # not its subclass APITimeoutError
    assert isinstance(error.__cause__, httpx2.ConnectError)


# -- connection limit ---------------------------------------------------------------------


async def test_connection_limit_is_honoured() -> None:
    with ChatServer(delay_s=0.1) as server:
        # Queued requests wait longer than timeout_s for a connection: that is no failure.
        model = OpenAIModel("m", base_url=server.base_url, max_connections=2, timeout_s=0.25)
        try:
            start = time.monotonic()
            replies = await asyncio.gather(*(model.generate(ask(f"q{i}")) for i in range(10)))
            elapsed = time.monotonic() - start
        finally:
            await model.aclose()
        assert [r.message.content for r in replies] == [f"echo: q{i}" for i in range(10)]
        assert all(r.failed_attempts == [] for r in replies)
        assert server.peak_connections == 2
        assert server.peak_in_flight == 2
        assert elapsed >= 0.45  # 10 requests, 2 at a time, 0.1 s each


def test_encode_body_is_compact_utf8_json_and_refuses_nan() -> None:
    from palaestra.models._openai_wire import encode_body

    body = {
        "model": "m",
        "messages": [{"role": "user", "content": 'héllo "quoted" \n ✓'}],
        "tools": [{"type": "function", "function": {"parameters": {"a": [1, 2.5, None]}}}],
        "temperature": 0.1,
    }
    expected = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    assert encode_body(body) == expected
    assert json.loads(encode_body(body)) == body
    with pytest.raises(ValueError, match="Out of range float"):
        encode_body({"temperature": float("nan")})
    with pytest.raises(TypeError, match="not JSON serializable"):
        encode_body({"x": object()})


BODIES = [
    {"model": "m", "messages": [{"role": "user", "content": 'héllo "q" \n ✓ \u2028 \x00'}]},
    {"tools": [{"function": {"parameters": {"a": [1, 2.5, -0.0, 1e300, None, True]}}}]},
    {"nested": {"empty": {}, "list": [], "deep": [[[{"k": "v"}]]]}, "n": 2**70},
]


def test_encode_body_is_what_json_dumps_writes() -> None:
    from palaestra.models._openai_wire import encode_body

    for body in BODIES:
        assert (
            encode_body(body)
            == json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        )
    with pytest.raises(ValueError, match="Out of range float"):
        encode_body({"temperature": float("inf")})
    with pytest.raises(TypeError, match="not JSON serializable"):
        encode_body({"x": {1, 2}})
