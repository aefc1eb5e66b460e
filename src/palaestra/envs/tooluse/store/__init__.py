"""The store domain: an online shop (users, products, orders), ten tools, a policy and a
task generator. `STORE` is the `Domain` that `tooluse.store` runs."""

from importlib import resources

from palaestra.envs.tooluse._domain import Domain
from palaestra.envs.tooluse.store._db import StoreDB, generate_database
from palaestra.envs.tooluse.store._tasks import INTENTS, generate_tasks
from palaestra.envs.tooluse.store._tools import TOOLS

POLICY = resources.files(__name__).joinpath("policy.md").read_text(encoding="utf-8")
"""The store's policy document (markdown), shown to the agent first."""

STORE = Domain(
    name="store",
    policy=POLICY,
    tools=TOOLS,
    make_database=generate_database,
    make_tasks=generate_tasks,
)

__all__ = ["INTENTS", "POLICY", "STORE", "TOOLS", "StoreDB", "generate_database", "generate_tasks"]
