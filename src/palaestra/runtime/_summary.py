"""Per-job statistics of a run and the summary table printed after it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from palaestra.runtime._experiment import Experiment
from palaestra.store import EpisodeRow

if TYPE_CHECKING:
    from palaestra.runtime._runner import JobStats, RunResult


def job_of(episode_id: str) -> str:
    """Episode ids are `job/task/seed/epoch`."""
    return episode_id.split("/", 1)[0]


def job_stats(experiment: Experiment | None, rows: list[EpisodeRow]) -> dict[str, JobStats]:
    from palaestra.runtime._runner import JobStats

    stats: dict[str, JobStats] = {}
    if experiment is not None:
        for job in experiment.jobs:
            assert job.label is not None
            stats[job.label] = JobStats(label=job.label, env=job.env)
    groups: dict[str, list[EpisodeRow]] = {}
    for row in rows:
        groups.setdefault(job_of(row.episode_id), []).append(row)
    for label, group in groups.items():
        s = stats.setdefault(label, JobStats(label=label, env=group[0].env))
        done = [r for r in group if r.status == "finished"]
        s.episodes = len(group)
        s.finished = len(done)
        s.successes = sum(r.outcome == "success" for r in done)
        s.errors = sum(r.outcome == "error" for r in done)
        if done:
            s.mean_reward = sum(r.total_reward or 0.0 for r in done) / len(done)
            s.mean_score = sum(r.score or 0.0 for r in done) / len(done)
            s.mean_steps = sum(r.steps or 0 for r in done) / len(done)
        s.events = sum(r.n_events or 0 for r in group)
        s.tokens = sum((r.input_tokens or 0) + (r.output_tokens or 0) for r in group)
        starts = [r.started_at for r in group if r.started_at is not None]
        ends = [r.finished_at for r in done if r.finished_at is not None]
        if starts and ends:
            s.wall_s = max(0.0, _seconds(max(ends)) - _seconds(min(starts)))
    return stats


def _seconds(value: object) -> float:
    if isinstance(value, int | float):
        return float(value)
    from datetime import datetime

    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value)).timestamp()


def render_table(result: RunResult) -> str:
    """The per-environment summary as a text table."""
    from io import StringIO

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"run {result.run_id}", title_justify="left")
    for column in (
        "job",
        "episodes",
        "success",
        "mean reward",
        "mean score",
        "mean steps",
        "errors",
        "events",
        "tokens",
        "wall s",
    ):
        table.add_column(column, justify="left" if column == "job" else "right")
    for s in result.jobs.values():
        table.add_row(
            s.label,
            str(s.episodes),
            f"{s.success_rate:.0%}",
            f"{s.mean_reward:.3f}",
            f"{s.mean_score:.3f}",
            f"{s.mean_steps:.1f}",
            str(s.errors),
            f"{s.events:,}",
            f"{s.tokens:,}",
            f"{s.wall_s:.1f}",
        )
    buffer = StringIO()
    Console(file=buffer, width=140, force_terminal=False).print(table)
    return buffer.getvalue()
