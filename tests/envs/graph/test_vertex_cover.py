"""graph.vertex_cover: the verifier on hand-checked graphs and its laws."""

from __future__ import annotations

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from palaestra.envs.graph import score_vertex_cover
from tests.envs.graph.conftest import PATH, STAR, TRIANGLE, graph_of, graphs


def yes(graph, cover, missing=()):
    return {n: n in cover for n in graph.names if n not in missing}


@pytest.mark.parametrize(
    "graph, cover, coverage, minimality",
    [
        # path Michael - Jennifer - David - Jessica
        (PATH, {"Jennifer", "David"}, 1.0, 1.0),
        (PATH, {"Michael", "David"}, 1.0, 1.0),
        (PATH, {"Michael", "Jennifer", "David"}, 1.0, 1 / 3),  # only David is needed
        (PATH, {"Jennifer"}, 2 / 3, 1.0),  # not a cover: every Yes counts as needed
        (PATH, set(), 0.0, 1.0),  # nobody: coverage 0, no division by zero
        (TRIANGLE, {"Michael", "Jennifer"}, 1.0, 1.0),
        (TRIANGLE, set(TRIANGLE.names), 1.0, 0.0),
        (STAR, {"Michael"}, 1.0, 1.0),
        (STAR, {"Jennifer", "David", "Jessica", "James"}, 1.0, 1.0),  # minimal, not minimum
        (STAR, set(STAR.names), 1.0, 0.0),
    ],
)
def test_hand_checked_graphs(graph, cover, coverage, minimality):
    score = score_vertex_cover(graph, yes(graph, cover))
    assert score.metrics["coverage"] == pytest.approx(coverage)
    assert score.metrics["minimality"] == pytest.approx(minimality)
    assert score.metrics["cover_fraction"] == pytest.approx(len(cover) / graph.n)
    assert score.value == pytest.approx(coverage * minimality)
    assert score.success == (coverage == minimality == 1.0)


def test_a_graph_without_edges_wants_nobody():
    empty = graph_of(3, [])
    nobody = score_vertex_cover(empty, yes(empty, set()))
    assert (nobody.value, nobody.success, nobody.metrics["coverage"]) == (1.0, True, 1.0)
    assert score_vertex_cover(empty, yes(empty, {"David"})).value == 0.0


def test_invalid_answers_count_as_no_and_forbid_success():
    centre_only = yes(STAR, {"Michael"}, missing={"Jennifer"})
    score = score_vertex_cover(STAR, centre_only)
    assert score.value == 1.0 and not score.success
    assert score.metrics["valid_fraction"] == 0.8
    assert "1 invalid answers count as No" in score.explanation
    # an invalid centre leaves the star uncovered
    leaves_missing = score_vertex_cover(STAR, yes(STAR, set(), missing={"Michael"}))
    assert leaves_missing.value == 0.0


def minimal_cover(graph, seed: int) -> set[str]:
    """The complement of a maximal independent set: a minimal vertex cover."""
    independent = nx.maximal_independent_set(graph.to_networkx(), seed=seed)
    return set(graph.names) - set(independent)


@settings(max_examples=200, deadline=None)
@given(graphs(), st.integers(0, 2**16), st.data())
def test_minimal_covers_score_one_and_any_change_lowers_the_score(graph, seed, data):
    cover = minimal_cover(graph, seed)
    assert score_vertex_cover(graph, yes(graph, cover)).value == 1.0
    if cover:  # removing a Yes uncovers an edge
        removed = data.draw(st.sampled_from(sorted(cover)))
        lower = score_vertex_cover(graph, yes(graph, cover - {removed}))
        assert lower.metrics["coverage"] < 1.0 and lower.value < 1.0
    outside = sorted(set(graph.names) - cover)
    if outside:  # one extra Yes is redundant: its neighbours are all in the cover
        extra = data.draw(st.sampled_from(outside))
        more = score_vertex_cover(graph, yes(graph, cover | {extra}))
        assert more.metrics["coverage"] == 1.0 and more.value < 1.0


def is_minimal_cover(graph, cover: set[str]) -> bool:
    """Brute force, straight from the definition."""

    def covers(c: set[str]) -> bool:
        return all(a in c or b in c for a, b in graph.edges)

    return covers(cover) and all(not covers(cover - {v}) for v in cover)


@settings(max_examples=300, deadline=None)
@given(graphs(max_nodes=7), st.data())
def test_score_is_one_exactly_for_minimal_covers(graph, data):
    cover = data.draw(st.sets(st.sampled_from(graph.names)))
    score = score_vertex_cover(graph, yes(graph, cover))
    assert 0.0 <= score.value <= 1.0
    assert (score.value == 1.0) == is_minimal_cover(graph, cover)
    if graph.edges and not cover:
        assert score.value == 0.0
