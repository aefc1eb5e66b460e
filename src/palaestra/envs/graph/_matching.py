"""``graph.matching``: pair up neighbours (a maximal matching), as in the AgentsNet
benchmark.

One agent per node of a generated graph (see `palaestra.envs.graph._graphs`); each knows
its own name and its neighbours' names. The agents talk for ``rounds`` synchronous
message rounds, then each answers alone with the neighbour it pairs with, or ``None``
when all its neighbours are paired with others (``Action.data={"answer": "Bob"}`` — the
string ``"None"`` for no partner — or a text line ``ANSWER: Bob``; any case, markdown and
a reason after the name are fine). The name of an agent who is not a neighbour, or of
nobody, is invalid (AgentsNet accepts only the neighbours and None) and asked again once;
see `_base` for the rounds, the message format and the re-ask.

Rounds: AgentsNet's rule (`default_rounds`): 4 up to 16 nodes, else 2·diameter + 1;
``rounds`` sets them.

Score = (n − inconsistent) / n, AgentsNet's ``Matching.get_score``: an agent is
inconsistent if its answer is invalid or names a non-neighbour, if it names a partner who
does not name it back, or if it answers None while a neighbour also answers None (the two
could have paired: the matching is not maximal). Success iff the score is 1, i.e. the
answers form a maximal matching. ``Score.metrics`` and every step's ``info["metrics"]``:
``valid_fraction`` (agents with a valid answer), ``matched_fraction`` (agents in a pair
whose members name each other), ``inconsistent`` (count) and ``rounds``.

Baseline (`MatchingBaseline`: every round each unmatched agent proposes to the free
neighbour joined by the heaviest edge, with edge weights drawn afresh each round from the
two names; mutual proposals pair up), mean score and successes over the 20 tasks
``{family}-{n}-0..19`` (run seed 0), measured with the loop of
``tests/envs/graph/test_matching_baseline.py``:

============  ===============  ===============  ===============
rounds        n=8              n=16             n=50
============  ===============  ===============  ===============
default, ws   0.988 (19/20)    0.981 (17/20)    1.000 (20/20)
default, ba   1.000 (20/20)    0.991 (19/20)    1.000 (20/20)
default, dt   1.000 (20/20)    0.953 (14/20)    1.000 (20/20)
3, ws         0.944 (16/20)    0.906 (11/20)    0.937 (2/20)
3, ba         0.944 (16/20)    0.959 (15/20)    0.959 (6/20)
3, dt         0.950 (18/20)    0.906 (9/20)     0.884 (0/20)
1, ws         0.606 (4/20)     0.562 (0/20)     0.592 (0/20)
1, ba         0.594 (5/20)     0.666 (1/20)     0.610 (0/20)
1, dt         0.606 (4/20)     0.647 (1/20)     0.570 (0/20)
============  ===============  ===============  ===============

(dt = delaunay; default rounds are 4 up to 16 nodes, else 2·diameter+1, i.e. 9 to 17 at
50 nodes. With 6 rounds it scores 1.000 (20/20) in every cell but delaunay-50, 0.998
(19/20): the 4 default rounds of small graphs are what leave a few pairs unformed.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from palaestra.envs._protocol import Score
from palaestra.envs.graph._answers import NO_PARTNER, parse_partner
from palaestra.envs.graph._base import GraphParams, MessagePassingEnv
from palaestra.envs.graph._graphs import GraphInstance


class MatchingParams(GraphParams):
    """Parameters of ``graph.matching`` (those every graph problem shares)."""


def score_matching(graph: GraphInstance, answers: Mapping[str, Any]) -> Score:
    """Score partner answers (a name or `NO_PARTNER`; an agent absent from `answers`
    answered invalidly) by AgentsNet's count of inconsistent agents."""
    names = graph.names
    n = len(names)
    inconsistent = matched = 0
    for name in names:
        partner = answers.get(name)
        neighbors = graph.neighbors[name]
        if partner is None:  # invalid
            inconsistent += 1
        elif partner == NO_PARTNER:
            if any(answers.get(nb) == NO_PARTNER for nb in neighbors):
                inconsistent += 1
        elif partner not in neighbors or answers.get(partner) != name:
            inconsistent += 1
        else:
            matched += 1
    valid = sum(1 for name in names if answers.get(name) is not None)
    value = (n - inconsistent) / n if n else 0.0
    if valid == 0:
        explanation = "no valid answers yet"
    else:
        explanation = (
            f"{matched // 2} pairs; {inconsistent} of {n} agents inconsistent (invalid, "
            "unreciprocated, or unmatched next to an unmatched neighbour)"
        )
    return Score(
        value=value,
        success=value == 1.0,
        metrics={
            "valid_fraction": valid / n if n else 0.0,
            "matched_fraction": matched / n if n else 0.0,
            "inconsistent": float(inconsistent),
        },
        explanation=explanation,
    )


class MatchingEnv(MessagePassingEnv):
    """Agents pair up with neighbours so that no two unpaired agents are neighbours."""

    problem = "matching"

    def __init__(self, params: MatchingParams | None = None):
        super().__init__(params or MatchingParams())

    def describe_task(self, agent: str) -> str:
        return (
            "the agents must form pairs of neighbours. Each agent is in at most one pair, "
            "and the two members of a pair must name each other. An agent answers None "
            "only if all its neighbours are in pairs with others: two neighbours who both "
            "answer None could have paired, and count as mistakes. Agree on pairs by "
            "messages, because at the end each agent answers alone. The group is scored on "
            "the share of agents whose answer is consistent."
        )

    def answer_format(self, agent: str) -> tuple[str, str]:
        options = ", ".join([*self.graph.neighbors[agent], NO_PARTNER])
        return (
            f"the neighbour you pair with, or None if you pair with nobody; one of: {options}",
            "a name or None",
        )

    def parse_answer(self, agent: str, raw: Any) -> tuple[Any, str]:
        return parse_partner(raw, self.graph.neighbors[agent], self.graph.names)

    def evaluate(self, answers: Mapping[str, Any]) -> Score:
        return score_matching(self.graph, answers)

    def extra_data(self, agent: str) -> dict[str, Any]:
        return {"choices": [*self.graph.neighbors[agent], NO_PARTNER]}
