"""OpenTelemetry GenAI export on real stored runs, through the SDK's in-memory exporter:
span names, gen_ai attributes, nesting by the log's parent links, counts equal to the
log's."""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from palaestra.core import UserError
from palaestra.store import Store, export_otel
from tests.store.export_runs import Runs, shared_runs

NS = 1_000_000_000


@pytest.fixture(scope="module")
def runs() -> Runs:
    return shared_runs()


@pytest.fixture
def source(runs: Runs):
    with Store(runs.store_path) as store:
        yield store


def _spans(store, run_id, **options):
    exporter = InMemorySpanExporter()
    count = export_otel(store, run_id, exporter=exporter, **options)
    spans = exporter.get_finished_spans()
    assert count == len(spans)
    return spans


def _op(span):
    return span.attributes["gen_ai.operation.name"]


def test_counts_names_and_nesting_equal_the_log(source, runs):
    spans = _spans(source, runs.llm)
    events = list(source.iter_events(runs.llm))
    by_id = {s.context.span_id: s for s in spans}
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == len(source.episodes(runs.llm))
    assert {r.name for r in roots} == {"invoke_workflow tooluse.store"}
    assert len({s.context.trace_id for s in spans}) == len(roots)  # one trace per episode

    chats = [s for s in spans if _op(s) == "chat"]
    tools = [s for s in spans if _op(s) == "execute_tool"]
    agents = [s for s in spans if _op(s) == "invoke_agent"]
    assert len(chats) == sum(e.kind == "model_request" for e in events)
    assert len(agents) == sum(e.kind == "observation" for e in events)
    env_calls = [c for e in events if e.kind == "action" for c in e.payload.action.tool_calls]
    assert len(tools) == len(env_calls) + sum(e.kind == "tool_call" for e in events)
    assert [t.attributes["gen_ai.tool.call.id"] for t in tools] == [c.id for c in env_calls]
    for span in chats + tools:
        parent = by_id[span.parent.span_id]
        assert _op(parent) == "invoke_agent"
        assert parent.attributes["gen_ai.agent.name"] == "agent"
        assert parent.start_time <= span.start_time and span.end_time <= parent.end_time
    for span in agents:
        assert by_id[span.parent.span_id].parent is None  # turns hang under the episode


def test_chat_span_attributes_are_the_calls(source, runs):
    spans = _spans(source, runs.llm)
    events = list(source.iter_events(runs.llm))
    responses = [e for e in events if e.kind == "model_response"]
    requests = [e for e in events if e.kind == "model_request"]
    chats = sorted((s for s in spans if _op(s) == "chat"), key=lambda s: s.start_time)
    for span, request, response in zip(chats, requests, responses, strict=True):
        a = span.attributes
        assert span.name == "chat scripted"
        assert a["gen_ai.provider.name"] == "palaestra.scripted"
        assert a["gen_ai.request.model"] == "scripted"
        assert a["gen_ai.response.model"] == response.payload.model
        assert a["gen_ai.usage.input_tokens"] == response.payload.usage.input_tokens
        assert a["gen_ai.usage.output_tokens"] == response.payload.usage.output_tokens
        assert tuple(a["gen_ai.response.finish_reasons"]) == (response.payload.finish_reason,)
        assert a["gen_ai.request.seed"] == request.payload.params["seed"]
        assert span.start_time == int(request.time * NS)
        assert span.end_time == int(response.time * NS)
        assert "gen_ai.input.messages" not in a  # content is opt-in
        assert "gen_ai.tool.call.arguments" not in a
    root = next(s for s in spans if s.parent is None)
    assert root.attributes["palaestra.run_id"] == runs.llm
    names = [e.name for e in root.events]
    assert "gen_ai.evaluation.result" in names and "palaestra.env_step" in names


def test_content_is_opt_in(source, runs):
    spans = _spans(source, runs.llm, content=True)
    chat = next(s for s in spans if _op(s) == "chat")
    messages = json.loads(chat.attributes["gen_ai.input.messages"])
    assert messages[0]["role"] == "user"
    assert "lucas.iyer76" in messages[0]["parts"][0]["content"]
    system = json.loads(chat.attributes["gen_ai.system_instructions"])
    assert system[0]["type"] == "text"
    output = json.loads(chat.attributes["gen_ai.output.messages"])
    assert output[0]["parts"][0]["type"] == "tool_call"
    tool = next(s for s in spans if _op(s) == "execute_tool")
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {
        "email": "lucas.iyer76@example.com"
    }
    assert tool.attributes["gen_ai.tool.call.result"] == "lucas_iyer_2376"


def test_system_members_and_delegations_nest_by_parent_links(source, runs):
    spans = _spans(source, runs.system)
    by_id = {s.context.span_id: s for s in spans}
    agents = {s.attributes["gen_ai.agent.name"]: s for s in spans if _op(s) == "invoke_agent"}
    assert set(agents) == {"agent", "agent/q1_solver", "agent/q2_solver"}
    for member in ("agent/q1_solver", "agent/q2_solver"):
        parent = by_id[agents[member].parent.span_id]
        assert parent is agents["agent"]  # consulted within the orchestrator's turn
        (chat,) = [
            s for s in spans if s.parent and s.parent.span_id == agents[member].context.span_id
        ]
        assert chat.name.startswith("chat scripted[q")
    delegations = [s for s in spans if s.name.startswith("execute_tool delegate_to_")]
    assert len(delegations) == 2
    for span in delegations:
        assert _op(by_id[span.parent.span_id]) == "chat"  # the call that asked for it
        assert span.attributes["gen_ai.tool.type"] == "function"
    events = list(source.iter_events(runs.system))
    assert len([s for s in spans if _op(s) == "chat"]) == sum(
        e.kind == "model_request" for e in events
    )


def test_baseline_without_model_has_agent_and_tool_spans(source, runs):
    spans = _spans(source, runs.baseline)
    assert not [s for s in spans if _op(s) == "chat"]
    tools = [s for s in spans if _op(s) == "execute_tool"]
    assert tools and all(s.attributes["palaestra.tool.executor"] == "environment" for s in tools)
    agent = next(s for s in spans if _op(s) == "invoke_agent")
    assert agent.attributes["gen_ai.provider.name"] == "palaestra"
    assert agent.attributes["gen_ai.agent.description"] == "ground-truth"


def test_export_failures_are_reported(source, runs):
    class Refusing(InMemorySpanExporter):
        def export(self, spans):
            return SpanExportResult.FAILURE

    with pytest.raises(UserError, match="could not be sent"):
        export_otel(source, runs.code, exporter=Refusing())
    with pytest.raises(UserError, match="no run"):
        export_otel(source, "missing", exporter=InMemorySpanExporter())
