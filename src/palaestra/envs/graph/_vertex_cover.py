"""``graph.vertex_cover``: choose a minimal vertex cover ("coordinators"), as in the
AgentsNet benchmark.

One agent per node of a generated graph (see `palaestra.envs.graph._graphs`); each knows
its own name and its neighbours' names. The agents talk for ``rounds`` synchronous
message rounds, then each answers alone whether it is a coordinator, i.e. in the cover:
``Yes`` or ``No`` (``Action.data={"answer": "Yes"}`` or ``True``, or a text line
``ANSWER: Yes``; any case, markdown and a reason after the word are fine, "Yes or No" is
not). See `_base` for the rounds, the message format and the one re-ask of an invalid
answer.

Rounds: AgentsNet's rule (`default_rounds`): 4 up to 16 nodes, else 2·diameter + 1;
``rounds`` sets them.

Score = coverage × minimality, AgentsNet's ``score_vertex_cover``: coverage is the share
of edges with at least one Yes end (1 for a graph without edges); minimality is the share
of Yes agents whose switch to No would leave some edge uncovered — which every Yes agent
does while coverage is below 1, and otherwise exactly those with a No neighbour. An
invalid answer counts as No (not in the cover). Where AgentsNet divides by zero — nobody
says Yes — minimality is 1, so the score is 0 on any graph with edges (coverage 0) and 1
on one without. Success iff the score is 1 and every answer is valid: the Yes agents form
a minimal vertex cover. ``Score.metrics`` and every step's ``info["metrics"]``:
``valid_fraction``, ``coverage``, ``minimality``, ``cover_fraction`` (share of agents
saying Yes; smaller is a better cover, but not scored) and ``rounds``.

Baseline (`VertexCoverBaseline`: a distributed maximal independent set, Luby style, with
priorities drawn afresh each round from the names; the agents outside it say Yes — the
complement of a maximal independent set is a minimal vertex cover), mean score and
successes over the 20 tasks ``{family}-{n}-0..19`` (run seed 0), measured with the loop
of ``tests/envs/graph/test_cover_baseline.py``:

============  ===============  ===============  ===============
rounds        n=8              n=16             n=50
============  ===============  ===============  ===============
default, ws   1.000 (20/20)    1.000 (20/20)    1.000 (20/20)
default, ba   1.000 (20/20)    0.989 (18/20)    1.000 (20/20)
default, dt   1.000 (20/20)    1.000 (20/20)    1.000 (20/20)
3, ws         1.000 (20/20)    1.000 (20/20)    0.975 (8/20)
3, ba         0.990 (19/20)    0.989 (18/20)    0.970 (10/20)
3, dt         1.000 (20/20)    0.977 (17/20)    0.982 (12/20)
1, ws         0.770 (6/20)     0.804 (5/20)     0.735 (0/20)
1, ba         0.761 (4/20)     0.691 (2/20)     0.593 (0/20)
1, dt         0.831 (10/20)    0.754 (0/20)     0.757 (0/20)
============  ===============  ===============  ===============

(dt = delaunay; default rounds are 4 up to 16 nodes, else 2·diameter+1. With 6 rounds it
scores 1.000 (20/20) in every cell. For comparison, a prototype of the textbook
alternative — both ends of a distributed maximal matching, plus a pipelined pruning of
Yes agents whose neighbours are all Yes — measured 0.58 to 0.77 mean at n = 8 and 16 with
the default 4 rounds: the matching takes the rounds that pruning would need.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from palaestra.envs._protocol import Score
from palaestra.envs.graph._answers import parse_yes_no
from palaestra.envs.graph._base import GraphParams, MessagePassingEnv
from palaestra.envs.graph._graphs import GraphInstance


class VertexCoverParams(GraphParams):
    """Parameters of ``graph.vertex_cover`` (those every graph problem shares)."""


def score_vertex_cover(graph: GraphInstance, answers: Mapping[str, Any]) -> Score:
    """Score Yes/No answers (True = in the cover; an agent absent from `answers` answered
    invalidly and counts as No) as coverage × minimality; O(edges)."""
    names, edges = graph.names, graph.edges
    n = len(names)
    cover = {name for name in names if answers.get(name) is True}
    covered = sum(1 for a, b in edges if a in cover or b in cover)
    coverage = covered / len(edges) if edges else 1.0
    if coverage < 1.0:
        needed = len(cover)
    else:
        needed = sum(1 for name in cover if any(nb not in cover for nb in graph.neighbors[name]))
    minimality = needed / len(cover) if cover else 1.0
    value = coverage * minimality
    valid = sum(1 for name in names if answers.get(name) is not None)
    if valid == 0:
        explanation = "no valid answers yet"
    else:
        explanation = (
            f"{covered} of {len(edges)} edges covered by {len(cover)} Yes agents, "
            f"{len(cover) - needed} of them redundant"
            + ("" if valid == n else f"; {n - valid} invalid answers count as No")
        )
    return Score(
        value=value,
        success=value == 1.0 and valid == n,
        metrics={
            "valid_fraction": valid / n if n else 0.0,
            "coverage": coverage,
            "minimality": minimality,
            "cover_fraction": len(cover) / n if n else 0.0,
        },
        explanation=explanation,
    )


class VertexCoverEnv(MessagePassingEnv):
    """Agents choose coordinators so that every edge has one and none is redundant."""

    problem = "vertex cover"

    def __init__(self, params: VertexCoverParams | None = None):
        super().__init__(params or VertexCoverParams())

    def describe_task(self, agent: str) -> str:
        return (
            "the group must choose coordinators such that, for every two neighbours, at "
            "least one of them is a coordinator, and every coordinator has at least one "
            "neighbour who is not a coordinator (no coordinator is redundant). Agree on "
            "it by messages, because at the end each agent answers alone whether it is "
            "a coordinator, Yes or No."
        )

    def answer_format(self, agent: str) -> tuple[str, str]:
        return "are you a coordinator? Yes or No", "Yes or No"

    def parse_answer(self, agent: str, raw: Any) -> tuple[Any, str]:
        return parse_yes_no(raw)

    def evaluate(self, answers: Mapping[str, Any]) -> Score:
        return score_vertex_cover(self.graph, answers)

    def extra_data(self, agent: str) -> dict[str, Any]:
        return {"choices": ["Yes", "No"]}
