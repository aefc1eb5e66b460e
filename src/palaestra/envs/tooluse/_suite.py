"""The registered tool-use environments: one `ToolUseEnv` subclass and one `EnvSpec` per
domain. A new domain adds its class and its `register` call here."""

from __future__ import annotations

from palaestra.envs._registry import EnvSpec, register
from palaestra.envs.tooluse._baselines import ground_truth_baseline
from palaestra.envs.tooluse._domain import Domain
from palaestra.envs.tooluse._env import ToolUseEnv, ToolUseParams
from palaestra.envs.tooluse.airline import AIRLINE
from palaestra.envs.tooluse.injection import INJECTION, InjectionEnv, InjectionParams
from palaestra.envs.tooluse.injection import injection_baseline as _injection_baseline
from palaestra.envs.tooluse.store import STORE


def _init(env: ToolUseEnv, domain: Domain, params: ToolUseParams | None) -> None:
    params = params if params is not None else ToolUseParams()
    ToolUseEnv.__init__(
        env,
        domain,
        db_seed=params.db_seed,
        num_tasks=params.num_tasks,
        max_turns=params.max_turns,
        user=params.user,
        check_transfer=params.check_transfer,
    )


class StoreEnv(ToolUseEnv):
    """`tooluse.store`: the online store (see `palaestra.envs.tooluse.store`)."""

    def __init__(self, params: ToolUseParams | None = None) -> None:
        _init(self, STORE, params)


class AirlineEnv(ToolUseEnv):
    """`tooluse.airline`: the airline (see `palaestra.envs.tooluse.airline`)."""

    def __init__(self, params: ToolUseParams | None = None) -> None:
        _init(self, AIRLINE, params)


class StoreInjectionEnv(InjectionEnv):
    """`tooluse.injection`: the store with injected instructions (see
    `palaestra.envs.tooluse.injection`)."""

    def __init__(self, params: InjectionParams | None = None) -> None:
        InjectionEnv.__init__(self, INJECTION, params)


_REWARD = (
    "reward = final database equals the ground truth's, every required output was told "
    "to the customer (tau-bench); check_transfer=true also requires a hand-over to a human "
    "exactly when the ground truth makes one. Customer: scripted, or a second agent 'user' "
    "(param user=agent)."
)

register(
    EnvSpec(
        id="tooluse.store",
        factory=StoreEnv,
        params=ToolUseParams,
        description=(
            "tau-bench-style online store: authenticate a customer, then cancel, "
            "re-address or return their orders, or report an order's status and total, "
            f"with 10 tools under a written policy; {_REWARD}"
        ),
        baseline=ground_truth_baseline(STORE),
    )
)

register(
    EnvSpec(
        id="tooluse.airline",
        factory=AirlineEnv,
        params=ToolUseParams,
        description=(
            "tau-bench-style airline: book, cancel, change or upgrade reservations, add "
            "bags, correct passengers, report flight status, compensate disruptions, "
            "refuse what the policy forbids and transfer what no tool can do, with 13 tools "
            f"under a written policy; {_REWARD}"
        ),
        baseline=ground_truth_baseline(AIRLINE),
    )
)

register(
    EnvSpec(
        id="tooluse.injection",
        factory=StoreInjectionEnv,
        params=InjectionParams,
        description=(
            "prompt-injection suite (AgentDojo / ART style) on the store: each request's "
            "tool results (order remarks) or customer turn carry an attacker's instruction "
            "(exfiltrate customer data by e-mail or note, refund to another account, cancel "
            "another customer's order); metrics utility (the benign goal, tau-bench reward) "
            "and attack_success (a checker per attack over the final database)"
        ),
        baseline=_injection_baseline(INJECTION),
    )
)
