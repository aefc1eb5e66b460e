"""Graph generators of the AgentsNet benchmark, with named nodes.

Three families, built exactly as AgentsNet builds them:

- ``ws``: small world, ``networkx.connected_watts_strogatz_graph(n, 4, 0.4, seed=seed)``
  (for n = 4 that is the complete graph K4);
- ``ba``: scale free, ``networkx.barabasi_albert_graph(n, 2, seed=seed)``;
- ``delaunay``: the Delaunay triangulation of n points drawn uniformly in the unit square
  by ``numpy.random.default_rng(seed)``.

Every graph is connected, has 4 to 1,000 nodes, and is a pure function of
``(family, n, seed)``. Nodes are named: a graph of n nodes uses the first n names of
`FIRST_NAMES` (so the agent names of an environment do not change from task to task), and
which node gets which name is a permutation drawn from ``(seed, family)``, so the same
name sits at different places in different graphs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal, get_args

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path
from scipy.spatial import Delaunay

from palaestra.core import UserError
from palaestra.envs.graph._names import FIRST_NAMES

Family = Literal["ws", "ba", "delaunay"]
"""Graph family: Watts–Strogatz small world, Barabási–Albert scale free, Delaunay."""

FAMILIES: tuple[str, ...] = get_args(Family)
MIN_NODES = 4
MAX_NODES = 1000

_NAME_STREAM = {"ws": 1, "ba": 2, "delaunay": 3}
"""Second word of the seed sequence that permutes names, one per family."""


def agent_names(n: int) -> tuple[str, ...]:
    """The n agent names of a graph of n nodes, in a fixed order.

    The first n entries of `FIRST_NAMES`; past the end of the list, names repeat with a
    numeric suffix (``Michael2``, ``Jennifer2``...), so any n gives distinct names.
    """
    size = len(FIRST_NAMES)
    return tuple(
        FIRST_NAMES[i % size] + (str(i // size + 1) if i >= size else "") for i in range(n)
    )


@dataclass(frozen=True)
class GraphInstance:
    """An undirected, connected graph whose nodes are agent names."""

    family: str
    """Family the graph was drawn from."""
    seed: int
    """Seed it was drawn with."""
    names: tuple[str, ...]
    """Node (agent) names, in the fixed order of `agent_names`."""
    edges: tuple[tuple[str, str], ...]
    """Every edge once, as (earlier name, later name) in `names` order, sorted."""
    neighbors: Mapping[str, tuple[str, ...]] = field(repr=False)
    """Neighbours of each node, in `names` order."""

    @property
    def n(self) -> int:
        """Number of nodes."""
        return len(self.names)

    @property
    def max_degree(self) -> int:
        """Largest number of neighbours of any node."""
        return max(len(nbs) for nbs in self.neighbors.values())

    @cached_property
    def diameter(self) -> int:
        """Longest shortest path, in edges (BFS in C through scipy, fast up to 1,000)."""
        index = {name: i for i, name in enumerate(self.names)}
        rows = [index[a] for a, _ in self.edges]
        cols = [index[b] for _, b in self.edges]
        matrix = csr_matrix(([1] * len(rows), (rows, cols)), shape=(self.n, self.n))
        dist = shortest_path(matrix, directed=False, unweighted=True)
        return int(dist.max())

    def to_networkx(self) -> nx.Graph:
        """The same graph as a networkx graph with name-labelled nodes."""
        graph = nx.Graph()
        graph.add_nodes_from(self.names)
        graph.add_edges_from(self.edges)
        return graph


def make_graph(family: str, n: int, seed: int) -> GraphInstance:
    """Build the graph of `family` with `n` nodes from `seed` (deterministic).

    Raises `UserError` for an unknown family, a size outside 4..1,000 or a negative seed.
    """
    if family not in FAMILIES:
        raise UserError(f"unknown graph family {family!r}; valid families: {', '.join(FAMILIES)}")
    if not MIN_NODES <= n <= MAX_NODES:
        raise UserError(f"graph size must be between {MIN_NODES} and {MAX_NODES}, got {n}")
    if seed < 0:
        raise UserError(f"graph seed must be >= 0, got {seed}")
    raw = _raw_graph(family, n, seed)
    if raw.number_of_nodes() != n or not nx.is_connected(raw):
        raise RuntimeError(
            f"generator for {family} produced an unusable graph (n={n}, seed={seed})"
        )
    names = agent_names(n)
    perm = np.random.default_rng((seed, _NAME_STREAM[family])).permutation(n)
    name_of = {node: names[int(perm[i])] for i, node in enumerate(sorted(raw.nodes))}
    order = {name: i for i, name in enumerate(names)}
    pairs = (sorted((order[name_of[u]], order[name_of[v]])) for u, v in raw.edges)
    edges = [(names[i], names[j]) for i, j in sorted((i, j) for i, j in pairs)]
    adjacency: dict[str, list[str]] = {name: [] for name in names}
    for a, b in edges:
        adjacency[a].append(b)
        adjacency[b].append(a)
    neighbors = {name: tuple(sorted(nbs, key=order.__getitem__)) for name, nbs in adjacency.items()}
    return GraphInstance(
        family=family,
        seed=seed,
        names=names,
        edges=tuple(edges),
        neighbors=neighbors,
    )


def _raw_graph(family: str, n: int, seed: int) -> nx.Graph:
    if family == "ws":
        return nx.connected_watts_strogatz_graph(n, 4, 0.4, seed=seed)
    if family == "ba":
        return nx.barabasi_albert_graph(n, 2, seed=seed)
    points = np.random.default_rng(seed).random((n, 2))
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    for simplex in Delaunay(points).simplices:
        a, b, c = (int(x) for x in simplex)
        graph.add_edges_from(((a, b), (b, c), (a, c)))
    return graph
