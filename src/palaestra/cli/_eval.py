"""`palaestra eval EXPERIMENT.yaml`: run an experiment and report, per job, the utility
(benign success rate with a 95% Wilson interval), the attack success rate (where the
environment scores `attack_success`, e.g. `tooluse.injection`) and the governance
outcome distribution.

Utility is the share of finished episodes whose verified score counts as solved; an
episode that ended in an error counts as not solved. The attack success rate is the
share of scored episodes whose `attack_success` metric is 1.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from palaestra.core import wilson_interval

if TYPE_CHECKING:
    from palaestra.core import Event


@dataclass
class JobEval:
    """The evaluation of one job of a run."""

    job: str
    env: str
    episodes: int = 0
    successes: int = 0
    errors: int = 0
    attacked: int = 0
    """Episodes whose score has an `attack_success` metric."""
    attacks_succeeded: int = 0
    governance: dict[str, Any] = field(default_factory=dict)
    """`GovernanceReport.to_json()` of the job's events (empty without governance)."""

    @property
    def utility(self) -> float:
        return self.successes / self.episodes if self.episodes else 0.0

    @property
    def attack_success_rate(self) -> float | None:
        return self.attacks_succeeded / self.attacked if self.attacked else None

    def to_json(self) -> dict[str, Any]:
        low, high = wilson_interval(self.successes, self.episodes)
        out: dict[str, Any] = {
            "job": self.job,
            "env": self.env,
            "episodes": self.episodes,
            "errors": self.errors,
            "utility": self.utility,
            "utility_ci95": [low, high],
            "attack_success_rate": self.attack_success_rate,
            "attack_success_ci95": None,
            "governance": self.governance,
        }
        if self.attacked:
            out["attack_success_ci95"] = list(
                wilson_interval(self.attacks_succeeded, self.attacked)
            )
        return out


def add_eval_parser(sub: Any, store_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "eval",
        help="run an experiment; report utility, attack success and governance per job",
    )
    p.add_argument("experiment", help="experiment YAML file")
    p.add_argument("--run-id", help="name the run; an existing id resumes it")
    store_arg(p)
    p.add_argument("--model", help="model spec for every LLM operator, e.g. openai:gpt-4o-mini")
    p.add_argument("--base-url", help="OpenAI-compatible server URL for --model")
    p.add_argument("--concurrency", type=int, help="episodes in flight")
    p.add_argument("--json", action="store_true", help="print the evaluation as JSON")


def evaluate_run(rows: Iterable[Any], events: Iterable[Event]) -> list[JobEval]:
    """Per-job evaluation from a run's episode rows and its events (pure)."""
    from palaestra.assurance import governance_report
    from palaestra.core import ScoreEvent

    jobs: dict[str, JobEval] = {}
    job_of: dict[str, str] = {}
    for row in rows:
        if row.status != "finished":
            continue
        label = row.episode_id.split("/", 1)[0]
        job_of[row.episode_id] = label
        stats = jobs.setdefault(label, JobEval(job=label, env=row.env))
        stats.episodes += 1
        stats.successes += bool(row.outcome == "success")
        stats.errors += bool(row.outcome == "error")
    governed: dict[str, list[Event]] = {}
    for event in events:
        label = job_of.get(event.episode_id)
        if label is None:
            continue
        if event.kind == "governance":
            governed.setdefault(label, []).append(event)
        elif event.kind == "score" and isinstance(event.payload, ScoreEvent):
            metric = event.payload.metrics.get("attack_success")
            if metric is not None:
                jobs[label].attacked += 1
                jobs[label].attacks_succeeded += bool(metric >= 0.5)
    for label, job_events in governed.items():
        jobs[label].governance = governance_report(job_events).to_json()
    return list(jobs.values())


def render(evals: list[JobEval]) -> str:
    """The evaluation as a table, with each job's governance outcomes under it."""
    lines = [
        f"{'job':<28} {'episodes':>8} {'utility':>8} {'95% CI':>15} {'attack':>7} {'95% CI':>15}"
        "  governance (allow/rewrite/block)"
    ]
    for e in evals:
        low, high = wilson_interval(e.successes, e.episodes)
        rate = e.attack_success_rate
        attack, attack_ci = "-", ""
        if rate is not None:
            a_low, a_high = wilson_interval(e.attacks_succeeded, e.attacked)
            attack, attack_ci = f"{rate:.0%}", f"[{a_low:.2f}, {a_high:.2f}]"
        totals = e.governance.get("totals")
        governance = (
            f"{totals['allow']}/{totals['rewrite']}/{totals['block']}" if totals else "none"
        )
        lines.append(
            f"{e.job[:28]:<28} {e.episodes:>8} {e.utility:>8.0%} "
            f"{f'[{low:.2f}, {high:.2f}]':>15} {attack:>7} {attack_ci:>15}  {governance}"
            + (f"  ({e.errors} episodes ended in an error)" if e.errors else "")
        )
    for e in evals:
        for row in e.governance.get("rows", []):
            if row["rewrite"] or row["block"]:
                lines.append(
                    f"  {e.job}: {row['agent']} rule {row['rule']}: allow {row['allow']}, "
                    f"rewrite {row['rewrite']}, block {row['block']} "
                    f"({', '.join(row['targets'])})"
                )
    return "\n".join(lines) + "\n"


def cmd_eval(args: argparse.Namespace) -> int:
    from palaestra.eval import scorer_rows, scorer_table
    from palaestra.runtime import run
    from palaestra.store import Store

    result = run(
        args.experiment,
        run_id=args.run_id,
        store=args.store,
        model=args.model,
        base_url=args.base_url,
        concurrency=args.concurrency,
        progress=False,
    )
    with Store(result.store_path) as store:
        evals = evaluate_run(store.episodes(result.run_id), store.iter_events(result.run_id))
        scored = scorer_rows(store, result.run_id, include_env=False)  # `scorers:` blocks
    if args.json:
        payload = {
            "run_id": result.run_id,
            "store": str(result.store_path),
            "jobs": [e.to_json() for e in evals],
            "scorers": [row.to_json() for row in scored],
        }
        print(json.dumps(payload, indent=2))
        return 0
    print(render(evals), end="")
    print(scorer_table(scored), end="")
    print(f"run {result.run_id} stored in {result.store_path}")
    print(f"inspect: palaestra show {result.run_id} --store {result.store_path}")
    return 0


def governance_section(store: Any, run_id: str) -> str:
    """The governance table of a run for `palaestra show` (empty without governance)."""
    from palaestra.assurance import governance_report

    events = (e for e in store.iter_events(run_id) if e.kind == "governance")
    return governance_report(events).render()
