"""`Decentralized`: debate rounds on a communication graph, as the log records them."""

from __future__ import annotations

import asyncio

import pytest

from palaestra.core import UserError
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.operators import LLMOperator
from palaestra.systems import Decentralized
from tests.systems.conftest import PlayFn


def llm(*replies, name: str = "scripted") -> LLMOperator:
    return LLMOperator(ScriptedModel(list(replies), name=name))


def peer_messages(played) -> list[tuple[str, list[str], int | None]]:
    """Messages from one peer to others (not to or from the system or its aggregator)."""
    return [
        (sender, recipients, round)
        for sender, recipients, round in played.talk()
        if sender.count("/") == 1
        and not sender.endswith("/aggregator")
        and all(r.count("/") == 1 and not r.endswith("/aggregator") for r in recipients)
    ]


async def test_debate_changes_the_outcome(play: PlayFn):
    def peers():
        return {"a": llm("41", "42"), "b": llm("42", "42"), "c": llm("43", "42")}

    alone = await play(Decentralized(peers(), rounds=1))
    assert [a.text for a in alone.actions()] == ["41"]  # three-way tie: first peer
    assert not alone.success

    debated = await play(Decentralized(peers(), rounds=2))
    assert [a.text for a in debated.actions()] == ["42"]
    assert debated.success
    assert debated.messages()[-1].content == (
        "majority: a wins with 3 of 3 votes: 42 | votes: 42 ×3 [a, b, c]"
    )
    # Round 2: a is shown what b and c said in round 1, and changes its answer.
    assert debated.last_user_text("agent/a", 1) == (
        "Round 2 of 2. Your peers answered in round 1:\n- b: 42\n- c: 43\n"
        "Give your answer again, in the same format: keep it or change it."
    )
    second = debated.requests("agent/a")[1].messages  # it kept its conversation
    assert [(m.role, m.content) for m in second[1:3]] == [
        ("user", "What is 6 times 7?"),
        ("assistant", "41"),
    ]


async def test_rounds_are_recorded_between_neighbours_only(play: PlayFn):
    system = Decentralized(
        {"a": llm("1", "1", "1"), "b": llm("2", "2", "2"), "c": llm("3", "3", "3")},
        rounds=3,
        edges=[("a", "b"), ("b", "c")],
    )
    played = await play(system)
    expected = []
    for number in (1, 2):
        expected += [
            ("agent/a", ["agent/b"], number),
            ("agent/b", ["agent/a", "agent/c"], number),
            ("agent/c", ["agent/b"], number),
        ]
    assert peer_messages(played) == expected
    # The system's messages to the peers carry rounds 1..3, the answers and decision 3.
    to_peers = [(r, rnd) for s, r, rnd in played.talk() if s == "agent"]
    assert to_peers == [([f"agent/{p}"], n) for n in (1, 2, 3) for p in "abc"]
    to_aggregator = [t for t in played.talk() if t[1] == ["agent/aggregator"]]
    assert to_aggregator == [(f"agent/{p}", ["agent/aggregator"], 3) for p in "abc"]
    assert played.talk()[-1] == ("agent/aggregator", ["agent"], 3)
    # a only hears b; b hears a and c.
    assert "- b: 2\n" in played.last_user_text("agent/a", 1)
    assert "- c:" not in played.last_user_text("agent/a", 1)
    assert "- a: 1\n- c: 3\n" in played.last_user_text("agent/b", 2)
    assert system.describe() == (
        "decentralized(3 rounds, a-b,b-c, majority: a=llm:scripted, b=llm:scripted, c=llm:scripted)"
    )


async def test_directed_edges_carry_answers_one_way(play: PlayFn):
    system = Decentralized(
        {"a": llm("1", "1"), "b": llm("2", "1")},
        edges=[("a", "b")],
        directed=True,
        decide="first",
    )
    played = await play(system, max_steps=1)
    assert peer_messages(played) == [("agent/a", ["agent/b"], 1)]
    assert played.last_user_text("agent/a", 1).startswith(
        "Round 2 of 2. No peer's answer reached you in round 1."
    )
    assert "- a: 1" in played.last_user_text("agent/b", 1)
    assert played.messages()[-1].content.startswith("first: a wins with 2 of 2 votes: 1")


async def test_a_tool_call_in_a_discussion_round_is_answered_not_executed(play: PlayFn):
    call = ScriptedModel.call("lookup", key="x")
    system = Decentralized({"a": llm(call, "42"), "b": llm("42", "42")}, rounds=2)
    played = await play(system)
    assert [a.text for a in played.actions()] == ["42"]
    request = played.requests("agent/a")[1]
    pending = request.messages[-3].tool_calls[0]
    assert request.messages[-2].role == "tool"
    assert request.messages[-2].tool_call_id == pending.id
    assert request.messages[-2].content.startswith("Not executed: this was a discussion round")
    assert request.messages[-1].content.startswith("Round 2 of 2.")
    assert "- b: 42" in (request.messages[-1].content or "")
    # b is shown a's proposal in one line.
    assert 'lookup({"key": "x"})' in played.last_user_text("agent/b", 1)


async def test_log_is_the_same_whatever_order_peers_finish_in(play: PlayFn):
    def system(delays: dict[str, float]) -> Decentralized:
        async def reply(request: ModelRequest) -> str:
            name = request.agent.rsplit("/", 1)[-1]
            await asyncio.sleep(delays[name])
            return "42" if name != "c" else "41"

        model = ScriptedModel(fn=reply)
        return Decentralized({n: LLMOperator(model) for n in "abc"}, rounds=2)

    one = await play(system({"a": 0.0, "b": 0.01, "c": 0.02}))
    other = await play(system({"a": 0.02, "b": 0.01, "c": 0.0}))
    assert one.outcome.hash == other.outcome.hash


def test_fork_gives_fresh_peers_and_keeps_the_graph():
    system = Decentralized({"a": llm("1"), "b": llm("1")}, rounds=1, edges=[("a", "b")])
    forked = system.fork()
    assert forked.peers["a"] is not system.peers["a"]
    assert forked.describe() == system.describe()
    assert forked.rounds == 1 and forked.graph.hears == system.graph.hears


def test_bad_parameters_name_what_is_wrong():
    peers = {"a": llm("x"), "b": llm("y")}
    with pytest.raises(UserError, match="rounds must be an integer >= 1, got 0"):
        Decentralized(peers, rounds=0)
    with pytest.raises(UserError, match="unknown decide 'vote'; valid: majority, first"):
        Decentralized(peers, decide="vote")  # type: ignore[arg-type]
    with pytest.raises(UserError, match=r"names undefined peer 'z'; defined: a, b"):
        Decentralized(peers, edges=[("a", "z")])
    with pytest.raises(UserError, match=r"edges\[1\] \('b', 'b'\) is a self-loop"):
        Decentralized(peers, edges=[("a", "b"), ("b", "b")])
    with pytest.raises(UserError, match=r"edges\[0\] must be a pair"):
        Decentralized(peers, edges=[("a", "b", "c")])  # type: ignore[list-item]
