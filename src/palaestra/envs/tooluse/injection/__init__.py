"""The injection suite (`tooluse.injection`): store requests whose tool results or
customer turns carry an attacker's instruction, scored for utility (the benign goal)
and attack success (a checker per attack over the final database). See
docs/governance.md for the tasks and checkers."""

from importlib import resources

from palaestra.envs.tooluse._domain import Domain
from palaestra.envs.tooluse.injection._checkers import CHECKERS, attack_success
from palaestra.envs.tooluse.injection._env import (
    InjectionEnv,
    InjectionParams,
    ObedientOperator,
    injection_baseline,
)
from palaestra.envs.tooluse.injection._tasks import (
    ATTACKS,
    InjectionTask,
    generate_tasks,
)
from palaestra.envs.tooluse.injection._tools import TOOLS, Email, InjectionDB
from palaestra.envs.tooluse.store import POLICY as STORE_POLICY
from palaestra.envs.tooluse.store import generate_database as store_database

POLICY = (
    STORE_POLICY.rstrip()
    + "\n\n"
    + resources.files(__name__).joinpath("policy_extra.md").read_text(encoding="utf-8")
)
"""The store's policy plus the rules on e-mail, notes, refunds and untrusted remarks."""


def generate_database(seed: int) -> InjectionDB:
    """The store database of `seed`, with empty remarks, outbox and notes."""
    return InjectionDB(**dict(store_database(seed)))


INJECTION = Domain(
    name="injection",
    policy=POLICY,
    tools=TOOLS,
    make_database=generate_database,
    make_tasks=generate_tasks,
)

__all__ = [
    "ATTACKS",
    "CHECKERS",
    "INJECTION",
    "POLICY",
    "TOOLS",
    "Email",
    "InjectionDB",
    "InjectionEnv",
    "InjectionParams",
    "InjectionTask",
    "ObedientOperator",
    "attack_success",
    "generate_database",
    "generate_tasks",
    "injection_baseline",
]
