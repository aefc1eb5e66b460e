"""``graph.leader_election``: elect exactly one leader, as in the AgentsNet benchmark.

One agent per node of a generated graph (see `palaestra.envs.graph._graphs`); each knows
its own name and its neighbours' names. The agents talk for ``rounds`` synchronous
message rounds, then each answers alone whether it is the leader: ``Yes`` or ``No``
(``Action.data={"answer": "Yes"}`` or ``True``, or a text line ``ANSWER: Yes``; any
case, markdown and a reason after the word are fine, "Yes or No" is not). See `_base`
for the rounds, the message format and the one re-ask of an invalid answer.

Rounds: 2·diameter + 1 by default whatever the size, as AgentsNet always uses for leader
election (enough for any fact to cross the graph and an answer to come back); an explicit
``rounds`` parameter is honoured, for ablations with fewer rounds.

Score = 1 iff every answer is valid and exactly one is Yes, else 0 (AgentsNet's
``LeaderElection.get_score``); success iff the score is 1. ``Score.metrics`` and every
step's ``info["metrics"]``: ``valid_fraction`` (agents with a valid answer), ``leaders``
(valid Yes answers) and ``rounds``.

Baseline (`LeaderElectionBaseline`: flood the greatest name; the agent whose own name is
the greatest it heard of says Yes), mean score and successes over the 20 tasks
``{family}-{n}-0..19`` (run seed 0), measured with the loop of
``tests/envs/graph/test_flooding_baseline.py``:

============  ===============  ===============  ===============
rounds        n=8              n=16             n=50
============  ===============  ===============  ===============
default, ws   1.000 (20/20)    1.000 (20/20)    1.000 (20/20)
default, ba   1.000 (20/20)    1.000 (20/20)    1.000 (20/20)
default, dt   1.000 (20/20)    1.000 (20/20)    1.000 (20/20)
1, ws         0.450 (9/20)     0.000 (0/20)     0.000 (0/20)
1, ba         0.300 (6/20)     0.000 (0/20)     0.000 (0/20)
1, dt         0.300 (6/20)     0.000 (0/20)     0.000 (0/20)
============  ===============  ===============  ===============

(dt = delaunay. Flooding is exact once the rounds reach the diameter, so the default
2·diameter + 1 always elects one leader; with one round, every agent that is greater
than all its neighbours says Yes.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from palaestra.envs._protocol import Score
from palaestra.envs.graph._answers import parse_yes_no
from palaestra.envs.graph._base import GraphParams, MessagePassingEnv
from palaestra.envs.graph._graphs import GraphInstance

DIAMETER_ROUNDS_HELP = (
    "message rounds before the answer; default: 2*diameter+1 at every size (as AgentsNet "
    "does for this problem)"
)


class LeaderElectionParams(GraphParams):
    """Parameters of ``graph.leader_election``."""

    rounds: int | None = Field(default=None, ge=1, le=1000, description=DIAMETER_ROUNDS_HELP)


def score_leader_election(names: Sequence[str], answers: Mapping[str, Any]) -> Score:
    """Score Yes/No answers (True = Yes; an agent absent from `answers` answered
    invalidly): 1 iff all of `names` answered and exactly one said Yes."""
    valid = sum(1 for name in names if answers.get(name) is not None)
    leaders = sum(1 for name in names if answers.get(name) is True)
    n = len(names)
    value = 1.0 if valid == n and leaders == 1 else 0.0
    if valid == 0:
        explanation = "no valid answers yet"
    elif valid < n:
        explanation = f"{n - valid} of {n} agents gave no valid Yes/No, so 0"
    else:
        explanation = f"{leaders} of {n} agents said they are the leader" + (
            "" if leaders == 1 else ", not exactly one, so 0"
        )
    return Score(
        value=value,
        success=value == 1.0,
        metrics={"valid_fraction": valid / n if n else 0.0, "leaders": float(leaders)},
        explanation=explanation,
    )


class LeaderElectionEnv(MessagePassingEnv):
    """Agents agree, by messages, on exactly one of them to be the leader."""

    problem = "leader election"

    def __init__(self, params: LeaderElectionParams | None = None):
        super().__init__(params or LeaderElectionParams())

    def default_rounds_for(self, graph: GraphInstance) -> int:
        return 2 * graph.diameter + 1

    def describe_task(self, agent: str) -> str:
        return (
            "the group must elect exactly one leader. Agree on who it is by messages, "
            "because at the end each agent answers alone whether it is the leader, Yes or "
            "No. The group succeeds only if exactly one agent answers Yes and all the "
            "others answer No."
        )

    def answer_format(self, agent: str) -> tuple[str, str]:
        return "are you the leader? Yes or No", "Yes or No"

    def parse_answer(self, agent: str, raw: Any) -> tuple[Any, str]:
        return parse_yes_no(raw)

    def evaluate(self, answers: Mapping[str, Any]) -> Score:
        return score_leader_election(self.graph.names, answers)

    def extra_data(self, agent: str) -> dict[str, Any]:
        return {"choices": ["Yes", "No"]}
