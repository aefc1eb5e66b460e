"""graph.consensus: private starting values, the verifier on hand-checked graphs and its
laws."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from palaestra.core import Action
from palaestra.envs import make
from palaestra.envs.graph import score_consensus
from palaestra.envs.graph._consensus import initial_values
from palaestra.envs.graph._graphs import agent_names
from tests.envs.graph.conftest import PATH, STAR, TRIANGLE


def test_initial_values_are_a_pure_function_of_task_seed_and_name():
    names = agent_names(200)
    values = initial_values("ws-200-0", 0, names)
    assert values == initial_values("ws-200-0", 0, names)
    assert set(values.values()) == {0, 1}
    assert 0.4 < sum(values.values()) / 200 < 0.6  # a fair coin per agent
    assert values != initial_values("ws-200-0", 1, names)
    assert values != initial_values("ws-200-1", 0, names)
    # an agent's value does not depend on who else is there
    assert initial_values("ws-200-0", 0, names[:3]) == {n: values[n] for n in names[:3]}


async def test_the_seed_changes_the_values_not_the_graph():
    env = make("graph.consensus", n=16)
    first = await env.reset(0, "ba-16-4")
    edges, values = env.graph.edges, dict(env.values)
    assert {a: o.data["value"] for a, o in first.items()} == values
    await env.reset(7, "ba-16-4")
    assert env.graph.edges == edges and env.values != values
    assert env.seed == 7 and env.task == "ba-16-4"


@pytest.mark.parametrize("graph", [PATH, TRIANGLE, STAR], ids=["path", "triangle", "star"])
def test_hand_checked_graphs(graph):
    names = graph.names
    initial = {n: i % 2 for i, n in enumerate(names)}  # both values present
    ones = score_consensus(names, dict.fromkeys(names, 1), initial)
    assert (ones.value, ones.success) == (1.0, True)
    assert ones.metrics == {
        "valid_fraction": 1.0,
        "agreement": 1.0,
        "validity": 1.0,
        "ones": pytest.approx(sum(initial.values()) / len(names)),
    }
    split = dict.fromkeys(names, 0) | {names[0]: 1}
    mixed = score_consensus(names, split, initial)
    assert mixed.value == 0.0
    assert mixed.metrics["agreement"] == pytest.approx((len(names) - 1) / len(names))
    assert mixed.explanation == f"{len(names) - 1} agents answered 0 and 1 answered 1, so 0"
    zeros = dict.fromkeys(names, 0)
    assert score_consensus(names, zeros, dict.fromkeys(names, 1)).metrics["validity"] == 0.0
    del zeros[names[-1]]
    assert score_consensus(names, zeros, initial).value == 0.0


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 30), st.data())
def test_agreement_scores_one_and_any_disagreement_scores_zero(n, data):
    names = agent_names(n)
    initial = {name: data.draw(st.integers(0, 1)) for name in names}
    common = data.draw(st.integers(0, 1))
    agreed = dict.fromkeys(names, common)
    assert score_consensus(names, agreed, initial).value == 1.0
    dissenters = data.draw(st.sets(st.sampled_from(names), min_size=1, max_size=n - 1))
    split = agreed | dict.fromkeys(dissenters, 1 - common)
    assert score_consensus(names, split, initial).value == 0.0


async def test_text_answers_reach_consensus():
    env = make("graph.consensus", family="delaunay", n=8, rounds=1)
    obs = await env.reset(3)
    obs = (await env.step({a: Action() for a in obs})).observations
    texts = ["ANSWER: 1", "**ANSWER:** 1.", "answer: one", "ANSWER: `1` (my value was 0)"]
    actions = {a: Action(text=texts[i % 4]) for i, a in enumerate(obs)}
    actions[env.agents[5]] = Action(data={"answer": 1})
    step = await env.step(actions)
    assert step.terminated and step.info["answers_invalid"] == []
    assert env.score().success
