"""What a stress search reports: violations, counterexamples, the report with its
reproduction files and commands; and the one-episode experiments trials run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from palaestra.boundaries import FaultPlan
from palaestra.config import Experiment
from palaestra.core import Event, atomic_write
from palaestra.runtime import EpisodeSpec

Check = Callable[[list[Event]], "StressViolation | None"]
"""A user's check of one episode's events: a `StressViolation`, or None when it holds."""


@dataclass(frozen=True)
class StressViolation:
    """Why an episode counts as a counterexample."""

    episode_id: str
    what: str
    """`outcome` (failed or ended in error) or `contract:<name>`."""
    description: str
    first_event: int | None = None
    """Seq of the first violating event (a contract's), else of the first fault."""


@dataclass
class Counterexample:
    """A plan under which an episode that succeeds without faults violates."""

    plan: FaultPlan
    episode: EpisodeSpec
    violation: StressViolation
    run_id: str
    """The run (in the store) that shows it."""
    fired: int
    """Faults injected in that run."""


@dataclass
class StressReport:
    """What `stress` found, and how to reproduce it."""

    stress_id: str
    store_path: Path
    budget: int
    used: int = 0
    """Episodes run, baseline included."""
    baseline: dict[str, bool] = field(default_factory=dict)
    """Episode id → whether it holds without faults."""
    trials: int = 0
    """Search trials before the first counterexample (or all, if none)."""
    found: Counterexample | None = None
    """The first counterexample found, before shrinking."""
    smallest: Counterexample | None = None
    """The smallest counterexample found."""
    shrink_steps: int = 0
    """Shrinking attempts that kept the violation."""
    experiment: Experiment | None = None
    wall_s: float = 0.0

    def plan_yaml(self) -> str:
        """The smallest counterexample's plan as a `faults:` YAML block."""
        if self.smallest is None:
            return ""
        return yaml.safe_dump({"faults": plan_data(self.smallest.plan)}, sort_keys=False)

    def reproduction(self) -> Experiment | None:
        """The one-episode experiment that reproduces the smallest counterexample."""
        if self.smallest is None or self.experiment is None:
            return None
        return only(self.experiment, self.smallest.episode, self.smallest.plan)

    def write(self, out_dir: str | Path) -> dict[str, Path]:
        """Write `faults.yaml` (the plan) and `counterexample.yaml` (the one-episode
        experiment under it); returns their paths (none without a counterexample)."""
        repro = self.reproduction()
        if repro is None or self.smallest is None:
            return {}
        out = Path(out_dir)
        plan_path = out / "faults.yaml"
        with atomic_write(plan_path, make_parents=True) as fp:
            fp.write(self.plan_yaml())
        data = repro.model_dump(mode="json")
        data["faults"] = plan_data(self.smallest.plan)
        for job in data["jobs"]:
            job.pop("faults", None)
        experiment_path = out / "counterexample.yaml"
        with atomic_write(experiment_path) as fp:
            fp.write(
                f"# palaestra stress {self.stress_id}: {self.smallest.violation.description}\n"
                + yaml.safe_dump(data, sort_keys=False)
            )
        return {"faults": plan_path, "experiment": experiment_path}

    def commands(self, files: dict[str, Path], experiment_path: str | None = None) -> list[str]:
        """The commands that reproduce the smallest counterexample."""
        if self.smallest is None or not files:
            return []
        episode = self.smallest.episode.episode_id
        store = f"--store {self.store_path}"
        rid = f"{self.stress_id}-repro"
        lines = [
            f"palaestra run {files['experiment']} --run-id {rid} {store} --quiet",
            f"palaestra show {rid} {episode} {store}",
            f"palaestra replay {rid} {episode} {store}",
            f"palaestra replay {self.smallest.run_id} {episode} {store}"
            "   # the search's own run of it",
        ]
        if experiment_path:
            lines.append(
                f"palaestra run {experiment_path} --faults {files['faults']} {store}"
                "   # the whole experiment under the plan"
            )
        return lines


def plan_data(plan: FaultPlan) -> dict[str, Any]:
    """A plan as plain data, defaults left out (what a person would write)."""
    rules = []
    for rule in plan.rules:
        data = rule.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        if not data.get("params"):
            data.pop("params", None)
        rules.append(data)
    return {"seed": plan.seed, "rules": rules}


def only(experiment: Experiment, episode: EpisodeSpec, faults: FaultPlan | None) -> Experiment:
    """The experiment reduced to one episode (same job label, task, seed: same episode
    id), under `faults` as its only plan."""
    job = next(j for j in experiment.jobs if j.label == episode.job)
    job = job.model_copy(
        update={"tasks": [episode.task], "seeds": [episode.seed], "epochs": 1, "faults": None}
    )
    return experiment.model_copy(update={"jobs": [job], "faults": faults})


def violation_of(events: list[Event], check: Check | None = None) -> StressViolation | None:
    """The violation an episode's log shows: a failed `contract_verdict`, a failed
    `check`, or an outcome other than success; None if it holds."""
    if not events:
        return None
    episode_id = events[0].episode_id
    for event in events:
        payload: Any = event.payload
        if event.kind == "contract_verdict" and not payload.passed:
            return StressViolation(
                episode_id,
                f"contract:{payload.contract}",
                f"contract {payload.contract!r} violated: {payload.detail}",
                payload.first_violation if payload.first_violation is not None else event.seq,
            )
    if check is not None:
        found = check(events)
        if found is not None:
            return found
    end: Any = events[-1].payload
    if events[-1].kind != "episode_end" or end.outcome == "success":
        return None
    first_fault = next((e.seq for e in events if e.kind == "fault"), None)
    why = end.error
    if why is None:
        score = next((e.payload for e in reversed(events) if e.kind == "score"), None)
        why = getattr(score, "explanation", "") or "score below success"
    return StressViolation(
        episode_id, "outcome", f"episode ended {end.outcome} ({end.reason}): {why}", first_fault
    )
