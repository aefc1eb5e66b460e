"""The AgentsNet graph families: shape, determinism, naming, limits."""

from __future__ import annotations

import re

import networkx as nx
import numpy as np
import pytest
from scipy.spatial import Delaunay

from palaestra.core import UserError
from palaestra.envs.graph import FAMILIES, make_graph
from palaestra.envs.graph._graphs import agent_names
from palaestra.envs.graph._names import FIRST_NAMES


def test_first_names_are_many_distinct_plain_words():
    assert len(FIRST_NAMES) >= 1000
    assert len({name.lower() for name in FIRST_NAMES}) == len(FIRST_NAMES)
    assert all(re.fullmatch(r"[A-Z][a-z]{2,9}", name) for name in FIRST_NAMES)
    reserved = {"all", "everyone", "answer"}
    assert not reserved & {name.lower() for name in FIRST_NAMES}


def test_agent_names_past_the_list_get_numeric_suffixes():
    names = agent_names(len(FIRST_NAMES) + 3)
    assert len(set(names)) == len(names)
    assert names[: len(FIRST_NAMES)] == FIRST_NAMES
    assert names[len(FIRST_NAMES) :] == tuple(f"{n}2" for n in FIRST_NAMES[:3])


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("n", [4, 9, 30])
def test_graphs_are_connected_named_and_consistent(family, n):
    graph = make_graph(family, n, seed=5)
    assert graph.names == agent_names(n)
    g = graph.to_networkx()
    assert g.number_of_nodes() == n and nx.is_connected(g)
    assert len(graph.edges) == g.number_of_edges()
    for a, b in graph.edges:
        assert b in graph.neighbors[a] and a in graph.neighbors[b]
    assert sum(len(nbs) for nbs in graph.neighbors.values()) == 2 * len(graph.edges)
    assert graph.max_degree == max(d for _, d in g.degree())
    assert graph.diameter == nx.diameter(g)


@pytest.mark.parametrize("family", FAMILIES)
def test_graphs_are_pure_functions_of_family_n_seed(family):
    a, b = make_graph(family, 20, 3), make_graph(family, 20, 3)
    assert a.edges == b.edges and a.names == b.names
    others = {make_graph(family, 20, s).edges for s in range(4, 8)}
    assert a.edges not in others and len(others) > 1


def _isomorphic(ours, reference: nx.Graph) -> bool:
    return nx.is_isomorphic(ours.to_networkx(), reference)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_families_match_the_agentsnet_generators(seed):
    n = 14
    assert _isomorphic(
        make_graph("ws", n, seed), nx.connected_watts_strogatz_graph(n, 4, 0.4, seed=seed)
    )
    assert _isomorphic(make_graph("ba", n, seed), nx.barabasi_albert_graph(n, 2, seed=seed))
    points = np.random.default_rng(seed).random((n, 2))
    reference = nx.Graph()
    for simplex in Delaunay(points).simplices:
        reference.add_edges_from(nx.complete_graph([int(x) for x in simplex]).edges)
    assert _isomorphic(make_graph("delaunay", n, seed), reference)


def test_small_world_of_four_is_complete_and_delaunay_is_planar():
    assert len(make_graph("ws", 4, 0).edges) == 6
    delaunay = make_graph("delaunay", 200, 1)
    assert nx.check_planarity(delaunay.to_networkx())[0]
    assert len(delaunay.edges) <= 3 * 200 - 6


def test_names_are_placed_differently_by_seed():
    # same names, but a given name does not always sit on the same node
    neighbourhoods = {make_graph("ba", 10, s).neighbors["Michael"] for s in range(6)}
    assert len(neighbourhoods) > 1


@pytest.mark.parametrize("family", FAMILIES)
def test_largest_size_builds(family):
    graph = make_graph(family, 1000, 0)
    assert graph.n == 1000 and graph.diameter >= 3


@pytest.mark.parametrize(
    "args, message",
    [
        (("hex", 8, 0), "valid families: ws, ba, delaunay"),
        (("ws", 3, 0), "between 4 and 1000, got 3"),
        (("ws", 1001, 0), "between 4 and 1000, got 1001"),
        (("ba", 8, -1), "seed must be >= 0"),
    ],
)
def test_bad_arguments_are_user_errors(args, message):
    with pytest.raises(UserError, match=re.escape(message)):
        make_graph(*args)
