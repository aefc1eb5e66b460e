"""graph.matching: the verifier on hand-checked graphs and its laws, and answers that
name a stranger."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from palaestra.core import Action
from palaestra.envs import make
from palaestra.envs.graph import score_matching
from palaestra.envs.graph._answers import NO_PARTNER
from tests.envs.graph.conftest import PATH, STAR, TRIANGLE, graphs

N = NO_PARTNER


def pairs(*couples: tuple[str, str]) -> dict[str, str]:
    out = {}
    for a, b in couples:
        out[a], out[b] = b, a
    return out


@pytest.mark.parametrize(
    "graph, answers, value, matched",
    [
        # path Michael - Jennifer - David - Jessica
        (PATH, pairs(("Michael", "Jennifer"), ("David", "Jessica")), 1.0, 1.0),
        (PATH, {"Michael": N, **pairs(("Jennifer", "David")), "Jessica": N}, 1.0, 0.5),
        # David and Jessica both None although neighbours: both inconsistent
        (PATH, {**pairs(("Michael", "Jennifer")), "David": N, "Jessica": N}, 0.5, 0.5),
        # Jennifer names David, who names Jessica, who names David: only the pair counts
        (PATH, {"Michael": N, "Jennifer": "David", **pairs(("David", "Jessica"))}, 0.75, 0.5),
        # an invalid answer (absent) is inconsistent, and so is whoever names it
        (PATH, {"Jennifer": "Michael", "David": N, "Jessica": N}, 0.0, 0.0),
        # triangle: one pair, the third agent rightly unmatched
        (TRIANGLE, {**pairs(("Michael", "David")), "Jennifer": N}, 1.0, 2 / 3),
        # triangle: a cycle of proposals pairs nobody
        (TRIANGLE, {"Michael": "Jennifer", "Jennifer": "David", "David": "Michael"}, 0.0, 0.0),
        # star: the centre pairs with one leaf, the other leaves are rightly unmatched
        (STAR, {**pairs(("Michael", "Jessica")), "Jennifer": N, "David": N, "James": N}, 1.0, 0.4),
        # star: nobody pairs, everyone has an unmatched neighbour
        (STAR, dict.fromkeys(STAR.names, N), 0.0, 0.0),
        # a leaf names another leaf (not a neighbour): inconsistent, and so is the centre
        (
            STAR,
            {"Michael": N, "Jennifer": "David", "David": "Jennifer", "Jessica": N, "James": N},
            0.0,
            0.0,
        ),
    ],
)
def test_hand_checked_graphs(graph, answers, value, matched):
    score = score_matching(graph, answers)
    assert score.value == pytest.approx(value)
    assert score.metrics["matched_fraction"] == pytest.approx(matched)
    assert score.metrics["inconsistent"] == round((1 - value) * graph.n)
    assert score.success == (value == 1.0)


def is_maximal_matching(graph, answers) -> bool:
    """Brute force: every answer valid, partners mutual neighbours, no two unmatched
    neighbours."""
    if set(answers) != set(graph.names):
        return False
    for name, partner in answers.items():
        if partner != N and (partner not in graph.neighbors[name] or answers[partner] != name):
            return False
    return not any(answers[a] == N and answers[b] == N for a, b in graph.edges)


def from_matching(graph, matching) -> dict[str, str]:
    return dict.fromkeys(graph.names, N) | pairs(*matching)


@settings(max_examples=200, deadline=None)
@given(graphs(), st.randoms(use_true_random=False))
def test_a_maximal_matching_scores_one_and_unpairing_costs_at_least_the_pair(graph, rnd):
    matching = sorted(nx.maximal_matching(graph.to_networkx()))
    answers = from_matching(graph, matching)
    assert score_matching(graph, answers).value == 1.0
    if matching:
        dropped = rnd.choice(matching)
        kept = [p for p in matching if p != dropped]
        lower = score_matching(graph, from_matching(graph, kept)).value
        assert lower <= (graph.n - 2) / graph.n


@settings(max_examples=300, deadline=None)
@given(graphs(max_nodes=7), st.data())
def test_score_is_one_exactly_for_maximal_matchings(graph, data):
    choices = [N, *graph.names]
    answers = {name: data.draw(st.sampled_from(choices)) for name in graph.names}
    for name in data.draw(st.sets(st.sampled_from(graph.names), max_size=2)):
        del answers[name]  # invalid answers
    score = score_matching(graph, answers)
    assert 0.0 <= score.value <= 1.0
    assert (score.value == 1.0) == is_maximal_matching(graph, answers)


async def test_a_stranger_or_nobody_is_asked_again_with_the_valid_names():
    env = make("graph.matching", family="ba", n=8, rounds=1)
    obs = await env.reset(0)
    obs = (await env.step({a: Action() for a in obs})).observations
    me = env.agents[0]
    stranger = next(a for a in env.agents if a != me and a not in env.graph.neighbors[me])
    actions = {a: Action(text="ANSWER: None") for a in obs}
    actions[me] = Action(text=f"ANSWER: {stranger}")
    step = await env.step(actions)
    assert step.info["answers_invalid"] == [me]
    options = ", ".join([*env.graph.neighbors[me], "None"])
    assert step.observations[me].data["error"] == (
        f"{stranger} is not one of your neighbours; answer one of: {options}"
    )
    partner = env.graph.neighbors[me][0]
    step = await env.step({me: Action(text=f"ANSWER: **{partner.lower()}**")})
    assert step.terminated
    # me names a partner who answered None: me is inconsistent, and so are the unmatched
    # agents next to other unmatched agents
    assert env.score().metrics["valid_fraction"] == 1.0
    assert env.score().metrics["matched_fraction"] == 0.0
