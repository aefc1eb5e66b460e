"""Assurance metrics from the event log: success under faults, termination reliability,
containment of injected faults; per run and per job, with 95% Wilson intervals.

Over the finished episodes (those with an `episode_end`; an episode that ended in an
error counts as a failure):

- **task success under faults** = successes ÷ episodes with at least one `fault` event
  (`success_without_faults` is the same over the others, to compare against);
- **termination reliability** = episodes that ended by `done` (the environment reached
  a terminal state) ÷ all episodes. Ending by `error`, `budget`, `max_steps` or
  `truncated` counts against it: a truncation is the environment's own time limit, not a
  terminal state (Gymnasium keeps the two apart, and so does this metric);
- **containment rate** = contained faults ÷ `fault` events. A fault is **propagated**
  when (a) a failed `contract_verdict` blames an event at or after it (its
  `first_violation`, else the verdict itself), or (b) the episode failed, the fault's
  finding is decisive (an error never made good, altered content, or a delay that ended
  in a budget stop: see docs/diagnosis.md) and no decisive error precedes it (the
  outcome was not already lost). Every other fault is **contained**: the episode
  succeeded, or the faulted call was made good, or the outcome had been lost before the
  fault. Reported overall, per boundary (model, tool, memory, message, env) and per
  fault name. Faults of one episode are not independent trials, so read its interval
  as a guide, not a guarantee.

Wilson intervals come from `palaestra.core.wilson_interval` (the function moved there
from `palaestra.eval` so that assurance and eval share one implementation while
neither imports the other).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from palaestra.assurance._diagnosis import checked_events, job_of, log_findings
from palaestra.assurance._fault_findings import fault_boundary
from palaestra.assurance._log import Log
from palaestra.core import ContractVerdict, Event, Fault, wilson_interval


@dataclass(frozen=True)
class Rate:
    """`successes` of `n`, with its 95% Wilson interval."""

    successes: int
    n: int

    @property
    def value(self) -> float | None:
        """The rate, None when `n == 0`."""
        return self.successes / self.n if self.n else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.n)

    def describe(self) -> str:
        """`3/4 = 75% [30%, 95%]`, or `- (0)` when there is nothing to count."""
        if not self.n:
            return "- (0)"
        low, high = self.interval
        return f"{self.successes}/{self.n} = {self.successes / self.n:.0%} [{low:.0%}, {high:.0%}]"

    def to_dict(self) -> dict[str, Any]:
        low, high = self.interval
        return {"successes": self.successes, "n": self.n, "rate": self.value, "ci95": [low, high]}


@dataclass(frozen=True)
class FaultOutcome:
    """One injected fault and whether it was contained."""

    episode_id: str
    seq: int
    step: int
    agent: str
    fault: str
    target: str
    boundary: str
    contained: bool
    why: str
    """Which rule decided (see the module docstring)."""


@dataclass(frozen=True)
class EpisodeAssurance:
    """The assurance facts of one finished episode."""

    episode_id: str
    job: str
    outcome: str
    reason: str
    faults: tuple[FaultOutcome, ...] = ()
    violations: int = 0
    """Failed contract verdicts."""

    @property
    def success(self) -> bool:
        return self.outcome == "success"


def episode_assurance(events: Sequence[Event]) -> EpisodeAssurance:
    """The faults (each contained or propagated) and contract violations of one
    episode's log; `ValueError` as `diagnose` for a log that is not one finished episode."""
    log = Log(checked_events(events))
    found = log_findings(log)
    failed = log.end.outcome != "success"
    decisive = [f for f in found if f.decisive]
    lost_at = decisive[0].seq if failed and decisive else None
    violations = []
    for e in log.events:
        p = e.payload
        if isinstance(p, ContractVerdict) and not p.passed:
            target = log.get(p.first_violation)
            blamed = target.seq if target is not None else e.seq
            violations.append((blamed, p.contract))
    faults = []
    for e in log.events:
        p = e.payload
        if not isinstance(p, Fault):
            continue
        own = next((f for f in found if f.injected and f.seq == e.seq), None)
        later = [(s, c) for s, c in violations if s >= e.seq]
        if later:
            contained, why = False, f"contract {later[0][1]!r} violated at seq {later[0][0]}"
        elif not failed:
            contained, why = True, "the episode succeeded"
        elif own is None or not own.decisive:
            contained, why = True, "made good, or harmless (a delay)"
        elif lost_at is not None and lost_at < e.seq:
            contained, why = True, f"the outcome was already lost at seq {lost_at}"
        else:
            contained, why = False, "the failed episode's decisive error"
        faults.append(
            FaultOutcome(
                e.episode_id,
                e.seq,
                e.step,
                e.agent,
                p.fault,
                p.target,
                fault_boundary(log, e),
                contained,
                why,
            )
        )
    return EpisodeAssurance(
        episode_id=log.events[0].episode_id,
        job=job_of(log.events),
        outcome=log.end.outcome,
        reason=log.end.reason,
        faults=tuple(faults),
        violations=len(violations),
    )


@dataclass(frozen=True)
class AssuranceMetrics:
    """The metrics of a set of episodes (a run, or one job of it)."""

    episodes: int
    episodes_with_faults: int
    faults: int
    success_under_faults: Rate
    success_without_faults: Rate
    termination_reliability: Rate
    containment: Rate
    containment_by_boundary: dict[str, Rate] = field(default_factory=dict)
    containment_by_fault: dict[str, Rate] = field(default_factory=dict)
    ends: dict[str, int] = field(default_factory=dict)
    """Episodes per end reason."""

    def lines(self) -> list[str]:
        """The metrics as short report lines."""
        ends = ", ".join(f"{k} {v}" for k, v in self.ends.items())
        out = [
            f"termination reliability {self.termination_reliability.describe()}  ({ends})",
        ]
        if self.faults:
            out += [
                f"success under faults {self.success_under_faults.describe()}  "
                f"(without faults {self.success_without_faults.describe()})",
                f"containment {self.containment.describe()}  ({self.faults} faults in "
                f"{self.episodes_with_faults} episodes)",
            ]
            out += [
                f"  boundary {k}: {r.describe()}" for k, r in self.containment_by_boundary.items()
            ]
            out += [f"  fault {k}: {r.describe()}" for k, r in self.containment_by_fault.items()]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "episodes": self.episodes,
            "episodes_with_faults": self.episodes_with_faults,
            "faults": self.faults,
            "success_under_faults": self.success_under_faults.to_dict(),
            "success_without_faults": self.success_without_faults.to_dict(),
            "termination_reliability": self.termination_reliability.to_dict(),
            "containment": self.containment.to_dict(),
            "containment_by_boundary": {
                k: r.to_dict() for k, r in self.containment_by_boundary.items()
            },
            "containment_by_fault": {k: r.to_dict() for k, r in self.containment_by_fault.items()},
            "ends": dict(self.ends),
        }


def _rates(faults: Iterable[FaultOutcome], key: str) -> dict[str, Rate]:
    counts: dict[str, list[int]] = {}
    for f in faults:
        c = counts.setdefault(getattr(f, key), [0, 0])
        c[0] += f.contained
        c[1] += 1
    return {k: Rate(c, n) for k, (c, n) in sorted(counts.items())}


def assurance_metrics(episodes: Iterable[EpisodeAssurance]) -> AssuranceMetrics:
    """The metrics of `episodes` (see the module docstring)."""
    episodes = list(episodes)
    faulty = [e for e in episodes if e.faults]
    clean = [e for e in episodes if not e.faults]
    faults = [f for e in episodes for f in e.faults]
    ends: dict[str, int] = {}
    for e in episodes:
        ends[e.reason] = ends.get(e.reason, 0) + 1
    return AssuranceMetrics(
        episodes=len(episodes),
        episodes_with_faults=len(faulty),
        faults=len(faults),
        success_under_faults=Rate(sum(e.success for e in faulty), len(faulty)),
        success_without_faults=Rate(sum(e.success for e in clean), len(clean)),
        termination_reliability=Rate(sum(e.reason == "done" for e in episodes), len(episodes)),
        containment=Rate(sum(f.contained for f in faults), len(faults)),
        containment_by_boundary=_rates(faults, "boundary"),
        containment_by_fault=_rates(faults, "fault"),
        ends=dict(sorted(ends.items())),
    )


@dataclass(frozen=True)
class RunAssurance:
    """A run's assurance metrics, overall and per job, and every fault's outcome."""

    overall: AssuranceMetrics
    by_job: dict[str, AssuranceMetrics]
    episodes: tuple[EpisodeAssurance, ...]

    @property
    def faults(self) -> list[FaultOutcome]:
        return [f for e in self.episodes for f in e.faults]

    def to_dict(self) -> dict[str, Any]:
        return {
            "overall": self.overall.to_dict(),
            "by_job": {job: m.to_dict() for job, m in self.by_job.items()},
        }


def run_assurance(events: Iterable[Event]) -> RunAssurance:
    """The metrics of the finished episodes among `events` (e.g.
    ``Store(path).iter_events(run_id)``), overall and per job (jobs in first-seen order)."""
    by_episode: dict[str, list[Event]] = {}
    for event in events:
        by_episode.setdefault(event.episode_id, []).append(event)
    facts = [
        episode_assurance(evs)
        for evs in by_episode.values()
        if any(e.kind == "episode_end" for e in evs)
    ]
    jobs: dict[str, list[EpisodeAssurance]] = {}
    for fact in facts:
        jobs.setdefault(fact.job, []).append(fact)
    return RunAssurance(
        overall=assurance_metrics(facts),
        by_job={job: assurance_metrics(group) for job, group in jobs.items()},
        episodes=tuple(facts),
    )
