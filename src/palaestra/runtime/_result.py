"""What a run returns (`RunResult`), per-job statistics and the summary table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from palaestra.config import Experiment
from palaestra.runtime._env_pool import Instances
from palaestra.store import EpisodeRow


@dataclass
class JobStats:
    """Per-job summary of a run."""

    label: str
    env: str
    episodes: int = 0
    finished: int = 0
    successes: int = 0
    errors: int = 0
    mean_reward: float = 0.0
    mean_score: float = 0.0
    mean_steps: float = 0.0
    events: int = 0
    tokens: int = 0
    wall_s: float = 0.0

    @property
    def success_rate(self) -> float:
        return self.successes / self.finished if self.finished else 0.0


@dataclass
class RunResult:
    """What `palaestra.run` returns: the run id, where it is stored, and its summary."""

    run_id: str
    store_path: Path
    episodes: list[EpisodeRow]
    jobs: dict[str, JobStats]
    wall_s: float
    skipped: int = 0
    """Episodes already finished in an earlier attempt of this run (resume)."""
    env_instances: dict[str, Instances] = field(default_factory=dict)
    """How each job's episodes got their environment, by job label: ``fresh`` (built
    per episode) or ``pooled`` (reused across episodes: the environment declares the
    reset contract of `palaestra.envs.Environment`)."""

    @property
    def success_rate(self) -> float:
        done = [e for e in self.episodes if e.status == "finished"]
        return sum(e.outcome == "success" for e in done) / len(done) if done else 0.0

    @property
    def errors(self) -> int:
        return sum(e.outcome == "error" for e in self.episodes)

    def table(self) -> str:
        return render_table(self)

    def __repr__(self) -> str:
        # short: the default would print every episode row
        return (
            f"RunResult(run_id={self.run_id!r}, episodes={len(self.episodes)}, "
            f"success_rate={self.success_rate:.3f}, errors={self.errors}, "
            f"store_path={str(self.store_path)!r})"
        )


def job_of(episode_id: str) -> str:
    """Episode ids are `job/task/seed/epoch`."""
    return episode_id.split("/", 1)[0]


def job_stats(experiment: Experiment | None, rows: list[EpisodeRow]) -> dict[str, JobStats]:
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
