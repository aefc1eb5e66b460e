"""`Hybrid`: a coordinator's instruction reaches every worker, workers discuss, the
coordinator decides; checked on the recorded events."""

from __future__ import annotations

import pytest

from palaestra.core import UserError
from palaestra.models import ScriptedModel
from palaestra.operators import LLMOperator
from palaestra.systems import Hybrid, Independent
from tests.systems.conftest import PlayFn, QuestionEnv


def llm(*replies, name: str = "scripted") -> LLMOperator:
    return LLMOperator(ScriptedModel(list(replies), name=name))


async def test_instruction_reaches_every_worker_and_the_coordinator_decides(play: PlayFn):
    coordinator = llm("Multiply 6 by 7 and reply with the number only.", "42", name="boss")
    workers = {"a": llm("42", "42", name="wa"), "b": llm("41", "42", name="wb")}
    played = await play(Hybrid(coordinator, workers))

    assert [a.text for a in played.actions()] == ["42"]
    assert played.success
    plan, final = played.requests("agent/coordinator")
    assert plan.model == "boss"
    assert plan.tools == []  # planning does not act on the environment
    assert plan.messages[-1].content == (
        "What is 6 times 7?\n\nYou coordinate the workers a, b. Write the instruction they "
        "should follow; you will then see their answers and give the final action."
    )
    for worker, model in (("a", "wa"), ("b", "wb")):
        first = played.requests(f"agent/{worker}")[0]
        assert first.model == model
        assert first.messages[-1].content == (
            "Instruction from the coordinator:\nMultiply 6 by 7 and reply with the number "
            "only.\n\nTask:\nWhat is 6 times 7?"
        )
    # b saw a's answer in the peer round and changed its own.
    assert "- a: 42" in played.last_user_text("agent/b", 1)
    assert final.messages[-1].content == (
        "Your workers answered:\n- a: 42\n- b: 42\n\nGive the final action for the task."
    )
    assert [t.name for t in final.tools] == ["lookup"]
    assert played.talk() == [
        ("agent", ["agent/coordinator"], None),
        ("agent/coordinator", ["agent/a"], 1),
        ("agent/a", ["agent/b"], 1),
        ("agent/coordinator", ["agent/b"], 1),
        ("agent/b", ["agent/a"], 1),
        ("agent", ["agent/a"], 2),
        ("agent/a", ["agent/coordinator"], 2),
        ("agent", ["agent/b"], 2),
        ("agent/b", ["agent/coordinator"], 2),
        ("agent", ["agent/coordinator"], None),
        ("agent/coordinator", ["agent"], None),
    ]


async def test_without_peer_rounds_workers_do_not_talk(play: PlayFn):
    system = Hybrid(llm("go", "42"), {"a": llm("42"), "b": llm("41")}, peer_rounds=0)
    played = await play(system)
    assert [a.text for a in played.actions()] == ["42"]
    senders = {sender for sender, _, _ in played.talk()}
    assert senders == {"agent", "agent/coordinator", "agent/a", "agent/b"}
    assert ("agent/a", ["agent/b"], 1) not in played.talk()
    assert ("agent/a", ["agent/coordinator"], 1) in played.talk()


async def test_the_coordinator_acts_on_the_environment_across_steps(play: PlayFn):
    coordinator = llm(
        "Find the fact x.", ScriptedModel.call("lookup", key="x"), "Answer now.", "42"
    )
    workers = {"a": llm("look up x", "42"), "b": llm("look up x", "42")}
    env = QuestionEnv(facts={"x": "it is 42"})
    played = await play(Hybrid(coordinator, workers, peer_rounds=0), env)
    first, second = played.actions()
    assert first.tool_calls[0].arguments == {"key": "x"}
    assert second.text == "42"
    # Step 2: the coordinator's plan turn gets its own call's result, then the task.
    plan = played.requests("agent/coordinator")[2]
    call_id = plan.messages[-3].tool_calls[0].id
    assert plan.messages[-2].tool_call_id == call_id
    assert plan.messages[-2].content == "it is 42"
    assert plan.messages[-1].content.startswith("it is 42\n\nYou coordinate the workers a, b.")
    # Workers, who answered in text, are told what was executed.
    worker = played.requests("agent/a")[1].messages[-1].content or ""
    assert worker.startswith('The system executed lookup({"key": "x"}); result: it is 42')
    assert "Instruction from the coordinator:\nAnswer now." in worker


async def test_a_worker_may_be_a_system(play: PlayFn):
    team = Independent({"x": llm("42"), "y": llm("42")})
    system = Hybrid(llm("solve", "42"), {"team": team, "solo": llm("41")}, peer_rounds=0)
    played = await play(system)
    assert [a.text for a in played.actions()] == ["42"]
    assert len(played.requests("agent/team/x")) == 1
    assert ("agent/team/aggregator", ["agent/team"], None) in played.talk()
    assert ("agent/team", ["agent/coordinator"], 1) in played.talk()
    assert system.describe() == (
        "hybrid(0 peer rounds, complete: coordinator=llm:scripted; team=independent("
        "majority: x=llm:scripted, y=llm:scripted), solo=llm:scripted)"
    )


def test_fork_gives_fresh_operators():
    system = Hybrid(llm("p"), {"a": llm("x"), "b": llm("y")}, edges=[("a", "b")])
    forked = system.fork()
    assert forked.coordinator is not system.coordinator
    assert forked.workers["a"] is not system.workers["a"]
    assert forked.describe() == system.describe()
    assert "a-b" in forked.describe()


def test_bad_parameters_name_what_is_wrong():
    workers = {"a": llm("x"), "b": llm("y")}
    with pytest.raises(UserError, match="peer_rounds must be an integer >= 0, got -1"):
        Hybrid(llm("p"), workers, peer_rounds=-1)
    with pytest.raises(UserError, match="'coordinator' is reserved"):
        Hybrid(llm("p"), {"coordinator": llm("x")})
    with pytest.raises(UserError, match="names undefined peer 'c'; defined: a, b"):
        Hybrid(llm("p"), workers, edges=[("a", "c")])
    with pytest.raises(UserError, match="the coordinator must be an operator"):
        Hybrid(None, workers)  # type: ignore[arg-type]
