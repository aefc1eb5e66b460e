"""Pipeline (MetaGPT SOP): valid outputs flow to the next stage as JSON; a schema
violation is re-asked once with the errors; a second one fails the stage with a message
event and a clear final action, and the episode goes on to be scored."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from palaestra.core import UserError
from palaestra.models import ScriptedModel
from palaestra.operators import FunctionOperator, LLMOperator
from palaestra.systems import Pipeline, Recursive, Stage
from palaestra.systems._json_reply import NoJSON, find_json, parse_yes_no
from tests.systems.conftest import PlayFn, QuestionEnv


class Spec(BaseModel):
    goal: str
    factors: list[int]


class Answer(BaseModel):
    answer: str
    confidence: float = 1.0


def _llm(*replies: str, name: str = "scripted") -> LLMOperator:
    return LLMOperator(ScriptedModel(list(replies), name=name))


async def test_valid_outputs_flow_to_the_next_stages(play: PlayFn):
    pipeline = Pipeline(
        [
            Stage(
                "analyst",
                _llm('Sure:\n```json\n{"goal": "multiply", "factors": [6, 7]}\n```', name="m1"),
                Spec,
                "Extract the factors.",
            ),
            Stage("engineer", _llm("6*7 = 42", name="m2"), instructions="Compute."),
            Stage("reviewer", _llm('{"answer": "42"}', name="m3"), Answer),
        ]
    )
    played = await play(pipeline)
    assert played.success
    assert played.talk() == [
        ("agent", ["agent/analyst"], None),
        ("agent/analyst", ["agent"], None),
        ("agent", ["agent/engineer"], None),
        ("agent/engineer", ["agent"], None),
        ("agent", ["agent/reviewer"], None),
        ("agent/reviewer", ["agent"], None),
    ]
    first = played.last_user_text("agent/analyst")
    assert first.startswith("What is 6 times 7?")
    assert "You are stage 'analyst' (1 of 3). Extract the factors." in first
    assert json.dumps(Spec.model_json_schema(), separators=(",", ":")) in first
    second = played.last_user_text("agent/engineer")
    assert "Outputs of the previous stages (JSON):" in second
    assert json.loads(second.split("(JSON):\n")[1].split("\n\nYou are")[0]) == {
        "analyst": {"goal": "multiply", "factors": [6, 7]}
    }
    third = played.last_user_text("agent/reviewer")
    previous = json.loads(third.split("(JSON):\n")[1].split("\n\nYou are")[0])
    assert previous == {"analyst": {"goal": "multiply", "factors": [6, 7]}, "engineer": "6*7 = 42"}
    action = played.actions()[0]
    assert action.text == "42" and action.data == {"answer": "42", "confidence": 1.0}
    # each stage on its own model; only the last free-text stage would see env tools
    assert [played.requests(f"agent/{s}")[0].model for s in ("analyst", "engineer")] == [
        "m1",
        "m2",
    ]
    assert all(not played.requests(f"agent/{s}")[0].tools for s in ("analyst", "reviewer"))


async def test_a_violation_is_reasked_once_with_the_errors(play: PlayFn):
    analyst = _llm(
        '{"goal": "multiply", "factors": "six and seven"}', '{"goal": "m", "factors": [6, 7]}'
    )
    pipeline = Pipeline(
        [Stage("analyst", analyst, Spec), Stage("reviewer", _llm('{"answer": "42"}'), Answer)]
    )
    played = await play(pipeline)
    to_analyst = [m.content for m in played.messages() if m.recipients == ["agent/analyst"]]
    assert len(to_analyst) == 2
    assert "did not match the schema of stage 'analyst'" in to_analyst[1]
    assert "- factors: Input should be a valid list" in to_analyst[1]
    # the re-ask continues the stage's conversation
    roles = [m.role for m in played.requests("agent/analyst")[1].messages]
    assert roles == ["system", "user", "assistant", "user"]
    reviewer = played.last_user_text("agent/reviewer")
    previous = json.loads(reviewer.split("(JSON):\n")[1].split("\n\nYou are")[0])
    assert previous == {"analyst": {"goal": "m", "factors": [6, 7]}}  # the valid retry
    assert played.success and played.actions()[0].text == "42"


async def test_a_second_violation_fails_the_stage_and_the_episode_goes_on(play: PlayFn):
    never = FunctionOperator(lambda o, c: "never asked", name="never")
    pipeline = Pipeline(
        [
            Stage("analyst", _llm("I think it is 42.", '{"goal": 3}'), Spec),
            Stage("reviewer", never, Answer),
        ]
    )
    played = await play(pipeline)
    assert played.end.reason == "done" and not played.success
    assert [e.kind for e in played.events[-3:]] == ["env_step", "score", "episode_end"]
    failure = played.messages()[-1]
    assert failure.sender == "agent/analyst" and failure.recipients == ["agent"]
    assert failure.content.startswith(
        "Stage 'analyst' failed: its output did not match schema Spec"
    )
    assert "goal: Input should be a valid string" in failure.content
    assert "factors: Field required" in failure.content
    first_reask = [m.content for m in played.messages() if m.recipients == ["agent/analyst"]][1]
    assert "- no JSON object found in the reply" in first_reask
    action = played.actions()[0]
    assert action.text.startswith("Pipeline failed at stage 'analyst'")
    assert "factors: Field required" in action.text
    assert all("agent/reviewer" not in m.recipients for m in played.messages())


async def test_last_free_text_stage_may_call_env_tools(play: PlayFn):
    last = LLMOperator(ScriptedModel([ScriptedModel.call("lookup", key="q"), "42"], cycle=True))
    pipeline = Pipeline([Stage("plan", _llm("look q up", "look q up")), Stage("act", last)])
    played = await play(pipeline, QuestionEnv(facts={"q": "42"}))
    first, second = played.actions()
    assert [c.name for c in first.tool_calls] == ["lookup"] and second.text == "42"
    assert [t.name for t in played.requests("agent/act")[0].tools] == ["lookup"]
    assert played.requests("agent/plan")[0].tools == []
    assert played.success


async def test_a_stage_may_be_a_system(play: PlayFn):
    solver = Recursive(
        atomizer=FunctionOperator(lambda o, c: "yes"),
        planner=FunctionOperator(lambda o, c: "-"),
        executor=_llm('{"answer": "42", "confidence": 0.5}'),
        aggregator=FunctionOperator(lambda o, c: "-"),
    )
    played = await play(Pipeline([Stage("solve", solver, Answer)]))
    assert ("agent/solve/root", ["agent/solve/root/executor"], None) in played.talk()
    assert played.actions()[0].data == {"answer": "42", "confidence": 0.5}
    assert played.events[0].payload.operators["agent"] == (
        "pipeline(solve:Answer=recursive(max_depth=2; atomizer=function:<lambda>, "
        "planner=function:<lambda>, executor=llm:scripted, aggregator=function:<lambda>))"
    )


async def test_schema_without_answer_field_gives_the_whole_object(play: PlayFn):
    played = await play(
        Pipeline([Stage("s", _llm('{"goal": "g", "factors": [1]}'), Spec)]),
        QuestionEnv(answer='{"goal":"g","factors":[1]}'),
    )
    assert played.actions()[0].text == '{"goal":"g","factors":[1]}' and played.success


def test_json_reading_is_tolerant():
    assert find_json('Plan: [1, 2] and {"a": {"b": 1}} end', dict) == {"a": {"b": 1}}
    assert find_json("```json\n[3]\n```", list) == [3]
    with pytest.raises(NoJSON, match="no JSON object"):
        find_json('{"a": 1', dict)
    assert parse_yes_no('{"atomic": false}', "atomic") is False
    assert parse_yes_no("Yes, it is simple.", "atomic") is True
    assert parse_yes_no("Atomic.", "atomic") is True
    assert parse_yes_no("Not atomic: split it", "atomic") is False
    assert parse_yes_no("Hmm", "atomic") is None


def test_bad_parameters_are_user_errors():
    op = FunctionOperator(lambda o, c: "x")
    with pytest.raises(UserError, match="at least one stage"):
        Pipeline([])
    with pytest.raises(UserError, match=r"repeated: \['a'\]"):
        Pipeline([Stage("a", op), Stage("a", op)])
    with pytest.raises(UserError, match="without '/'"):
        Stage("a/b", op)
    with pytest.raises(UserError, match="schema must be a pydantic BaseModel"):
        Stage("a", op, dict)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="must have an `act` method"):
        Stage("a", "op")  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"stages\[0\] is a str"):
        Pipeline(["a"])  # type: ignore[list-item]
