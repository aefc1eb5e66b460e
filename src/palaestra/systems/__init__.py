"""Multi-agent systems as operator combinators: each topology is an `Operator` built from
operators (which may be topologies themselves), recording every internal exchange as a
`message` event and every member's turn under its own agent name (``agent/member``).

The building blocks every topology uses are in `_base` (`consult`, `reply`,
`fork_member`); each topology has its own module.
"""

from palaestra.systems._base import (
    action_text,
    consult,
    describe_member,
    fork_member,
    fork_members,
    open_consult,
    reply,
)
from palaestra.systems._centralized import Centralized
from palaestra.systems._decentralized import Decentralized
from palaestra.systems._hybrid import Hybrid
from palaestra.systems._independent import Independent
from palaestra.systems._pipeline import Pipeline, Stage
from palaestra.systems._recursive import Recursive
from palaestra.systems._single import Single

__all__ = [
    "Centralized",
    "Decentralized",
    "Hybrid",
    "Independent",
    "Pipeline",
    "Recursive",
    "Single",
    "Stage",
    "action_text",
    "consult",
    "describe_member",
    "fork_member",
    "fork_members",
    "open_consult",
    "reply",
]
