"""Offline checking: contracts over the stored episodes of a run (`palaestra check`).

`check_run` reads each finished episode's log from the store and runs the same
`Monitor` the runtime runs online, so a stored log gives the verdicts its online check
recorded (the `contract_verdict` events already in a log are not shown to contracts).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from palaestra.assurance._contracts import Contract, Verdict
from palaestra.assurance._monitor import check_episode
from palaestra.store import Store


@dataclass
class ContractSummary:
    """One contract over a run."""

    contract: str
    episodes: int = 0
    """Episodes checked."""
    violations: list[Verdict] = field(default_factory=list)
    """The failed verdicts, one per violating episode, in episode order."""

    @property
    def passed(self) -> bool:
        return not self.violations


@dataclass
class CheckReport:
    """What `check_run` found: per contract, the episodes checked and the violations."""

    run_id: str
    contracts: list[ContractSummary]
    episodes: int = 0

    @property
    def passed(self) -> bool:
        """True when every contract held on every episode."""
        return all(c.passed for c in self.contracts)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "episodes": self.episodes,
            "passed": self.passed,
            "contracts": [
                {
                    "contract": c.contract,
                    "episodes": c.episodes,
                    "violations": [
                        {
                            "episode_id": v.episode_id,
                            "seq": v.seq,
                            "step": v.step,
                            "agent": v.agent,
                            "detail": v.detail,
                        }
                        for v in c.violations
                    ],
                }
                for c in self.contracts
            ],
        }

    def table(self) -> str:
        """A text report: a line per contract, then each violation."""
        lines = [f"run {self.run_id}: {self.episodes} episodes checked"]
        width = max([len(c.contract) for c in self.contracts] + [8])
        for c in self.contracts:
            mark = "PASS" if c.passed else "FAIL"
            lines.append(
                f"  {mark}  {c.contract:<{width}}  episodes={c.episodes}  "
                f"violations={len(c.violations)}"
            )
            for v in c.violations:
                lines.append(
                    f"        {v.episode_id}  seq={v.seq} step={v.step} agent={v.agent}: {v.detail}"
                )
        return "\n".join(lines)


def check_run(
    store: Store,
    run_id: str,
    contracts: Sequence[Contract],
    *,
    per_job: Mapping[str, Sequence[Contract]] | None = None,
    episodes: Sequence[str] | None = None,
) -> CheckReport:
    """Check the finished episodes of `run_id` (or just `episodes`) against `contracts`;
    an episode of a job named in `per_job` (by its label, the first part of the episode
    id) is checked against that job's contracts instead."""
    summaries: dict[str, ContractSummary] = {}
    for contract in [*contracts, *(c for cs in (per_job or {}).values() for c in cs)]:
        summaries.setdefault(contract.name, ContractSummary(contract.name))
    ids = (
        list(episodes)
        if episodes is not None
        else [e.episode_id for e in store.episodes(run_id, status="finished")]
    )
    for episode_id in ids:
        job = episode_id.split("/", 1)[0]
        chosen = per_job[job] if per_job is not None and job in per_job else contracts
        for verdict in check_episode(store.events(run_id, episode_id), chosen):
            summary = summaries[verdict.contract]
            summary.episodes += 1
            if not verdict.passed:
                summary.violations.append(verdict)
    return CheckReport(run_id, list(summaries.values()), len(ids))
