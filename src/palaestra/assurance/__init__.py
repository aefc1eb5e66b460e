"""Assurance over the event log: failure diagnosis and assurance metrics.

Pure functions over events (`palaestra.core.Event`); this package imports only
`palaestra.core` and `palaestra.store`.

- diagnosis (docs/diagnosis.md): `diagnose` finds the earliest decisive error of a
  failed episode and labels it with the root-cause `TAXONOMY` (levels agent, workflow,
  platform); `diagnose_run`, `diagnosis_counts`, `findings`;
- metrics: `run_assurance` / `assurance_metrics` / `episode_assurance` give task success
  under faults, termination reliability and containment of injected faults, per run and
  per job, with Wilson intervals (`Rate`);
- governance: `governance_report` counts a policy's decisions (allow / rewrite /
  block) per agent and rule;
- contracts (docs/contracts.md): step and trace contracts (`Contract`, `step_contract`,
  `trace_contract`), the built-ins (`BUILTINS`, `builtin`, one factory each), their
  YAML entries (`ContractSpec`), the `Monitor` that checks them event by event (online
  in the runtime, offline in `check_episode` / `check_run`), and `Verdict`s naming the
  first violating event.
"""

from palaestra.assurance._check import CheckReport, ContractSummary, check_run
from palaestra.assurance._config import (
    BUILTINS,
    CONTRACTS,
    ContractSpec,
    build_contracts,
    builtin,
    register_contract,
)
from palaestra.assurance._contracts import (
    SKIPPED_KINDS,
    CheckResult,
    Contract,
    ContractCheck,
    EpisodeView,
    OnViolation,
    StepContract,
    TraceContract,
    Verdict,
    Violation,
    step_contract,
    trace_contract,
)
from palaestra.assurance._diagnosis import (
    Diagnosis,
    diagnose,
    diagnose_run,
    diagnosis_counts,
    findings,
)
from palaestra.assurance._governance_report import (
    GovernanceReport,
    GovernanceRow,
    governance_report,
)
from palaestra.assurance._library import (
    SECRET_PATTERNS,
    allowed_tools,
    max_message_tokens,
    no_secrets,
    tool_args_schema,
)
from palaestra.assurance._log import Finding
from palaestra.assurance._metrics import (
    AssuranceMetrics,
    EpisodeAssurance,
    FaultOutcome,
    Rate,
    RunAssurance,
    assurance_metrics,
    episode_assurance,
    run_assurance,
)
from palaestra.assurance._monitor import Monitor, check_episode
from palaestra.assurance._taxonomy import CATEGORIES, LEVELS, TAXONOMY, Category, Level
from palaestra.assurance._trace_library import (
    budget,
    cites_tool_result,
    no_action_after_block,
    no_role_drift,
    terminates_within,
    tool_calls_answered,
)

__all__ = [
    "BUILTINS",
    "CONTRACTS",
    "CATEGORIES",
    "LEVELS",
    "SECRET_PATTERNS",
    "TAXONOMY",
    "AssuranceMetrics",
    "Category",
    "CheckReport",
    "CheckResult",
    "Contract",
    "ContractCheck",
    "ContractSpec",
    "ContractSummary",
    "Diagnosis",
    "EpisodeAssurance",
    "EpisodeView",
    "FaultOutcome",
    "Finding",
    "GovernanceReport",
    "GovernanceRow",
    "Level",
    "Monitor",
    "OnViolation",
    "Rate",
    "RunAssurance",
    "StepContract",
    "TraceContract",
    "Verdict",
    "Violation",
    "allowed_tools",
    "assurance_metrics",
    "budget",
    "build_contracts",
    "builtin",
    "check_episode",
    "check_run",
    "cites_tool_result",
    "diagnose",
    "diagnose_run",
    "diagnosis_counts",
    "episode_assurance",
    "findings",
    "governance_report",
    "max_message_tokens",
    "no_action_after_block",
    "no_role_drift",
    "no_secrets",
    "register_contract",
    "run_assurance",
    "step_contract",
    "terminates_within",
    "tool_args_schema",
    "tool_calls_answered",
    "trace_contract",
    "SKIPPED_KINDS",
]
