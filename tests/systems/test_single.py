"""`Single`: the baseline system records exactly what its member alone records."""

from __future__ import annotations

import pytest

from palaestra.core import Message, ToolCall, UserError
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.operators import LLMOperator
from palaestra.systems import Independent, Single
from tests.systems.conftest import PlayFn, QuestionEnv


def member() -> LLMOperator:
    return LLMOperator(ScriptedModel([ScriptedModel.call("lookup", key="k"), "42"], name="m"))


def shape(played) -> list[tuple[str, str, int | None, str]]:
    """Every event but episode_start, without wall-clock fields."""
    return [(e.agent, e.kind, e.parent, e.payload.model_dump_json()) for e in played.events[1:]]


async def test_single_logs_what_the_member_alone_logs(play: PlayFn):
    env = QuestionEnv(facts={"k": "42"})
    alone = await play(member(), env)
    single = await play(Single(member()), QuestionEnv(facts={"k": "42"}))

    assert shape(single) == shape(alone)
    assert single.success and [len(single.requests("agent"))] == [2]
    assert single.of("message") == []  # no internal exchange to record
    assert single.events[0].payload.operators == {"agent": "single(llm:m)"}
    assert alone.events[0].payload.operators == {"agent": "llm:m"}


async def test_fork_gives_a_fresh_member_each_episode(play: PlayFn):
    def reply(request: ModelRequest) -> str | Message:
        if request.messages[-1].role == "tool":
            return "42"
        call = ToolCall(id="c1", name="lookup", arguments={"key": "k"})
        return Message(role="assistant", tool_calls=[call])

    system = Single(LLMOperator(ScriptedModel(fn=reply, name="m")))
    first = await play(system, QuestionEnv(facts={"k": "42"}))
    second = await play(system, QuestionEnv(facts={"k": "42"}))
    assert shape(first) == shape(second)  # no conversation carried over
    forked = system.fork()
    assert forked.member is not system.member
    assert forked.describe() == "single(llm:m)"


async def test_a_single_system_may_wrap_a_system(play: PlayFn):
    inner = Independent({"a": LLMOperator(ScriptedModel(["42"]))})
    played = await play(Single(inner))
    assert [a.text for a in played.actions()] == ["42"]
    assert len(played.requests("agent/a")) == 1


def test_the_member_must_be_an_operator():
    with pytest.raises(UserError, match="single: the member must be an operator"):
        Single("llm")  # type: ignore[arg-type]
