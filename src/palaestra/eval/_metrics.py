"""Run metrics with confidence, grouped by any task field (docs/metrics.md, "Run metrics").

`metrics(records, group_by=...)` gives one `GroupMetrics` per group of finished episodes:

- **success rate** s/n over episodes with its Wilson interval (`palaestra.core`);
- **mean score** (episodes that have a score) with a seeded percentile bootstrap interval;
- **pass@k**, **pass^k** (unbiased estimators from n >= k trials per task,
  `eval/_passk.py`) and **avg@k** for every k up to the fewest trials of a task in the
  group (a task is `job/task`; its seeds and epochs are its trials);
- **tokens** (input, output) and **cost** per episode (cost None when no model call
  reported one), **latency** of model calls (mean, median and 95th percentile of the
  `model_response` durations), **model calls**, **steps** and **tool calls** per episode.

`run_metrics(store, run_id, group_by=...)` reads the records of a stored run first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from palaestra.core import Z95, derive_seed, wilson_interval
from palaestra.eval._passk import pass_at_k, pass_hat_k
from palaestra.eval._records import EpisodeRecord, episode_records, group_records
from palaestra.eval._stats import bootstrap_ci
from palaestra.store import Store

GroupBy = str | Sequence[str] | Callable[[EpisodeRecord], str] | None
"""A field name, several, a function of an `EpisodeRecord`, or None (one group)."""


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval."""

    value: float
    low: float
    high: float
    n: int
    """Observations behind it."""
    method: str
    """`wilson` or `bootstrap`."""


@dataclass(frozen=True)
class GroupMetrics:
    """The metrics of one group of finished episodes (module docstring)."""

    group: str
    episodes: int
    tasks: int
    """Distinct `job/task` in the group."""
    success: Estimate
    """Success rate with its Wilson interval."""
    score: Estimate | None
    """Mean score with its bootstrap interval; None when no episode has a score."""
    pass_at_k: dict[int, float] = field(default_factory=dict)
    pass_hat_k: dict[int, float] = field(default_factory=dict)
    avg_at_k: dict[int, float] = field(default_factory=dict)
    input_tokens: float = 0.0
    """Mean per episode."""
    output_tokens: float = 0.0
    cost_usd: float | None = None
    """Mean cost per episode over all episodes of the group; None when no model call
    of the group reported a cost."""
    latency_s: float | None = None
    """Mean model-call latency (seconds); None without model calls."""
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    model_calls: float = 0.0
    """Mean per episode."""
    steps: float = 0.0
    tool_calls: float = 0.0
    wall_s: float = 0.0
    """Mean wall-clock seconds per episode."""

    @property
    def tokens(self) -> float:
        """Mean input + output tokens per episode."""
        return self.input_tokens + self.output_tokens


def avg_at_k(values: Mapping[str, Sequence[float]], k: int) -> float:
    """avg@k: the mean over tasks of the expected mean score of k trials drawn without
    replacement from the task's n >= k trials.

    By linearity each k-subset average has the task's mean as its expectation, so the
    estimate is the mean over tasks of the per-task mean of all n trials (every task
    weighs the same); k only sets the minimum number of trials. Raises `ValueError` as
    pass@k does (k < 1, no task, a task with fewer than k trials)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if not values:
        raise ValueError("no tasks: give at least one task with its trials")
    total = Fraction(0)
    for task, trials in values.items():
        if len(trials) < k:
            raise ValueError(f"task {task!r} has {len(trials)} trial(s), fewer than k={k}")
        total += Fraction(sum(Fraction(v) for v in trials), len(trials))
    return float(total / len(values))


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items) if items else 0.0


def _ks(least: int, ks: Sequence[int] | None, max_k: int) -> list[int]:
    if ks is None:
        return list(range(1, min(least, max_k) + 1))
    return [k for k in ks if k <= least]


def group_metrics(
    group: str,
    records: Sequence[EpisodeRecord],
    *,
    ks: Sequence[int] | None = None,
    max_k: int = 10,
    confidence: float = 0.95,
    seed: int = 0,
    resamples: int = 2000,
) -> GroupMetrics:
    """The metrics of one group (see `metrics`)."""
    if not records:
        raise ValueError(f"group {group!r} has no finished episodes")
    n = len(records)
    wins = sum(r.success for r in records)
    z = Z95 if confidence == 0.95 else _z(confidence)
    low, high = wilson_interval(wins, n, z=z)
    success = Estimate(wins / n, low, high, n, "wilson")
    scores = [r.score for r in records if r.score is not None]
    score = None
    if scores:
        boot_seed = derive_seed(seed, group, "", "bootstrap")
        s_low, s_high = bootstrap_ci(
            scores, confidence=confidence, resamples=resamples, seed=boot_seed
        )
        score = Estimate(float(np.mean(scores)), s_low, s_high, len(scores), "bootstrap")
    trials: dict[str, list[bool]] = {}
    values: dict[str, list[float]] = {}
    for r in records:
        trials.setdefault(r.task_key, []).append(r.success)
        values.setdefault(r.task_key, []).append(r.value)
    least = min(len(t) for t in trials.values())
    chosen = _ks(least, ks, max_k)
    latencies = [s for r in records for s in r.latencies_s]
    costs = [r.cost_usd for r in records if r.cost_usd is not None]
    return GroupMetrics(
        group=group,
        episodes=n,
        tasks=len(trials),
        success=success,
        score=score,
        pass_at_k={k: pass_at_k(trials, k) for k in chosen},
        pass_hat_k={k: pass_hat_k(trials, k) for k in chosen},
        avg_at_k={k: avg_at_k(values, k) for k in chosen},
        input_tokens=_mean(r.input_tokens for r in records),
        output_tokens=_mean(r.output_tokens for r in records),
        cost_usd=sum(costs) / n if costs else None,
        latency_s=float(np.mean(latencies)) if latencies else None,
        latency_p50_s=float(np.quantile(latencies, 0.5)) if latencies else None,
        latency_p95_s=float(np.quantile(latencies, 0.95)) if latencies else None,
        model_calls=_mean(r.model_calls for r in records),
        steps=_mean(r.steps for r in records),
        tool_calls=_mean(r.tool_calls for r in records),
        wall_s=_mean(r.wall_s for r in records),
    )


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    from scipy import stats

    return float(stats.norm.ppf((1 + confidence) / 2))


def metrics(
    records: Iterable[EpisodeRecord],
    *,
    group_by: GroupBy = None,
    ks: Sequence[int] | None = None,
    max_k: int = 10,
    confidence: float = 0.95,
    seed: int = 0,
    resamples: int = 2000,
) -> list[GroupMetrics]:
    """One `GroupMetrics` per group, in order of first appearance.

    `group_by`: a field of `record_field` (`job`, `env`, `task`, `seed`, `epoch`,
    `system`, `params.NAME`, `operators.AGENT`, ...), several, a function, or None for
    one group `all`. `ks`: the k of pass@k / pass^k / avg@k (those above a group's
    fewest trials per task are left out; default 1 .. min(fewest, `max_k`)). The
    bootstrap of each group draws from `derive_seed(seed, group, "", "bootstrap")`, so
    a group's interval does not depend on which other groups there are.
    """
    groups = group_records(records, group_by)
    return [
        group_metrics(
            name,
            members,
            ks=ks,
            max_k=max_k,
            confidence=confidence,
            seed=seed,
            resamples=resamples,
        )
        for name, members in groups.items()
    ]


def run_metrics(store: Store, run_id: str, **options: object) -> list[GroupMetrics]:
    """`metrics` of a stored run's finished episodes (options as for `metrics`)."""
    return metrics(episode_records(store, run_id), **options)  # type: ignore[arg-type]


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def metrics_table(rows: Sequence[GroupMetrics]) -> str:
    """The metrics as a text table, one group a line."""
    head = (
        f"{'group':<28} {'eps':>5} {'success':>7} {'95% CI':>14} {'score':>6} "
        f"{'pass@k':>14} {'tok/ep':>8} {'cost/ep':>8} {'lat s':>6} {'steps':>6} {'tools':>6}"
    )
    lines = [head]
    for m in rows:
        ci = f"[{m.success.low:.2f}, {m.success.high:.2f}]"
        k = max(m.pass_at_k) if m.pass_at_k else None
        passk = "-" if k is None else f"@{k}={m.pass_at_k[k]:.3f}"
        lines.append(
            f"{m.group[:28]:<28} {m.episodes:>5} {m.success.value:>7.3f} {ci:>14} "
            f"{_fmt(m.score.value if m.score else None):>6} {passk:>14} {m.tokens:>8.1f} "
            f"{_fmt(m.cost_usd, '.4f'):>8} {_fmt(m.latency_s, '.3f'):>6} {m.steps:>6.1f} "
            f"{m.tool_calls:>6.1f}"
        )
    return "\n".join(lines) + "\n"
