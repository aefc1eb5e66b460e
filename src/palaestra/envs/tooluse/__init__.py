"""Tool use with state (tau-bench style): an agent serves a customer of a small stateful
domain through tools, under a written policy; the reward is checked on the final database
and on what the agent told the customer.

Importing this package registers two domains, `tooluse.store` and `tooluse.airline`
(params: `db_seed`, `num_tasks`, `max_turns`, `user`), each with its ground-truth
baseline operator and, for the customer agent of `user="agent"`, the scripted customer;
and the prompt-injection suite `tooluse.injection` on the store (see
`palaestra.envs.tooluse.injection`).
A new domain is a package like `store` (database, tools, policy.md, tasks) plus its entry
in `_suite.py`.
"""

from palaestra.envs.tooluse._baselines import (
    GroundTruthOperator,
    ScriptedUserOperator,
    ground_truth_baseline,
)
from palaestra.envs.tooluse._domain import (
    Domain,
    DomainOutcome,
    DomainTool,
    ExpectedCall,
    Task,
    db_hash,
)
from palaestra.envs.tooluse._env import AGENT, USER, ToolUseEnv, ToolUseParams
from palaestra.envs.tooluse._suite import AirlineEnv, StoreEnv, StoreInjectionEnv
from palaestra.envs.tooluse._user import ScriptedUser, UserTurn
from palaestra.envs.tooluse.airline import AIRLINE
from palaestra.envs.tooluse.store import STORE

__all__ = [
    "AGENT",
    "AIRLINE",
    "STORE",
    "USER",
    "AirlineEnv",
    "Domain",
    "DomainOutcome",
    "DomainTool",
    "ExpectedCall",
    "GroundTruthOperator",
    "ScriptedUser",
    "ScriptedUserOperator",
    "StoreEnv",
    "StoreInjectionEnv",
    "Task",
    "ToolUseEnv",
    "ToolUseParams",
    "UserTurn",
    "db_hash",
    "ground_truth_baseline",
]
