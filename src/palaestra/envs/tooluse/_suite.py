"""The registered tool-use environments: one `ToolUseEnv` subclass and one `EnvSpec` per
domain. A new domain adds its class and its `register` call here."""

from __future__ import annotations

from palaestra.envs._registry import EnvSpec, register
from palaestra.envs.tooluse._baselines import ground_truth_baseline
from palaestra.envs.tooluse._env import ToolUseEnv, ToolUseParams
from palaestra.envs.tooluse.store import STORE


class StoreEnv(ToolUseEnv):
    """`tooluse.store`: the online store (see `palaestra.envs.tooluse.store`)."""

    def __init__(self, params: ToolUseParams | None = None) -> None:
        params = params if params is not None else ToolUseParams()
        super().__init__(
            STORE, db_seed=params.db_seed, num_tasks=params.num_tasks, max_turns=params.max_turns
        )


register(
    EnvSpec(
        id="tooluse.store",
        factory=StoreEnv,
        params=ToolUseParams,
        description=(
            "tau-bench-style online store: authenticate a scripted customer, then cancel, "
            "re-address or return their orders, or report an order's status and total, "
            "with 10 tools under a written policy; reward = final database equals the "
            "ground truth's and every required output was told to the customer."
        ),
        baseline=ground_truth_baseline(STORE),
    )
)
