"""Graph coordination problems (AgentsNet): agents on the nodes of a generated graph talk
to their neighbours in synchronous rounds, then each answers alone.

Registered on import, each with a non-LLM baseline operator: ``graph.coloring``,
``graph.leader_election``, ``graph.matching``, ``graph.vertex_cover`` and
``graph.consensus``; all on the same `MessagePassingEnv` base, one module each. The
``score_*`` functions are the verifiers (AgentsNet's scores), usable without an
environment on any graph and answers; ``parse_*`` are the tolerant answer readers.
"""

from palaestra.envs._registry import EnvSpec, register
from palaestra.envs.graph._base import (
    GraphParams,
    MessagePassingEnv,
    task_id,
)
from palaestra.envs.graph._baselines import ColoringBaseline, coloring_baseline
from palaestra.envs.graph._coloring import ColoringEnv, ColoringParams
from palaestra.envs.graph._consensus import (
    ConsensusEnv,
    ConsensusParams,
    score_consensus,
)
from palaestra.envs.graph._cover_baseline import VertexCoverBaseline, vertex_cover_baseline
from palaestra.envs.graph._flooding import (
    ConsensusBaseline,
    LeaderElectionBaseline,
    consensus_baseline,
    leader_election_baseline,
)
from palaestra.envs.graph._graphs import (
    FAMILIES,
    Family,
    GraphInstance,
    make_graph,
)
from palaestra.envs.graph._leader_election import (
    LeaderElectionEnv,
    LeaderElectionParams,
    score_leader_election,
)
from palaestra.envs.graph._matching import MatchingEnv, MatchingParams, score_matching
from palaestra.envs.graph._matching_baseline import MatchingBaseline, matching_baseline
from palaestra.envs.graph._vertex_cover import (
    VertexCoverEnv,
    VertexCoverParams,
    score_vertex_cover,
)

_FAMILIES_TEXT = "agents on a ws/ba/delaunay graph exchange messages for some rounds, then"

for _spec in (
    EnvSpec(
        id="graph.coloring",
        factory=ColoringEnv,
        params=ColoringParams,
        description=(
            f"AgentsNet graph colouring: {_FAMILIES_TEXT} each picks one of max-degree+1 "
            "colours; scored on the share of edges whose ends differ"
        ),
        baseline=coloring_baseline,
    ),
    EnvSpec(
        id="graph.leader_election",
        factory=LeaderElectionEnv,
        params=LeaderElectionParams,
        description=(
            f"AgentsNet leader election: {_FAMILIES_TEXT} each says whether it is the "
            "leader (Yes/No); 1 iff exactly one Yes"
        ),
        baseline=leader_election_baseline,
    ),
    EnvSpec(
        id="graph.matching",
        factory=MatchingEnv,
        params=MatchingParams,
        description=(
            f"AgentsNet maximal matching: {_FAMILIES_TEXT} each names the neighbour it "
            "pairs with or None; scored on the share of consistent agents"
        ),
        baseline=matching_baseline,
    ),
    EnvSpec(
        id="graph.vertex_cover",
        factory=VertexCoverEnv,
        params=VertexCoverParams,
        description=(
            f"AgentsNet minimal vertex cover: {_FAMILIES_TEXT} each says whether it is a "
            "coordinator (Yes/No); scored on coverage x minimality"
        ),
        baseline=vertex_cover_baseline,
    ),
    EnvSpec(
        id="graph.consensus",
        factory=ConsensusEnv,
        params=ConsensusParams,
        description=(
            f"AgentsNet consensus from private starting bits: {_FAMILIES_TEXT} each "
            "answers 0 or 1; 1 iff all answers are equal"
        ),
        baseline=consensus_baseline,
    ),
):
    register(_spec)
del _spec

__all__ = [
    "FAMILIES",
    "ColoringBaseline",
    "ColoringEnv",
    "ColoringParams",
    "ConsensusBaseline",
    "ConsensusEnv",
    "ConsensusParams",
    "Family",
    "GraphInstance",
    "GraphParams",
    "LeaderElectionBaseline",
    "LeaderElectionEnv",
    "LeaderElectionParams",
    "MatchingBaseline",
    "MatchingEnv",
    "MatchingParams",
    "MessagePassingEnv",
    "VertexCoverBaseline",
    "VertexCoverEnv",
    "VertexCoverParams",
    "coloring_baseline",
    "consensus_baseline",
    "leader_election_baseline",
    "make_graph",
    "matching_baseline",
    "score_consensus",
    "score_leader_election",
    "score_matching",
    "score_vertex_cover",
    "task_id",
    "vertex_cover_baseline",
]
