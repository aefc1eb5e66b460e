"""The OpenAI provider against a real OpenAI-compatible server: llama-cpp-python's own,
serving the embedded SmolLM2-135M (one server for the whole module: loading costs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from palaestra.core import Message, ToolSpec
from palaestra.models._openai import OpenAIModel, build_request
from palaestra.models._protocol import ModelRequest
from palaestra.testing._llama_server import LlamaServer

pytestmark = pytest.mark.llm

WEATHER = ToolSpec(
    name="get_weather",
    description="Get the current weather in a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)


@pytest.fixture(scope="module")
def server() -> Iterator[LlamaServer]:
    with LlamaServer() as running:
        yield running


def client(server: LlamaServer, **options: object) -> OpenAIModel:
    # No retries: a failure here is a bug to see at once, not a blip to wait out.
    return OpenAIModel(server.model, base_url=server.base_url, max_retries=0, **options)  # type: ignore[arg-type]


def weather_question() -> list[Message]:
    return [
        Message(role="system", content="You are a helpful assistant."),
        Message(role="user", content="What is the weather in Paris?"),
    ]


def test_server_exposes_an_openai_base_url(server: LlamaServer) -> None:
    assert server.base_url.startswith("http://127.0.0.1:")
    assert server.base_url.endswith("/v1")
    assert server.model == "smollm2-135m"


async def test_chat_reply_has_text_and_usage(server: LlamaServer) -> None:
    request = ModelRequest(
        messages=[Message(role="user", content="Say hello.")], temperature=0.0, max_tokens=16
    )
    async with client(server) as model:
        reply = await model.generate(request)
    assert isinstance(reply.message.content, str) and reply.message.content.strip()
    assert reply.message.tool_calls == []
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert reply.model == "smollm2-135m"


async def test_tools_get_a_grammar_constrained_tool_call(server: LlamaServer) -> None:
    # chatml-function-calling calls tools only when the request sets `tool_choice`, which
    # OpenAIModel does ("auto"); it then picks "call a tool" vs "answer" greedily and
    # writes the arguments under a grammar made from the tool's JSON schema.
    request = ModelRequest(messages=weather_question(), tools=[WEATHER], max_tokens=32)
    assert build_request(server.model, request)["tool_choice"] == "auto"
    async with client(server) as model:
        reply = await model.generate(request)
    (call,) = reply.message.tool_calls
    assert call.name == "get_weather"
    assert call.id
    assert isinstance(call.arguments.get("city"), str)
    assert reply.finish_reason == "tool_calls"
    assert reply.usage.output_tokens > 0


async def test_tool_choice_none_gets_text(server: LlamaServer) -> None:
    request = ModelRequest(
        messages=weather_question(), tools=[WEATHER], temperature=0.0, max_tokens=16
    )
    async with client(server, extra_body={"tool_choice": "none"}) as model:
        reply = await model.generate(request)
    assert reply.message.tool_calls == []
    assert isinstance(reply.message.content, str) and reply.message.content.strip()


async def test_tool_result_round_trip(server: LlamaServer) -> None:
    # The assistant's tool-call turn (no text) and the tool result go back to the server.
    messages = weather_question()
    async with client(server) as model:
        first = await model.generate(ModelRequest(messages=messages, tools=[WEATHER]))
        (call,) = first.message.tool_calls
        messages += [
            first.message,
            Message(role="tool", content="Sunny, 21 C", tool_call_id=call.id),
        ]
        second = await model.generate(
            ModelRequest(messages=messages, tools=[WEATHER], max_tokens=16)
        )
    assert second.message.tool_calls or second.message.content is not None
    assert second.usage.input_tokens > first.usage.input_tokens


def test_start_failure_shows_the_server_stderr(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"this is not a gguf file")
    with pytest.raises(RuntimeError, match="exited with code") as info:
        with LlamaServer(bogus, startup_timeout_s=30):
            pass
    assert "stderr ends with" in str(info.value)
    assert len(str(info.value)) > 200  # the tail itself is there
