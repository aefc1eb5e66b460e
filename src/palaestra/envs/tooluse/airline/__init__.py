"""The airline domain: airports, flights, users and reservations, thirteen tools, a
policy with refundability, baggage and compensation rules, and a task generator with
eleven intents. `AIRLINE` is the `Domain` that `tooluse.airline` runs."""

from importlib import resources

from palaestra.envs.tooluse._domain import Domain
from palaestra.envs.tooluse.airline._db import AirlineDB, generate_database
from palaestra.envs.tooluse.airline._tasks import INTENTS, generate_tasks
from palaestra.envs.tooluse.airline._tools import TOOLS

POLICY = resources.files(__name__).joinpath("policy.md").read_text(encoding="utf-8")
"""The airline's policy document (markdown), shown to the agent first."""

AIRLINE = Domain(
    name="airline",
    policy=POLICY,
    tools=TOOLS,
    make_database=generate_database,
    make_tasks=generate_tasks,
)

__all__ = [
    "AIRLINE",
    "INTENTS",
    "POLICY",
    "TOOLS",
    "AirlineDB",
    "generate_database",
    "generate_tasks",
]
