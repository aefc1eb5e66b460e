"""The transport's one re-send (a reused keep-alive connection that closed without a byte
of reply) is reported, never silent: on the transport's results and errors, through the
SDK's wrapping, and by `OpenAIModel` as an attempt of its own, marked `resent`. Real
sockets: `ChatServer`, and the raw scripted server of `test_transport`."""

from __future__ import annotations

import time

import httpx2
import openai
import pytest

from palaestra.core import Message, ModelError, ModelReplyError
from palaestra.models import ModelRequest, OpenAIModel
from palaestra.models._transport import RESENT_EXTENSION, PooledTransport, Resend, resent_of
from palaestra.testing import ChatServer
from tests.models.test_transport import CHAT, raw_server, response

DATA = b"POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s"


def _post(body: bytes) -> bytes:
    return DATA % (len(body), body)


def _key(url: str) -> tuple[bytes, bytes, int]:
    return (b"http", b"127.0.0.1", int(url.rsplit(":", 1)[1].split("/", 1)[0]))


async def test_send_bytes_reports_the_resend_on_its_result() -> None:
    with ChatServer() as server:
        transport = PooledTransport()
        body = b'{"messages": [{"role": "user", "content": "hi"}]}'
        first = await transport.send_bytes(_key(server.url), _post(body), {"read": 5.0})
        server.push(drop=True)  # read on the pooled connection, then hung up on
        before = time.monotonic()
        second = await transport.send_bytes(_key(server.url), _post(body), {"read": 5.0})
        await transport.aclose()
        seen = server.request_count
    assert first.resent is None and resent_of(first) is None
    assert second.status == 200 and isinstance(second.resent, Resend)
    assert "without sending a response on a reused keep-alive connection" in second.resent.error
    assert before <= second.resent.failed_at <= time.monotonic()
    assert seen == 3  # the dropped send reached the server: it is the reported one


async def test_a_failed_resend_carries_the_first_send_on_its_error() -> None:
    replies = [response(b"ok"), None, None]  # answered; then dropped, and dropped again
    async with raw_server(lambda i: replies[i]) as raw:
        transport = PooledTransport()
        get = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
        assert (await transport.send_bytes(_key(raw.url), get, {})).content == b"ok"
        with pytest.raises(httpx2.RemoteProtocolError) as caught:
            await transport.send_bytes(_key(raw.url), get, {})
        await transport.aclose()
    assert isinstance(resent_of(caught.value), Resend)
    assert len(raw.requests) == 3


async def test_the_sdk_path_reports_resends_in_responses_and_errors() -> None:
    # answered; dropped then answered; dropped then dropped; answered; dropped then a 503
    ok, busy = response(b"{}"), response(b'{"error": {"message": "busy"}}', status="503 Busy")
    replies = [ok, None, ok, None, None, ok, None, busy]
    async with raw_server(lambda i: replies[i]) as raw:
        http = httpx2.AsyncClient(transport=PooledTransport(), timeout=5.0)
        sdk = openai.AsyncOpenAI(api_key="k", base_url=raw.url, max_retries=0, http_client=http)
        async with sdk:
            first = await sdk.post("/chat/completions", body=CHAT, cast_to=httpx2.Response)
            assert resent_of(first) is None
            again = await sdk.post("/chat/completions", body=CHAT, cast_to=httpx2.Response)
            assert isinstance(again.extensions[RESENT_EXTENSION], Resend)
            with pytest.raises(openai.APIConnectionError) as dropped:
                await sdk.post("/chat/completions", body=CHAT, cast_to=httpx2.Response)
            assert isinstance(resent_of(dropped.value), Resend)
            await sdk.post("/chat/completions", body=CHAT, cast_to=httpx2.Response)
            with pytest.raises(openai.APIStatusError) as status:
                await sdk.post("/chat/completions", body=CHAT, cast_to=httpx2.Response)
            assert status.value.status_code == 503
            assert isinstance(resent_of(status.value), Resend)
    assert len(raw.requests) == len(replies)


def _request() -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", content="hi")], seed=1)


async def test_openai_model_records_the_resend_as_an_attempt() -> None:
    with ChatServer() as server:
        model = OpenAIModel("m", base_url=server.base_url, backoff_base_s=0.01)
        try:
            assert not (await model.generate(_request())).failed_attempts
            server.push(drop=True)
            reply = await model.generate(_request())
        finally:
            await model.aclose()
        seen = server.request_count
    assert reply.message.content == "echo: hi"
    [attempt] = reply.failed_attempts
    assert attempt.resent and attempt.retry_after_s == 0.0 and attempt.status is None
    assert attempt.error.startswith("connection error: ") and "sent again" in attempt.error
    assert seen == 1 + len(reply.failed_attempts) + 1


@pytest.mark.parametrize(
    ("after", "error", "text"),
    [
        ({"status": 503}, ModelError, "HTTP 503"),
        ({"malformed": True}, ModelReplyError, "not"),
        ({"drop": True}, ModelError, "connection error"),
    ],
)
async def test_a_resend_that_fails_is_two_attempts_of_the_error(
    after: dict[str, object], error: type[ModelError], text: str
) -> None:
    with ChatServer() as server:
        model = OpenAIModel("m", base_url=server.base_url, max_retries=0)
        try:
            await model.generate(_request())
            server.push(drop=True)
            server.push(**after)  # type: ignore[arg-type]
            with pytest.raises(error) as caught:
                await model.generate(_request())
        finally:
            await model.aclose()
        seen = server.request_count
    first, second = caught.value.failed_attempts
    assert first.resent and not second.resent  # type: ignore[attr-defined]
    assert text in second.error  # type: ignore[attr-defined]
    assert caught.value.attempts == 2 and "after 2 attempts" in str(caught.value)
    assert seen == 3
