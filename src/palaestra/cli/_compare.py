"""`palaestra compare EXPERIMENT --systems a,b,c --budget-tokens N`: the same tasks and
seeds under each named system, with the same token budget per episode, in one table.

The experiment's `systems:` map defines the systems. Every job is run once per system,
as one run: job `J` becomes job `J@system` with the system as its operator (per-agent
overrides under `agents:` are kept: they play the other parties, e.g. a customer), and
`limits.max_tokens` is the budget for all. Episode ids stay `job/task/seed/epoch`
(`J@system/task/seed/epoch`), so the same `--run-id` resumes the comparison and every
other command reads the run as usual. The statistics are `palaestra.eval.compare_systems`;
the overhead's reference is the first compared system whose topology is `single`.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from palaestra.core import UserError


def add_compare_parser(sub: Any, store_arg: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="run an experiment under several named systems with one token budget; one table",
    )
    p.add_argument("experiment", help="experiment YAML file with a `systems:` map")
    p.add_argument(
        "--systems", required=True, help="comma-separated names from the experiment's `systems:`"
    )
    p.add_argument(
        "--budget-tokens",
        type=int,
        help="token budget per episode for every system (default: the experiment's "
        "limits.max_tokens)",
    )
    p.add_argument("--run-id", help="name the run; an existing id resumes it")
    store_arg(p)
    p.add_argument("--model", help="model spec for every LLM operator, e.g. openai:gpt-4o-mini")
    p.add_argument("--base-url", help="OpenAI-compatible server URL for --model")
    p.add_argument("--concurrency", type=int, help="episodes in flight")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def comparison_experiment(experiment: Any, systems: list[str], budget: int | None) -> Any:
    """The experiment with every job once per system (`job@system`), all under `budget`
    tokens per episode. Raises `UserError` for an unknown or repeated system name."""
    from pydantic import ValidationError

    from palaestra.runtime import Experiment

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
    from palaestra.config import resolve_system as resolve
    from palaestra.runtime import SingleSystemConfig

    for name in systems:
        if isinstance(resolve(experiment.systems[name], experiment.systems), SingleSystemConfig):
            return name
    return None


def cmd_compare(args: argparse.Namespace) -> int:
    from palaestra.eval import compare_systems, comparison_table, run_costs
    from palaestra.runtime import Experiment, run
    from palaestra.store import Store

    experiment = Experiment.from_yaml(args.experiment)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    comparison = comparison_experiment(experiment, systems, args.budget_tokens)
    result = run(
        comparison,
        run_id=args.run_id,
        store=args.store,
        model=args.model,
        base_url=args.base_url,
        concurrency=args.concurrency,
        progress=not args.quiet,
    )
    with Store(result.store_path) as store:
        costs = run_costs(store, result.run_id)
    by_system = {name: costs.get(name, []) for name in systems}
    reference = reference_system(experiment, systems)
    budget = comparison.limits.max_tokens
    print(
        f"compare: {len(systems)} systems on the same tasks and seeds; token budget per "
        f"episode: {budget if budget is not None else 'none'}; overhead against "
        f"{reference or '- (no single system compared)'}"
    )
    print(comparison_table(compare_systems(by_system, reference=reference)), end="")
    print(f"run {result.run_id} stored in {result.store_path}")
    print(f"inspect: palaestra show {result.run_id} --store {result.store_path}")
    return 0
