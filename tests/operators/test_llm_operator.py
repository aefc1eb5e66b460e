"""The LLM operator: own tools run inside a turn (bounded), environment tools end it,
every call is recorded with parent links; plus the scripted, function and human
operators."""

from __future__ import annotations

import io

import pytest

from palaestra.core import Action, Message, Observation, ToolSpec
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.operators import (
    FunctionOperator,
    HumanOperator,
    LLMOperator,
    RecordedModel,
    ScriptedOperator,
)
from palaestra.operators._simple import parse_human_line
from palaestra.runtime import AgentContext, EpisodeRecorder
from palaestra.runtime._recorder import row_event
from palaestra.tools import tool


@tool
def lookup(city: str) -> str:
    """Weather in a city."""
    if city == "Atlantis":
        raise LookupError("no such city")
    return f"sunny in {city}"


SUBMIT = ToolSpec(
    name="submit",
    description="Submit the answer.",
    parameters={"type": "object", "properties": {"answer": {"type": "string"}}},
)


def _ctx(rec: EpisodeRecorder, step: int = 0) -> AgentContext:
    from palaestra.core import ObservationEvent

    handle = rec.emit(step, "a", ObservationEvent(observation=Observation(text="obs")))
    return AgentContext(rec, "a", step, handle)


def _flushed(rec: EpisodeRecorder, ctx: AgentContext):
    rec.flush_turn(ctx)
    return [row_event(row) for row in rec.drain()]


async def test_own_tools_loop_then_env_tool_ends_turn():
    model = ScriptedModel(
        [
            ScriptedModel.call("lookup", city="Paris"),
            ScriptedModel.call("lookup", city="Atlantis"),
            ScriptedModel.call("submit", answer="sunny"),
        ]
    )
    op = LLMOperator(model, tools=[lookup])
    rec = EpisodeRecorder("ep", run_seed=0)
    ctx = _ctx(rec)
    action = await op.act(Observation(text="What's the weather?", tools=[SUBMIT]), ctx)
    assert [c.name for c in action.tool_calls] == ["submit"]
    assert action.tool_calls[0].arguments == {"answer": "sunny"}
    events = _flushed(rec, ctx)
    kinds = [e.kind for e in events]
    assert kinds == [
        "observation",
        "model_request",
        "model_response",
        "tool_call",
        "tool_result",
        "model_request",
        "model_response",
        "tool_call",
        "tool_result",
        "model_request",
        "model_response",
    ]
    results = [e for e in events if e.kind == "tool_result"]
    assert results[0].payload.content == "sunny in Paris" and not results[0].payload.is_error
    assert results[1].payload.is_error and "LookupError" in results[1].payload.content
    # nesting: observation > request > response > tool_call > tool_result
    call = events[3]
    assert events[call.parent].kind == "model_response"
    assert events[events[call.parent].parent].kind == "model_request"
    assert events[4].parent == call.seq
    # the failed tool's message went back to the model
    third_request = [e for e in events if e.kind == "model_request"][2]
    assert "LookupError" in third_request.payload.messages[-1].content
    assert [t.name for t in third_request.payload.tools] == ["lookup", "submit"]


async def test_tool_rounds_are_bounded():
    model = ScriptedModel([ScriptedModel.call("lookup", city="Rome")], cycle=True)
    op = LLMOperator(model, tools=[lookup], max_tool_rounds=3)
    rec = EpisodeRecorder("ep", run_seed=0)
    ctx = _ctx(rec)
    action = await op.act(Observation(text="loop forever"), ctx)
    assert action.tool_calls == [] and action.text == ""
    assert [e.kind for e in _flushed(rec, ctx)].count("model_request") == 3


async def test_unknown_tool_becomes_an_error_the_model_sees():
    model = ScriptedModel([ScriptedModel.call("teleport", to="Mars"), "fine"])
    op = LLMOperator(model, tools=[lookup])
    rec = EpisodeRecorder("ep", run_seed=0)
    ctx = _ctx(rec)
    action = await op.act(Observation(text="go"), ctx)
    assert action.text == "fine"
    result = next(e for e in _flushed(rec, ctx) if e.kind == "tool_result")
    assert result.payload.is_error and "unknown tool 'teleport'" in result.payload.content


async def test_history_kept_across_turns_and_fork_is_fresh():
    model = ScriptedModel(["one", "two"], cycle=True)
    op = LLMOperator(model, system_prompt="be brief", temperature=0.3, max_tokens=7)
    rec = EpisodeRecorder("ep", run_seed=0)
    await op.act(Observation(text="first"), _ctx(rec, 0))
    ctx = _ctx(rec, 1)
    await op.act(Observation(text="second"), ctx)
    request = [e for e in _flushed(rec, ctx) if e.kind == "model_request"][-1].payload
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "user"]
    assert request.messages[0].content == "be brief"
    assert request.params["temperature"] == 0.3 and request.params["max_tokens"] == 7
    assert "seed" in request.params
    fresh = op.fork()
    assert fresh._history == [] and fresh.model is model


async def test_seeds_derive_from_run_seed_episode_and_agent():
    seen: list[int] = []

    def reply(request):
        seen.append(request.seed)
        return "ok"

    for run_seed in (0, 0, 1):
        op = LLMOperator(ScriptedModel(fn=reply))
        await op.act(Observation(text="x"), _ctx(EpisodeRecorder("ep", run_seed=run_seed)))
    assert seen[0] == seen[1] != seen[2]


async def test_env_tool_results_come_back_as_tool_messages():
    model = ScriptedModel([ScriptedModel.call("submit", answer="x"), "done"])
    op = LLMOperator(model)
    rec = EpisodeRecorder("ep", run_seed=0)
    first = await op.act(Observation(text="start", tools=[SUBMIT]), _ctx(rec, 0))
    call_id = first.tool_calls[0].id
    ctx = _ctx(rec, 1)
    obs = Observation(
        text="[submit] accepted",
        messages=[Message(role="tool", content="accepted", tool_call_id=call_id)],
    )
    await op.act(obs, ctx)
    last = [e for e in _flushed(rec, ctx) if e.kind == "model_request"][-1].payload.messages
    assert last[-2].tool_calls[0].id == call_id
    assert last[-1].role == "tool" and last[-1].tool_call_id == call_id


async def test_scripted_and_function_operators():
    rec = EpisodeRecorder("ep", run_seed=0)
    op = ScriptedOperator(["a", {"tool_calls": [{"id": "1", "name": "submit"}]}])
    assert (await op.act(Observation(), _ctx(rec))).text == "a"
    assert (await op.act(Observation(), _ctx(rec))).tool_calls[0].name == "submit"
    assert (await op.act(Observation(), _ctx(rec))).tool_calls[0].name == "submit"
    strict = ScriptedOperator(["only"], repeat_last=False)
    await strict.act(Observation(), _ctx(rec))
    with pytest.raises(IndexError, match="ran out of its 1 scripted actions"):
        await strict.act(Observation(), _ctx(rec))

    async def echo(observation, ctx):
        return f"{ctx.agent} saw {observation.text}"

    assert (await FunctionOperator(echo).act(Observation(text="hi"), _ctx(rec))).text == "a saw hi"
    with pytest.raises(TypeError, match="must return an Action"):
        await FunctionOperator(lambda o, c: 42).act(Observation(), _ctx(rec))


async def test_human_operator_reads_text_and_tool_calls():
    out = io.StringIO()
    op = HumanOperator(
        stdin=io.StringIO('hello there\n/call submit {"answer": "42"}\n'), stdout=out
    )
    rec = EpisodeRecorder("ep", run_seed=0)
    first = await op.act(Observation(text="Say something", tools=[SUBMIT]), _ctx(rec))
    assert first.text == "hello there"
    assert "Say something" in out.getvalue() and "submit" in out.getvalue()
    second = await op.act(Observation(text="Now submit"), _ctx(rec))
    assert second.tool_calls[0].name == "submit"
    assert second.tool_calls[0].arguments == {"answer": "42"}
    assert parse_human_line("/call submit {oops").tool_calls[0].arguments == {"__raw__": "{oops"}


async def test_a_recorded_model_gives_a_users_operator_the_llm_operators_records():
    """`RecordedModel` has the `Model` interface and records what it passes on: a
    hand-written operator calling it gets the same events, with the same parent links,
    as the LLM operator's own calls."""

    class Echo:
        def __init__(self, model):
            self.model = model

        async def act(self, observation, ctx):
            model = RecordedModel(self.model, ctx)
            assert model.name == self.model.name and model.response_event is None
            reply = await model.generate(
                ModelRequest(messages=[Message(role="user", content=observation.text)])
            )
            return Action(text=reply.message.content or "")

    kinds_parents = []
    for operator in (Echo(ScriptedModel(["hi"])), LLMOperator(ScriptedModel(["hi"]))):
        rec = EpisodeRecorder("ep", run_seed=0)
        ctx = _ctx(rec)
        action = await operator.act(Observation(text="say hi"), ctx)
        assert action.text == "hi"
        events = _flushed(rec, ctx)
        request, response = [e for e in events if e.kind.startswith("model_")]
        assert (request.kind, response.kind) == ("model_request", "model_response")
        assert response.parent == request.seq and request.parent == ctx.turn_event
        assert response.payload.message.content == "hi"
        kinds_parents.append([(e.kind, e.parent) for e in events])
    assert kinds_parents[0] == kinds_parents[1]
