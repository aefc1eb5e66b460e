"""Whole runs against real OpenAI-compatible servers on 127.0.0.1: the scriptable test
server (faults on demand: every retry visible in the log) and llama-cpp-python's own
server running the embedded model."""

from __future__ import annotations

import pytest

import palaestra
from palaestra.runtime import Experiment, Job, LLMOperatorConfig, ModelConfig
from palaestra.store import Store
from palaestra.testing import ChatServer


def _experiment(url: str, **model: object) -> Experiment:
    return Experiment(
        models={"remote": ModelConfig(spec="openai:test", base_url=url, **model)},
        jobs=[Job(env="test.counter", operator=LLMOperatorConfig(model="remote"), max_steps=2)],
    )


def test_retries_are_visible_in_the_log(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with ChatServer(reply="DONE") as server:
        server.push(status=429, retry_after=0.1)
        server.push(status=500)
        result = palaestra.run(_experiment(server.base_url), store=tmp_path / "db")
        assert server.request_count == 3
    (row,) = result.episodes
    assert row.outcome == "failure" and row.reason == "done"
    with Store(tmp_path / "db") as store:
        events = store.events(result.run_id, row.episode_id)
    responses = [e for e in events if e.kind == "model_response"]
    assert [r.payload.attempt for r in responses] == [1, 2, 3]
    assert "429" in responses[0].payload.error and responses[0].payload.retry_after_s >= 0.1
    assert "500" in responses[1].payload.error
    assert responses[2].payload.error is None and responses[2].payload.message.content == "DONE"
    request = next(e for e in events if e.kind == "model_request")
    assert all(r.parent == request.seq for r in responses)


def test_provider_failing_for_good_ends_episode_with_error(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with ChatServer(reply="DONE") as server:
        for _ in range(3):
            server.push(status=503)
        experiment = _experiment(server.base_url, max_retries=2)
        result = palaestra.run(experiment, store=tmp_path / "db")
    (row,) = result.episodes
    assert row.outcome == "error" and "503" in row.error
    with Store(tmp_path / "db") as store:
        events = store.events(result.run_id, row.episode_id)
    failed = [e for e in events if e.kind == "model_response"]
    assert len(failed) == 3 and all(e.payload.error for e in failed)
    assert events[-1].kind == "episode_end"


@pytest.mark.timeout(300)  # starts llama-cpp-python's server and runs the model
@pytest.mark.llm
@pytest.mark.slow
def test_embedded_model_through_llama_cpp_server(tmp_path, monkeypatch):
    """A real server and a real model: chat and usage recorded over HTTP, end to end."""
    from palaestra.testing import LlamaServer

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with LlamaServer() as server:
        experiment = Experiment(
            models={
                "llama": ModelConfig(
                    spec=f"openai:{server.model}",
                    base_url=server.base_url,
                    max_tokens=16,
                    temperature=0.0,
                    max_retries=0,
                )
            },
            jobs=[
                Job(
                    env="graph.coloring",
                    params={"n": 4, "rounds": 1},
                    operator=LLMOperatorConfig(model="llama"),
                )
            ],
        )
        result = palaestra.run(experiment, store=tmp_path / "db")
    (row,) = result.episodes
    assert row.outcome in ("success", "failure"), row.error
    assert row.input_tokens > 0 and row.output_tokens > 0
    with Store(tmp_path / "db") as store:
        events = store.events(result.run_id, row.episode_id)
    replies = [e for e in events if e.kind == "model_response"]
    assert replies and all(e.payload.error is None for e in replies)
    assert all(e.payload.usage.output_tokens > 0 for e in replies)
