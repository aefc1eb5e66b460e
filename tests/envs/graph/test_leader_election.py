"""graph.leader_election: the verifier on hand-checked graphs and its laws, and a played
episode with text answers."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from palaestra.core import Action
from palaestra.envs import make
from palaestra.envs.graph import score_leader_election
from tests.envs.graph.conftest import PATH, STAR, TRIANGLE, graphs


def answers(names, leaders, missing=()):
    return {n: n in leaders for n in names if n not in missing}


@pytest.mark.parametrize("graph", [PATH, TRIANGLE, STAR], ids=["path", "triangle", "star"])
def test_hand_checked_graphs(graph):
    names = graph.names
    one = score_leader_election(names, answers(names, {names[-1]}))
    assert (one.value, one.success, one.metrics) == (
        1.0,
        True,
        {"valid_fraction": 1.0, "leaders": 1.0},
    )
    assert one.explanation == f"1 of {len(names)} agents said they are the leader"
    two = score_leader_election(names, answers(names, set(names[:2])))
    assert (two.value, two.metrics["leaders"]) == (0.0, 2.0)
    assert "not exactly one, so 0" in two.explanation
    none = score_leader_election(names, answers(names, set()))
    assert (none.value, none.metrics["leaders"]) == (0.0, 0.0)
    silent = score_leader_election(names, answers(names, {names[0]}, missing={names[1]}))
    assert silent.value == 0.0 and silent.metrics["valid_fraction"] == pytest.approx(
        (len(names) - 1) / len(names)
    )
    assert silent.explanation == f"1 of {len(names)} agents gave no valid Yes/No, so 0"


@settings(max_examples=200, deadline=None)
@given(graphs(), st.data())
def test_exactly_one_yes_scores_one_and_any_extra_yes_scores_zero(graph, data):
    names = graph.names
    leader = data.draw(st.sampled_from(names))
    assert score_leader_election(names, answers(names, {leader})).value == 1.0
    others = [n for n in names if n != leader]
    if others:
        extra = data.draw(st.sampled_from(others))
        assert score_leader_election(names, answers(names, {leader, extra})).value == 0.0
        # one invalid answer also fails, whoever it is
        gone = data.draw(st.sampled_from(names))
        assert score_leader_election(names, answers(names, {leader}, {gone})).value == 0.0


async def test_text_answers_elect_one_leader():
    env = make("graph.leader_election", family="ws", n=8, rounds=1)
    obs = await env.reset(0)
    obs = (await env.step({a: Action() for a in obs})).observations
    leader = env.agents[5]
    texts = ["ANSWER: no.", "**ANSWER:** No", "answer: NO, not me", "ANSWER: `No`"]
    actions = {a: Action(text=texts[i % len(texts)]) for i, a in enumerate(obs)}
    actions[leader] = Action(text="Thinking... I have the greatest name.\nANSWER: **Yes**")
    step = await env.step(actions)
    assert step.terminated and step.info["answers_invalid"] == []
    score = env.score()
    assert score.success and score.metrics == {
        "valid_fraction": 1.0,
        "leaders": 1.0,
        "rounds": 1.0,
    }
    assert step.rewards == {a: 1.0 for a in env.agents}
