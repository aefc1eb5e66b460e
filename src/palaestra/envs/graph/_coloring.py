"""``graph.coloring``: distributed (Δ+1)-colouring, as in the AgentsNet benchmark.

One agent per node of a generated graph (see `palaestra.envs.graph._graphs`). Each agent
knows only its own name, its neighbours' names and the palette: colours are the whole
numbers ``1..k`` with ``k = max degree + 1`` (AgentsNet's "Group 1".."Group k"), unless
``num_colors`` sets k. The agents talk for ``rounds`` synchronous message rounds, then each
answers with its colour (``Action.data={"answer": 3}`` or a text line ``ANSWER: 3``; in
text, the first whole number after ``ANSWER:`` is read). See `_base` for the rounds, the
message format and the one re-ask of an invalid answer.

Score = (every answer valid) × (fraction of edges whose two ends have different
colours); success iff the score is 1, i.e. a proper colouring. ``Score.metrics`` and
every step's ``info["metrics"]``: ``valid_fraction`` (agents with a valid answer),
``edge_fraction`` (edges whose ends both answered validly and differ), ``conflicts``
(edges whose ends answered the same colour), ``num_colors`` and ``rounds``.

Baseline (`ColoringBaseline`: random proposals, ties broken by name), mean score and
successes over the 20 tasks ``{family}-{n}-0..19`` (run seed 0), measured with the loop of
``tests/envs/graph/test_coloring_baseline.py``:

============  ===============  ===============  ===============
rounds        n=8              n=16             n=50
============  ===============  ===============  ===============
default, ws   1.000 (20/20)    1.000 (20/20)    1.000 (20/20)
default, ba   1.000 (20/20)    1.000 (20/20)    1.000 (20/20)
default, dt   1.000 (20/20)    1.000 (20/20)    1.000 (20/20)
1, ws         0.991 (17/20)    0.986 (12/20)    0.994 (12/20)
1, ba         0.979 (16/20)    0.988 (16/20)    0.998 (17/20)
1, dt         0.975 (14/20)    0.991 (15/20)    0.991 (3/20)
============  ===============  ===============  ===============

(dt = delaunay; default rounds are 4 up to 16 nodes, else 2·diameter+1. With 2 or 3
rounds it already scores 1.000 (20/20) in every cell, and 200/200 with the default rounds
at 8 and 16 nodes: k = Δ+1 colours leave most agents several free colours.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from palaestra.envs._protocol import Score
from palaestra.envs.graph._base import GraphParams, MessagePassingEnv
from palaestra.envs.graph._graphs import GraphInstance

_INT_RE = re.compile(r"-?\d+")


class ColoringParams(GraphParams):
    """Parameters of ``graph.coloring``."""

    num_colors: int | None = Field(
        default=None, ge=1, le=1001, description="palette size k; default: max degree + 1"
    )


class ColoringEnv(MessagePassingEnv):
    """Agents colour the graph they form so that no two neighbours share a colour."""

    problem = "graph colouring"

    def __init__(self, params: ColoringParams | None = None):
        super().__init__(params or ColoringParams())
        self.num_colors = 0

    def on_reset(self, graph: GraphInstance) -> None:
        params = self.params
        assert isinstance(params, ColoringParams)
        self.num_colors = params.num_colors or graph.max_degree + 1

    def describe_task(self, agent: str) -> str:
        k = self.num_colors
        return (
            f"every agent must choose one colour, a whole number from 1 to {k}, so that no "
            "two neighbours choose the same colour. Agree on colours with your neighbours "
            "by messages, because at the end each agent answers alone. The group is scored "
            "on the share of neighbour pairs with different colours, and gets 0 if any "
            "agent gives an invalid answer."
        )

    def answer_format(self, agent: str) -> tuple[str, str]:
        k = self.num_colors
        return (
            f"your colour, a whole number from 1 to {k}, different from every neighbour's",
            "your colour",
        )

    def parse_answer(self, agent: str, raw: Any) -> tuple[Any, str]:
        k = self.num_colors
        if isinstance(raw, bool):
            value = None
        elif isinstance(raw, int):
            value = raw
        elif isinstance(raw, float) and raw.is_integer():
            value = int(raw)
        elif isinstance(raw, str):
            match = _INT_RE.search(raw)
            value = int(match.group()) if match else None
        else:
            value = None
        if value is None:
            return None, f"expected a whole number from 1 to {k}, got {str(raw)[:40]!r}"
        if not 1 <= value <= k:
            return None, f"colour {value} is not between 1 and {k}"
        return value, ""

    def evaluate(self, answers: Mapping[str, Any]) -> Score:
        graph = self.graph
        edges = graph.edges
        different = conflicts = 0
        for a, b in edges:
            ca, cb = answers.get(a), answers.get(b)
            if ca is None or cb is None:
                continue
            if ca != cb:
                different += 1
            else:
                conflicts += 1
        valid = sum(1 for name in graph.names if answers.get(name) is not None)
        valid_fraction = valid / graph.n
        edge_fraction = different / len(edges)
        value = edge_fraction if valid == graph.n else 0.0
        if valid == 0:
            explanation = "no valid answers yet"
        elif valid < graph.n:
            explanation = f"{graph.n - valid} of {graph.n} agents gave no valid colour, so 0"
        else:
            explanation = f"{different} of {len(edges)} edges join different colours"
        return Score(
            value=value,
            success=value == 1.0,
            metrics={
                "valid_fraction": valid_fraction,
                "edge_fraction": edge_fraction,
                "conflicts": float(conflicts),
                "num_colors": float(self.num_colors),
            },
            explanation=explanation,
        )

    def extra_data(self, agent: str) -> dict[str, Any]:
        return {"colors": list(range(1, self.num_colors + 1))}
