"""``graph.consensus``: agree on one bit, as in the AgentsNet benchmark, from private
starting bits.

One agent per node of a generated graph (see `palaestra.envs.graph._graphs`); each knows
its own name, its neighbours' names and a private starting value, 0 or 1, shown in its
observation (``Observation.data["value"]`` and the text). The values are a pure function
of the task id, the reset seed and the agent's name (`initial_values`), so the same graph
gets other values under another seed. The agents talk for ``rounds`` synchronous message
rounds, then each answers alone with 0 or 1 (``Action.data={"answer": 1}`` or a text line
``ANSWER: 1``; markdown, "one" and a reason after the digit are fine, "0 or 1" is not).
See `_base` for the rounds, the message format and the one re-ask of an invalid answer.

AgentsNet's consensus has no starting values (any common answer wins); here they make the
problem one of agreement *on someone's value*, as in distributed computing, and the
``validity`` metric says whether the group did that. The score is AgentsNet's.

Rounds: 2·diameter + 1 by default whatever the size, as AgentsNet always uses for
consensus; an explicit ``rounds`` parameter is honoured, for ablations.

Score = 1 iff every answer is valid (0 or 1) and all answers are equal, else 0; success
iff the score is 1. ``Score.metrics`` and every step's ``info["metrics"]``:
``valid_fraction`` (agents with a valid answer), ``agreement`` (share of agents giving
the most common valid answer), ``validity`` (1 if the score is 1 and the common answer was
some agent's starting value), ``ones`` (share of agents that started with 1) and
``rounds``.

Baseline (`ConsensusBaseline`: flood the greatest name with its starting value; everybody
answers that value), mean score and successes over the 20 tasks ``{family}-{n}-0..19``
(reset seed 0, run seed 0), measured with the loop of
``tests/envs/graph/test_flooding_baseline.py``:

============  ===============  ===============  ===============
rounds        n=8              n=16             n=50
============  ===============  ===============  ===============
default, ws   1.000 (20/20)    1.000 (20/20)    1.000 (20/20)
default, ba   1.000 (20/20)    1.000 (20/20)    1.000 (20/20)
default, dt   1.000 (20/20)    1.000 (20/20)    1.000 (20/20)
1, ws         0.400 (8/20)     0.050 (1/20)     0.000 (0/20)
1, ba         0.300 (6/20)     0.000 (0/20)     0.000 (0/20)
1, dt         0.200 (4/20)     0.000 (0/20)     0.000 (0/20)
============  ===============  ===============  ===============

(dt = delaunay. With the default rounds the greatest name reaches everybody, so the
baseline always agrees, on a valid value; with one round it agrees only where the
starting values happen to line up.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from palaestra.core import derive_seed
from palaestra.envs._protocol import Score
from palaestra.envs.graph._answers import parse_bit
from palaestra.envs.graph._base import GraphParams, MessagePassingEnv
from palaestra.envs.graph._graphs import GraphInstance
from palaestra.envs.graph._leader_election import DIAMETER_ROUNDS_HELP


class ConsensusParams(GraphParams):
    """Parameters of ``graph.consensus``."""

    rounds: int | None = Field(default=None, ge=1, le=1000, description=DIAMETER_ROUNDS_HELP)


def initial_values(task: str, seed: int, names: Sequence[str]) -> dict[str, int]:
    """Each agent's private starting bit: a fair coin per agent, drawn from
    ``(seed, task, name)`` (BLAKE2b, see `palaestra.core.derive_seed`)."""
    return {name: derive_seed(seed, task, name, "consensus-value") % 2 for name in names}


def score_consensus(
    names: Sequence[str], answers: Mapping[str, Any], initial: Mapping[str, int]
) -> Score:
    """Score 0/1 answers (an agent absent from `answers` answered invalidly): 1 iff all of
    `names` answered and all answers are equal."""
    n = len(names)
    given = [answers[name] for name in names if answers.get(name) is not None]
    counts = {bit: given.count(bit) for bit in (0, 1)}
    top = max(counts.values())
    value = 1.0 if n and top == n else 0.0
    common = 0 if counts[0] == n else 1
    validity = 1.0 if value == 1.0 and common in initial.values() else 0.0
    if not given:
        explanation = "no valid answers yet"
    elif len(given) < n:
        explanation = f"{n - len(given)} of {n} agents gave no valid 0 or 1, so 0"
    elif value == 1.0:
        explanation = f"all {n} agents answered {common}" + (
            "" if validity else ", which was nobody's starting value"
        )
    else:
        explanation = f"{counts[0]} agents answered 0 and {counts[1]} answered 1, so 0"
    return Score(
        value=value,
        success=value == 1.0,
        metrics={
            "valid_fraction": len(given) / n if n else 0.0,
            "agreement": top / n if n else 0.0,
            "validity": validity,
            "ones": sum(initial.get(name, 0) for name in names) / n if n else 0.0,
        },
        explanation=explanation,
    )


class ConsensusEnv(MessagePassingEnv):
    """Agents that start with private bits agree, by messages, on one bit."""

    problem = "consensus"

    def __init__(self, params: ConsensusParams | None = None):
        super().__init__(params or ConsensusParams())
        self.values: dict[str, int] = {}
        """Each agent's starting bit in the current episode."""

    def on_reset(self, graph: GraphInstance) -> None:
        self.values = initial_values(self.task, self.seed, graph.names)

    def default_rounds_for(self, graph: GraphInstance) -> int:
        return 2 * graph.diameter + 1

    def describe_task(self, agent: str) -> str:
        return (
            f"your private starting value is {self.values[agent]}; the others have their "
            "own, 0 or 1. The group must agree on a single value, 0 or 1. Agree on it by "
            "messages, because at the end each agent answers alone. The group succeeds "
            "only if every agent answers the same value."
        )

    def answer_format(self, agent: str) -> tuple[str, str]:
        return "the value the group agreed on, 0 or 1", "0 or 1"

    def parse_answer(self, agent: str, raw: Any) -> tuple[Any, str]:
        return parse_bit(raw)

    def evaluate(self, answers: Mapping[str, Any]) -> Score:
        return score_consensus(self.graph.names, answers, self.values)

    def extra_data(self, agent: str) -> dict[str, Any]:
        return {"value": self.values[agent], "choices": [0, 1]}
