"""The one rule by which a job's settings override the experiment's.

An experiment may give `faults:`, `governance:`, `contracts:`, `scorers:` and
`extensions:` at its top
(for every job) and in a job (for that job). What a job runs under is `job_setting`:

- a **block** (`faults`, `governance`: one mapping) — the job's own, when it gives one,
  replaces the experiment's whole; otherwise the experiment's;
- a **list of named entries** (`contracts`, `scorers`, `extensions`) — the
  experiment's entries, then the job's; a job entry with the name of an experiment
  entry replaces it (so a job can retune one check without repeating the others).

Whether a block is *in effect* (a fault plan without rules, a policy with
`enabled: false`) is the feature's own decision, made on what this returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from palaestra.assurance import ContractSpec
from palaestra.config._experiment import Experiment, Job
from palaestra.core import UserError
from palaestra.eval import ScorerSpec


def contract_name(spec: ContractSpec) -> str:
    """The name a contract entry is known by (its `name`, else its `use` or `python`)."""
    return spec.name or spec.use or spec.python or ""


def scorer_name(spec: ScorerSpec) -> str:
    """The name a scorer entry is known by (its label)."""
    return spec.label


ENTRY_NAMES: dict[str, Callable[[Any], str]] = {
    "contracts": contract_name,
    "scorers": scorer_name,
    "extensions": lambda spec: spec.label,
}
"""The list settings, and how an entry of each is named."""

BLOCKS = ("faults", "governance")
"""The block settings."""


def merge_named(top: Sequence[Any], own: Sequence[Any], name: Callable[[Any], str]) -> list[Any]:
    """`top`'s entries then `own`'s, an entry of `own` replacing one of the same name."""
    names = {name(entry) for entry in own}
    return [entry for entry in top if name(entry) not in names] + list(own)


def job_setting(experiment: Experiment, job: Job, field: str) -> Any:
    """What `job` runs under for `field` (see the module docstring for the rule)."""
    own = getattr(job, field, None)
    top = getattr(experiment, field, None)
    if field in ENTRY_NAMES:
        return merge_named(top or [], own or [], ENTRY_NAMES[field])
    if field in BLOCKS:
        return own if own is not None else top
    raise UserError(
        f"job_setting: {field!r} is not a job-over-experiment setting (one of "
        f"{', '.join([*BLOCKS, *ENTRY_NAMES])})"
    )
