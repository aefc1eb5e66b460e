"""Graph coordination problems (AgentsNet): agents on the nodes of a generated graph talk
to their neighbours in synchronous rounds, then each answers alone.

Registered on import: ``graph.coloring`` (with its baseline operator). Leader election,
matching, vertex cover and consensus fit the same `MessagePassingEnv` base, one file each.
"""

from palaestra.envs._registry import EnvSpec, register
from palaestra.envs.graph._base import (
    GraphParams,
    MessagePassingEnv,
    default_rounds,
    parse_task_id,
    parse_text_messages,
    task_id,
)
from palaestra.envs.graph._baselines import ColoringBaseline, coloring_baseline
from palaestra.envs.graph._coloring import ColoringEnv, ColoringParams
from palaestra.envs.graph._graphs import (
    FAMILIES,
    Family,
    GraphInstance,
    agent_names,
    make_graph,
)
from palaestra.envs.graph._names import FIRST_NAMES

register(
    EnvSpec(
        id="graph.coloring",
        factory=ColoringEnv,
        params=ColoringParams,
        description=(
            "AgentsNet graph colouring: agents on a ws/ba/delaunay graph exchange messages "
            "for some rounds, then each picks one of max-degree+1 colours; scored on the "
            "share of edges whose ends differ"
        ),
        baseline=coloring_baseline,
    )
)

__all__ = [
    "FAMILIES",
    "FIRST_NAMES",
    "ColoringBaseline",
    "ColoringEnv",
    "ColoringParams",
    "Family",
    "GraphInstance",
    "GraphParams",
    "MessagePassingEnv",
    "agent_names",
    "coloring_baseline",
    "default_rounds",
    "make_graph",
    "parse_task_id",
    "parse_text_messages",
    "task_id",
]
