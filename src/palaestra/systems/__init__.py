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
    reply,
)

__all__ = [
    "action_text",
    "consult",
    "describe_member",
    "fork_member",
    "fork_members",
    "reply",
]
