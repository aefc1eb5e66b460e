"""model_from_spec: every spec form, options, and the errors for bad specs."""

from __future__ import annotations

import pytest

from palaestra.core import Message, UserError
from palaestra.models._embedded import LocalModel
from palaestra.models._openai import OpenAIModel
from palaestra.models._protocol import Model, ModelRequest
from palaestra.models._scripted import ScriptedModel
from palaestra.models._spec import model_from_spec


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.mark.parametrize("spec", ["local:smollm2-135m", "local", "  local:smollm2-135m "])
def test_local_specs(spec: str) -> None:
    model = model_from_spec(spec, n_ctx=512)
    assert isinstance(model, LocalModel)
    assert isinstance(model, Model)
    assert model.name == "local:smollm2-135m"


def test_openai_spec_takes_base_url_from_argument_or_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = model_from_spec("openai:qwen2.5-7b", base_url="http://localhost:8000/v1")
    assert isinstance(model, OpenAIModel)
    assert model.name == "openai:qwen2.5-7b"
    assert model.url.startswith("http://localhost:8000/v1")

    monkeypatch.setenv("OPENAI_BASE_URL", "http://gpu-box:9000/v1")
    from_env = model_from_spec("openai:llama3")
    assert isinstance(from_env, OpenAIModel)
    assert from_env.url.startswith("http://gpu-box:9000/v1")


def test_openai_spec_passes_options() -> None:
    model = model_from_spec("openai:gpt-4o-mini", api_key="sk-test", max_connections=3)
    assert isinstance(model, OpenAIModel)
    assert model.max_connections == 3


def test_bare_name_with_base_url_is_openai_compatible() -> None:
    model = model_from_spec("mistral-7b", base_url="http://127.0.0.1:8080/v1")
    assert isinstance(model, OpenAIModel)
    assert model.name == "openai:mistral-7b"


async def test_scripted_spec_answers_a_fixed_text() -> None:
    request = ModelRequest(messages=[Message(role="user", content="anything")], agent="a")
    model = model_from_spec("scripted")
    assert isinstance(model, ScriptedModel) and model.name == "scripted"
    replies = [(await model.generate(request)).message.content for _ in range(3)]
    assert replies == ["ok", "ok", "ok"]
    custom = model_from_spec("scripted:I pass.")
    assert (await custom.generate(request)).message.content == "I pass."


@pytest.mark.parametrize(
    ("spec", "kwargs", "fragments"),
    [
        ("anthropic:claude", {}, ["unknown model spec 'anthropic:claude'", "local:smollm2-135m"]),
        ("gpt-4o", {}, ["did you mean openai:gpt-4o", "valid forms"]),
        ("", {}, ["empty model spec"]),
        ("openai:", {}, ["lacks a model name"]),
        ("local:llama-70b", {}, ["unknown local model 'llama-70b'", "local:smollm2-135m"]),
        ("local", {"base_url": "http://x/v1"}, ["takes no base_url"]),
        ("local", {"n_gpu": 3}, ["unknown option(s) n_gpu", "n_ctx"]),
        ("openai:m", {"base_url": "http://x/v1", "temp": 1}, ["unknown option(s) temp"]),
    ],
)
def test_bad_specs_are_user_errors(spec: str, kwargs: dict, fragments: list[str]) -> None:
    with pytest.raises(UserError) as info:
        model_from_spec(spec, **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value)
