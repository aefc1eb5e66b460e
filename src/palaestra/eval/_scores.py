"""Per-job, per-scorer summaries of a run's `score` events: mean with a 95% bootstrap
interval, success rate with a 95% Wilson interval, and the failed scorings.

`scorer_rows(store, run_id)` reads only the `score` events (the store filters them by
kind); `scorer_rows_from_events` does the same over events in memory. The environment's
own score is the row named `env` (leave it out with `include_env=False`). Errored
scorings (`error` set) count in `errors` and are left out of the mean and the rate.
`scorer_table` prints the rows, as `palaestra score`, `palaestra eval` and `palaestra
show` do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from palaestra.core import Event, ScoreEvent, wilson_interval
from palaestra.eval._stats import bootstrap_ci
from palaestra.store import Store

ENV_SCORER = "env"
"""Row name of the environment's own score."""


@dataclass
class ScorerRow:
    """One scorer's results over one job's episodes."""

    job: str
    scorer: str
    n: int = 0
    """Episodes scored (errors excluded)."""
    errors: int = 0
    """Scorings that failed (`error` set)."""
    mean: float = 0.0
    mean_ci95: tuple[float, float] = (0.0, 1.0)
    successes: int = 0
    success_rate: float = 0.0
    success_ci95: tuple[float, float] = (0.0, 1.0)
    values: list[float] = field(default_factory=list, repr=False)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("values")
        data["mean_ci95"] = list(self.mean_ci95)
        data["success_ci95"] = list(self.success_ci95)
        return data


def job_of(episode_id: str) -> str:
    """The job label of a runner episode id (`job/task/seed/epoch`)."""
    return episode_id.split("/", 1)[0]


def scorer_rows_from_events(
    events: Iterable[Event], *, include_env: bool = True
) -> list[ScorerRow]:
    """Rows per (job, scorer) in first-seen order, from any events (non-score ignored).
    An episode scored twice by one scorer counts its last score."""
    latest: dict[tuple[str, str], dict[str, ScoreEvent]] = {}
    for event in events:
        payload = event.payload
        if not isinstance(payload, ScoreEvent):
            continue
        if not payload.scorer and not include_env:
            continue
        name = payload.scorer or ENV_SCORER
        latest.setdefault((job_of(event.episode_id), name), {})[event.episode_id] = payload
    rows = []
    for (job, name), by_episode in latest.items():
        row = ScorerRow(job, name)
        for payload in by_episode.values():
            if payload.error:
                row.errors += 1
                continue
            row.n += 1
            row.values.append(payload.value)
            row.successes += payload.success
        if row.n:
            row.mean = sum(row.values) / row.n
            row.success_rate = row.successes / row.n
        row.mean_ci95 = bootstrap_ci(row.values) if row.values else (0.0, 1.0)
        row.success_ci95 = wilson_interval(row.successes, row.n)
        rows.append(row)
    return rows


def scorer_rows(store: Store, run_id: str, *, include_env: bool = True) -> list[ScorerRow]:
    """`scorer_rows_from_events` over a stored run (reads only its `score` events)."""
    return scorer_rows_from_events(
        store.iter_events(run_id, kinds=["score"]), include_env=include_env
    )


def scorer_table(rows: list[ScorerRow]) -> str:
    """The rows as a text table (one line each), empty when there are none."""
    if not rows:
        return ""
    width_job = max(12, *(len(r.job) for r in rows))
    width_name = max(8, *(len(r.scorer) for r in rows))
    lines = [
        f"{'job':<{width_job}} {'scorer':<{width_name}} {'n':>4} {'err':>3}  "
        f"{'mean':>6} {'95% CI':<15} {'success':>7} {'95% CI':<15}"
    ]
    for r in rows:
        lines.append(
            f"{r.job:<{width_job}} {r.scorer:<{width_name}} {r.n:>4} {r.errors:>3}  "
            f"{r.mean:>6.3f} [{r.mean_ci95[0]:.3f}, {r.mean_ci95[1]:.3f}]  "
            f"{r.success_rate:>6.0%} [{r.success_ci95[0]:.3f}, {r.success_ci95[1]:.3f}]"
        )
    return "\n".join(lines) + "\n"
