"""`Independent`: parallel members, an aggregator, and what the log shows of them."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from palaestra import arun
from palaestra.core import Action, Message, ToolCall, UserError
from palaestra.envs import EnvSpec, register
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.operators import FunctionOperator, LLMOperator
from palaestra.runtime import Experiment, Job, PythonOperatorConfig
from palaestra.store import Store
from palaestra.systems import Decentralized, Independent
from tests.systems.conftest import QuestionEnv


def llm(*replies: str | Message, name: str = "scripted") -> LLMOperator:
    return LLMOperator(ScriptedModel(list(replies), name=name))


async def test_majority_overrules_the_minority(play):
    system = Independent(
        {"a": llm("41", name="ma"), "b": llm("42", name="mb"), "c": llm(" 42 ", name="mc")}
    )
    played = await play(system)

    assert [a.text for a in played.actions()] == ["42"]  # b's answer, unchanged
    assert played.success
    # Each member asked its own model, under its own agent name.
    for member, model in [("a", "ma"), ("b", "mb"), ("c", "mc")]:
        [request] = played.requests(f"agent/{member}")
        assert request.model == model
        assert request.messages[-1].content == "What is 6 times 7?"
        assert [t.name for t in request.tools] == ["lookup"]  # the env's tools kept
    assert played.requests("agent") == []
    assert played.talk() == [
        ("agent", ["agent/a"], None),
        ("agent/a", ["agent/aggregator"], None),
        ("agent", ["agent/b"], None),
        ("agent/b", ["agent/aggregator"], None),
        ("agent", ["agent/c"], None),
        ("agent/c", ["agent/aggregator"], None),
        ("agent/aggregator", ["agent"], None),
    ]
    decision = played.messages()[-1].content
    assert decision == "majority: b wins with 2 of 3 votes: 42 | votes: 42 ×2 [b, c]; 41 ×1 [a]"
    # A member's events hang under the message that consulted it.
    events = played.events
    ask_b = next(e for e in events if e.kind == "message" and e.payload.recipients == ["agent/b"])
    request_b = next(e for e in events if e.kind == "model_request" and e.agent == "agent/b")
    assert request_b.parent == ask_b.seq


async def test_ties_go_to_member_order(play):
    played = await play(Independent({"a": llm("7"), "b": llm("6"), "c": llm("")}))
    assert [a.text for a in played.actions()] == ["7"]
    assert played.messages()[-1].content.startswith("majority: a wins with 1 of 3 votes")


async def test_first_valid_skips_empty_and_unknown_tool_answers(play):
    bad_call = Action(tool_calls=[ToolCall(id="1", name="not_a_tool", arguments={"x": 1})])
    system = Independent(
        {
            "a": llm(""),
            "b": FunctionOperator(lambda o, c: bad_call),
            "c": llm("42"),
            "d": llm("41"),
        },
        aggregate="first_valid",
    )
    played = await play(system)
    assert [a.text for a in played.actions()] == ["42"]
    assert played.messages()[-1].content.startswith("first_valid: c wins")
    # The invalid tool call is shown to the aggregator as proposed.
    assert played.messages()[3].content == 'not_a_tool({"x": 1})'


async def test_a_judge_picks_candidate_two_against_the_majority(play):
    judge = LLMOperator(ScriptedModel(["Candidate 2 is right: 6 x 7 = 42."], name="judge"))
    system = Independent({"a": llm("41"), "b": llm("42"), "c": llm("41")}, aggregate=judge)
    played = await play(system)

    assert [a.text for a in played.actions()] == ["42"]
    [request] = played.requests("agent/aggregator")
    assert request.model == "judge"
    assert request.tools == []  # a judge does not act on the environment
    prompt = request.messages[-1].content or ""
    assert "1. a: 41\n2. b: 42\n3. c: 41" in prompt
    assert "What is 6 times 7?" in prompt
    assert played.talk()[-2:] == [
        ("agent", ["agent/aggregator"], None),
        ("agent/aggregator", ["agent"], None),
    ]
    assert played.messages()[-1].content.startswith("judge: b wins with 1 of 3 votes: 42")


async def test_an_unparsable_judge_falls_back_to_majority(play):
    judge = LLMOperator(ScriptedModel(["I cannot decide."]))
    system = Independent({"a": llm("41"), "b": llm("42"), "c": llm("42")}, aggregate=judge)
    played = await play(system)
    assert [a.text for a in played.actions()] == ["42"]
    decision = played.messages()[-1].content
    assert "'I cannot decide.' names no candidate; fell back to majority: b wins" in decision


async def test_a_judge_may_answer_with_a_candidate_text(play):
    judge = LLMOperator(ScriptedModel(["  FORTY-TWO "]))
    system = Independent({"a": llm("41"), "b": llm("forty-two")}, aggregate=judge)
    played = await play(system, QuestionEnv(answer="forty-two"))
    assert [a.text for a in played.actions()] == ["forty-two"]


async def test_tool_calls_vote_and_each_member_gets_its_own_view_of_the_result(play):
    x = ScriptedModel.call("lookup", key="x")
    y = ScriptedModel.call("lookup", key="y")
    members = {
        "a": LLMOperator(ScriptedModel([x, "42"])),
        "b": LLMOperator(
            ScriptedModel([Message(role="assistant", content="hm", tool_calls=x.tool_calls), "42"])
        ),  # fmt: skip
        "c": LLMOperator(ScriptedModel([y, "41"])),
    }
    env = QuestionEnv(facts={"x": "the answer is 42", "y": "nothing"})
    played = await play(Independent(members), env)

    first, second = played.actions()
    assert [(c.name, c.arguments) for c in first.tool_calls] == [("lookup", {"key": "x"})]
    assert second.text == "42"
    # a and b proposed the executed call: the result arrives under their own call id.
    for member in ("a", "b"):
        request = played.requests(f"agent/{member}")[1]
        call_id = request.messages[-2].tool_calls[0].id
        assert request.messages[-1] == Message(
            role="tool", content="the answer is 42", tool_call_id=call_id
        )
    # c proposed another call: it is told its call was not run, and what was.
    request = played.requests("agent/c")[1]
    own_id = request.messages[-3].tool_calls[0].id
    assert request.messages[-2].role == "tool" and request.messages[-2].tool_call_id == own_id
    assert request.messages[-2].content.startswith("Not executed")
    assert request.messages[-1].content == (
        'The system executed lookup({"key": "x"}); result: the answer is 42\n\nthe answer is 42'
    )


async def test_log_is_the_same_whatever_order_members_finish_in(play):
    async def answer(delays: dict[str, float], request: ModelRequest) -> str:
        await asyncio.sleep(delays[request.agent.rsplit("/", 1)[-1]])
        return "42" if request.agent.endswith(("a", "b")) else "41"

    def system(delays: dict[str, float]) -> Independent:
        def reply(request: ModelRequest):
            return answer(delays, request)

        model = ScriptedModel(fn=reply)
        return Independent({n: LLMOperator(model) for n in ("a", "b", "c")})

    fast_first = await play(system({"a": 0.0, "b": 0.01, "c": 0.02}))
    slow_first = await play(system({"a": 0.02, "b": 0.01, "c": 0.0}))
    assert fast_first.outcome.hash == slow_first.outcome.hash
    assert [e.agent for e in fast_first.events] == [e.agent for e in slow_first.events]


async def test_nested_system_as_a_member(play):
    team = Decentralized({"p": llm("42", "42"), "q": llm("41", "42")}, rounds=2)
    system = Independent({"team": team, "solo": llm("41"), "other": llm("42")})
    played = await play(system)
    assert [a.text for a in played.actions()] == ["42"]
    assert len(played.requests("agent/team/p")) == 2
    assert ("agent/team", ["agent/team/p"], 1) in played.talk()
    assert ("agent/team/q", ["agent/team/p"], 1) in played.talk()
    assert ("agent/team", ["agent/aggregator"], None) in played.talk()
    assert system.describe() == (
        "independent(majority: team=decentralized(2 rounds, complete, majority: "
        "p=llm:scripted, q=llm:scripted), solo=llm:scripted, other=llm:scripted)"
    )


async def test_the_first_failing_member_in_order_ends_the_episode(play):
    async def slow_fail(observation, ctx):
        await asyncio.sleep(0.01)
        raise RuntimeError("first member broke")

    def fast_fail(observation, ctx):
        raise RuntimeError("second member broke")

    system = Independent(
        {"a": FunctionOperator(slow_fail), "b": FunctionOperator(fast_fail), "c": llm("42")}
    )
    played = await play(system, allow_error=True)
    assert played.end.reason == "error"
    assert played.end.error == "RuntimeError: first member broke"
    assert len(played.requests("agent/c")) == 1  # what ran is still recorded


def test_bad_parameters_name_what_is_wrong():
    with pytest.raises(UserError, match="unknown aggregate 'vote'; valid: majority, first_valid"):
        Independent({"a": llm("x")}, aggregate="vote")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="'aggregator' is reserved"):
        Independent({"aggregator": llm("x")})
    with pytest.raises(UserError, match="at least one member"):
        Independent({})
    with pytest.raises(UserError, match="without '/'"):
        Independent({"a/b": llm("x")})
    with pytest.raises(UserError, match="member 'a' must be an operator"):
        Independent({"a": "llm"})  # type: ignore[dict-item]


def test_fork_gives_fresh_members_and_keeps_the_configuration():
    judge = LLMOperator(ScriptedModel(["1"]))
    system = Independent({"a": llm("x"), "b": llm("y")}, aggregate=judge)
    forked = system.fork()
    assert forked.members["a"] is not system.members["a"]
    assert forked.aggregate is not judge and isinstance(forked.aggregate, LLMOperator)
    assert (
        forked.describe()
        == system.describe()
        == ("independent(judge=llm:scripted: a=llm:scripted, b=llm:scripted)")
    )


# -- through the runner, from an experiment ------------------------------------------

TEAM_MODEL = ScriptedModel(fn=lambda request: "42" if request.agent.endswith("a") else "41")


class NoParams(BaseModel):
    pass


def make_team(agent: str) -> Independent:
    """A python operator factory: two members voting, the first one right."""
    return Independent({"a": LLMOperator(TEAM_MODEL), "b": LLMOperator(TEAM_MODEL)})


async def test_runs_from_an_experiment_with_a_fork_per_episode(tmp_path):
    register(
        EnvSpec(id="test.systems.question", factory=lambda params: QuestionEnv(), params=NoParams),
        replace=True,
    )
    experiment = Experiment(
        name="team",
        jobs=[
            Job(
                env="test.systems.question",
                seeds=2,
                operator=PythonOperatorConfig(factory=f"{__name__}:make_team"),
            )
        ],
    )
    result = await arun(experiment, store=tmp_path / "runs.db")
    store = Store(tmp_path / "runs.db")
    episodes = [e.episode_id for e in result.episodes]
    assert len(episodes) == 2
    for episode_id in episodes:
        events = list(store.events(result.run_id, episode_id))
        start = events[0].payload
        assert start.operators == {"agent": "independent(majority: a=llm:scripted, b=llm:scripted)"}
        requests = [e for e in events if e.kind == "model_request" and e.agent == "agent/a"]
        # A fresh conversation each episode: system prompt + the question only.
        assert [m.role for m in requests[0].payload.messages] == ["system", "user"]
        assert [e.payload.action.text for e in events if e.kind == "action"] == ["42"]
    store.close()


keys = st.lists(st.sampled_from(["x", "y"]), max_size=2)


@settings(max_examples=200, deadline=None)
@given(own_keys=keys, executed_keys=keys, text=st.sampled_from([None, "new text"]))
def test_relay_answers_exactly_the_members_own_calls(own_keys, executed_keys, text):
    """Whatever was proposed and executed, the member's view answers each of its own
    calls exactly once, in order, and holds no result for a call it did not make."""
    from palaestra.core import Observation
    from palaestra.systems._relay import relay

    def calls(prefix: str, chosen: list[str]) -> list[ToolCall]:
        return [
            ToolCall(id=f"{prefix}{i}", name="lookup", arguments={"key": k})
            for i, k in enumerate(chosen)
        ]

    own = Action(text="t", tool_calls=calls("own", own_keys))
    executed = Action(tool_calls=calls("exe", executed_keys))
    results = [
        Message(role="tool", content=f"value of {c.arguments['key']}", tool_call_id=c.id)
        for c in executed.tool_calls
    ]
    base = Observation(text="old text", messages=results)
    view = relay(base, executed=executed, own=own, text=text)

    answered = [m.tool_call_id for m in view.messages if m.role == "tool"]
    assert answered == [c.id for c in own.tool_calls]
    assert view.text == (text or "old text")
    if own_keys and own_keys == executed_keys:  # its own calls ran: it gets their results
        assert [m.content for m in view.messages if m.role == "tool"] == [
            m.content for m in results
        ]
    elif results:  # told what ran instead, with the results
        last = view.messages[-1]
        assert last.role == "user" and all(
            (m.content or "") in (last.content or "") for m in results
        )
    if text is not None or (own_keys and own_keys != executed_keys):
        assert view.messages[-1].role == "user" and view.text in (view.messages[-1].content or "")


def test_relay_without_a_previous_step_changes_nothing():
    from palaestra.core import Observation
    from palaestra.systems._relay import relay

    base = Observation(text="hi", messages=[Message(role="user", content="hi")])
    assert relay(base, executed=None, own=None) == base
    assert relay(base, executed=Action(text="x"), own=Action(text="y")) == base
