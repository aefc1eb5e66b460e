"""Tool use with state (tau-bench style): an agent serves a customer of a small stateful
domain through tools, under a written policy; the reward is checked on the final database
and on what the agent told the customer.

Importing this package registers `tooluse.store` (params: `db_seed`, `num_tasks`,
`max_turns`) with its ground-truth baseline operator. A new domain is a package like
`store` (database, tools, policy.md, tasks) plus its entry in `_suite.py`.
"""

from palaestra.envs.tooluse._baselines import (
    GroundTruthOperator,
    final_reply,
    ground_truth_baseline,
)
from palaestra.envs.tooluse._domain import (
    Domain,
    DomainTool,
    ExpectedCall,
    Task,
    ToolOutcome,
    db_hash,
    output_found,
)
from palaestra.envs.tooluse._env import AGENT, ToolUseEnv, ToolUseParams
from palaestra.envs.tooluse._schema import validate_arguments
from palaestra.envs.tooluse._suite import StoreEnv
from palaestra.envs.tooluse._user import STOP, ScriptedUser, UserTurn
from palaestra.envs.tooluse.store import STORE

__all__ = [
    "AGENT",
    "STOP",
    "STORE",
    "Domain",
    "DomainTool",
    "ExpectedCall",
    "GroundTruthOperator",
    "ScriptedUser",
    "StoreEnv",
    "Task",
    "ToolOutcome",
    "ToolUseEnv",
    "ToolUseParams",
    "UserTurn",
    "db_hash",
    "final_reply",
    "ground_truth_baseline",
    "output_found",
    "validate_arguments",
]
