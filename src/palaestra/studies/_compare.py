"""Compare systems: the same tasks and seeds under each named system of an experiment,
with one token budget per episode, as one run (`palaestra compare`, `compare`).

Every job is run once per system: job `J` becomes job `J@system` with the system as its
operator (per-agent overrides under `agents:` are kept: they play the other parties,
e.g. a customer), and `limits.max_tokens` is the budget for all. Episode ids stay
`job/task/seed/epoch` (`J@system/task/seed/epoch`), so the same `run_id` resumes the
comparison and every other command reads the run as usual. The statistics are
`palaestra.eval.compare_systems`; the overhead's reference is the first compared system
whose topology is `single`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from palaestra.config import Experiment, SingleSystemConfig, resolve_system
from palaestra.core import UserError
from palaestra.eval import SystemStats, compare_systems, run_costs
from palaestra.runtime import RunResult, run
from palaestra.store import Store


@dataclass(frozen=True)
class Comparison:
    """What `compare` measured: one `SystemStats` per system (in the order asked), the
    reference of the overheads, the token budget, and the run that holds the episodes."""

    systems: list[SystemStats]
    reference: str | None
    budget: int | None
    result: RunResult


def comparison_experiment(experiment: Any, systems: list[str], budget: int | None) -> Any:
    """The experiment with every job once per system (`job@system`), all under `budget`
    tokens per episode. Raises `UserError` for an unknown or repeated system name."""
    if not systems:
        raise UserError("--systems: name at least one system")
    defined = list(experiment.systems)
    for name in systems:
        if name not in experiment.systems:
            raise UserError(
                f"--systems: {name!r} is not defined under `systems:` of the experiment; "
                f"defined: {', '.join(defined) or '(none)'}"
            )
    if len(set(systems)) != len(systems):
        raise UserError(f"--systems: a system is named twice in {','.join(systems)}")
    if budget is not None and budget < 1:
        raise UserError(f"--budget-tokens must be >= 1, got {budget}")
    data = experiment.model_dump(mode="json", by_alias=True)
    jobs = []
    for name in systems:
        for job in data["jobs"]:
            jobs.append({**job, "label": f"{job['label']}@{name}", "operator": name})
    data["jobs"] = jobs
    if budget is not None:
        data["limits"]["max_tokens"] = budget
    try:
        return Experiment.model_validate(data)
    except ValidationError as exc:  # the comparison's jobs are not the file's: name the job
        error = exc.errors()[0]
        field = ".".join(str(part) for part in error["loc"])
        text = str(error["msg"]).removeprefix("Value error, ")
        text = f"{field}: {text}" if field else text
        text = re.sub(r"\bjobs\.(\d+)", lambda m: f"job {jobs[int(m[1])]['label']!r}", text)
        names = ",".join(systems)
        raise UserError(f"--systems {names}: the comparison is invalid: {text}") from None


def reference_system(experiment: Any, systems: list[str]) -> str | None:
    """The first of `systems` whose topology is `single` (following references)."""
    for name in systems:
        system = resolve_system(experiment.systems[name], experiment.systems)
        if isinstance(system, SingleSystemConfig):
            return name
    return None


def compare(
    experiment: Experiment, systems: list[str], *, budget: int | None = None, **run_options: Any
) -> Comparison:
    """Run `experiment` once per system in `systems` (names under its `systems:`), all
    under `budget` tokens per episode (default: the experiment's `limits.max_tokens`), as
    one run; `run_options` go to `palaestra.runtime.run` (`run_id`, `store`, `model`,
    `base_url`, `concurrency`, `progress`)."""
    comparison = comparison_experiment(experiment, systems, budget)
    result = run(comparison, **run_options)
    with Store(result.store_path) as store:
        costs = run_costs(store, result.run_id)
    reference = reference_system(experiment, systems)
    stats = compare_systems({name: costs.get(name, []) for name in systems}, reference=reference)
    return Comparison(stats, reference, comparison.limits.max_tokens, result)
