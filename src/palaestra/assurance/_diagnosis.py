"""Failure diagnosis: the earliest decisive error of a failed episode, with its root cause.

`diagnose(events)` takes one episode's log (a list of `palaestra.core.Event`, e.g.
``Store(path).events(run_id, episode_id)``) and, when the episode failed (outcome
failure or error), returns a `Diagnosis`:

1. every evidence rule of the taxonomy (`_evidence.py`, docs/diagnosis.md) yields its
   findings: the event it blames, a category, whether it is *decisive* (the outcome
   could not be won back after it), a confidence and an explanation;
2. the **decisive error** is the earliest decisive finding (lowest seq; at the same seq
   the most confident, then the taxonomy's order). "Earliest" is the point of the
   exercise: a fault at seq 9 that makes a tool fail at seq 10 and the episode end with
   an error at seq 30 is one chain, and its root is the fault;
3. when no rule finds anything decisive, the last action is blamed (`wrong_action`, low
   confidence), or the episode end (`unexplained`) when there was no action.

Pure functions over events: no store, no environment, no model.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from palaestra.assurance._evidence import (
    contract_findings,
    ending_findings,
    fallback_finding,
    governance_findings,
    invalid_answer_findings,
    model_findings,
    reward_findings,
    sub_result_findings,
    tool_findings,
)
from palaestra.assurance._fault_findings import fault_findings
from palaestra.assurance._log import CONFIDENCE_RANK, Finding, Log
from palaestra.assurance._taxonomy import LEVELS, TAXONOMY, Level
from palaestra.core import EpisodeStart, Event

_ORDER = {c.name: i for i, c in enumerate(TAXONOMY)}


@dataclass(frozen=True)
class Diagnosis:
    """Why one episode failed: its decisive error and every finding considered."""

    episode_id: str
    job: str
    """The episode's job label (the episode id without `/task/seed/epoch`)."""
    outcome: str
    """failure or error."""
    reason: str
    """How the episode ended: done, max_steps, error, budget, truncated."""
    decisive: Finding
    """The earliest decisive finding: the first event after which the outcome was lost."""
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    """Every finding, decisive or contributing, in seq order."""

    @property
    def level(self) -> Level:
        return self.decisive.level

    @property
    def category(self) -> str:
        return self.decisive.category

    @property
    def explanation(self) -> str:
        return self.decisive.explanation

    def describe(self) -> str:
        """One line: episode, outcome, the decisive event, level/category, explanation."""
        d = self.decisive
        injected = " (injected)" if d.injected else ""
        return (
            f"{self.episode_id}  {self.outcome}/{self.reason}  seq {d.seq} step {d.step} "
            f"{d.agent} {d.kind}  {d.level}/{d.category}{injected} [{d.confidence}]  "
            f"{d.explanation}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "episode_id": self.episode_id,
            "job": self.job,
            "outcome": self.outcome,
            "reason": self.reason,
            "decisive": self.decisive.to_dict(),
            "findings": [f.to_dict() for f in self.findings],
        }


def job_of(events: Sequence[Event]) -> str:
    """The job label of an episode: its id without the `/task/seed/epoch` suffix named
    by `episode_start` (the whole id when it does not end so)."""
    episode_id = events[0].episode_id
    start = events[0].payload
    if isinstance(start, EpisodeStart):
        suffix = f"/{start.task}/{start.seed}/{start.epoch}"
        if episode_id.endswith(suffix) and len(episode_id) > len(suffix):
            return episode_id[: -len(suffix)]
    return episode_id.split("/", 1)[0]


def findings(events: Sequence[Event]) -> list[Finding]:
    """Every finding of every evidence rule on one episode's log, in seq order (for a
    successful episode too: errors that were recovered show up as contributing)."""
    return log_findings(Log(checked_events(events)))


def log_findings(log: Log) -> list[Finding]:
    faulted = {e.parent for e in log.of_kind("fault") if e.parent is not None}
    found = [
        *contract_findings(log),
        *fault_findings(log),
        *model_findings(log),
        *tool_findings(log, faulted),
        *governance_findings(log),
        *invalid_answer_findings(log),
        *sub_result_findings(log),
        *reward_findings(log),
        *ending_findings(log),
    ]
    return sorted(found, key=_rank)


def _rank(f: Finding) -> tuple[int, int, int, int]:
    return (f.seq, 0 if f.decisive else 1, CONFIDENCE_RANK[f.confidence], _ORDER[f.category])


def checked_events(events: Sequence[Event]) -> list[Event]:
    events = list(events)
    if not events:
        raise ValueError("no events: give the log of one episode")
    ids = {e.episode_id for e in events}
    if len(ids) != 1:
        raise ValueError(f"events of {len(ids)} episodes given; diagnose one at a time")
    return sorted(events, key=lambda e: e.seq)


def diagnose(events: Sequence[Event]) -> Diagnosis | None:
    """The diagnosis of one episode's log, or None when it succeeded.

    Raises `ValueError` for an empty log, events of several episodes, or a log without
    `episode_end` (still running or cut off)."""
    log = Log(checked_events(events))
    if log.end.outcome == "success":
        return None
    found = log_findings(log)
    decisive = [f for f in found if f.decisive]
    chosen = decisive[0] if decisive else fallback_finding(log)
    if not decisive:
        found = sorted([*found, chosen], key=_rank)
    return Diagnosis(
        episode_id=log.events[0].episode_id,
        job=job_of(log.events),
        outcome=log.end.outcome,
        reason=log.end.reason,
        decisive=chosen,
        findings=tuple(found),
    )


def diagnose_run(events: Iterable[Event]) -> list[Diagnosis]:
    """The diagnoses of every failed, finished episode among `events` (e.g.
    ``Store(path).iter_events(run_id)``), in the order episodes first appear. Episodes
    without `episode_end` (unfinished) are skipped."""
    by_episode: dict[str, list[Event]] = {}
    for event in events:
        by_episode.setdefault(event.episode_id, []).append(event)
    out = []
    for episode in by_episode.values():
        if not any(e.kind == "episode_end" for e in episode):
            continue
        diagnosis = diagnose(episode)
        if diagnosis is not None:
            out.append(diagnosis)
    return out


def diagnosis_counts(diagnoses: Iterable[Diagnosis]) -> dict[str, dict[str, int]]:
    """How many decisive errors fell in each level and category: `{level: {category:
    n}}`, levels in report order, categories in taxonomy order, empty ones left out."""
    counts: dict[str, dict[str, int]] = {}
    for d in sorted(diagnoses, key=lambda d: _ORDER[d.category]):
        level = counts.setdefault(d.level, {})
        level[d.category] = level.get(d.category, 0) + 1
    return {level: counts[level] for level in LEVELS if level in counts}
