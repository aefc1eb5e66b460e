"""pass^k and pass@k: how reliably, and how possibly, an agent solves a task in k tries.

Given, for each task, the outcomes of its n independent trials (c of them successes):

- **pass^k** (tau-bench's reliability metric) is the probability that k trials drawn
  without replacement from the n all succeed: C(c, k) / C(n, k);
- **pass@k** (Codex's) is the probability that at least one of them succeeds:
  1 - C(n - c, k) / C(n, k).

Each is averaged over tasks (every task weighs the same, however many trials it has).
Both are the unbiased estimators of the per-task probabilities from n >= k trials; a task
with fewer than k trials cannot be estimated and is an error, not a silent zero.

From a run, the trials of a task are its episodes: episode ids are
`job/task/seed/epoch`, so the episodes that share `job/task` are trials of one task
(`successes_by_task`). Episodes not finished are left out; an episode that ended in an
error counts as a failure, as in tau-bench.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction
from math import comb

from palaestra.store import EpisodeRow

Successes = Mapping[str, Sequence[bool]] | Iterable[EpisodeRow]
"""Per task id, the success of each trial; or the episode rows of a run (grouped by
`successes_by_task`)."""


def successes_by_task(rows: Iterable[EpisodeRow]) -> dict[str, list[bool]]:
    """The trials of each task in a run's episode rows, keyed `job/task` (the episode id
    without its `/seed/epoch`), in row order. Unfinished episodes are left out; errors
    count as failures."""
    trials: dict[str, list[bool]] = {}
    for row in rows:
        if row.status != "finished":
            continue
        key, _seed, _epoch = row.episode_id.rsplit("/", 2)
        trials.setdefault(key, []).append(bool(row.success))
    return trials


def _counts(successes: Successes, k: int) -> list[tuple[int, int]]:
    """(n, c) per task, after checking `k` and every task's trials."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    trials = successes if isinstance(successes, Mapping) else successes_by_task(successes)
    if not trials:
        raise ValueError("no tasks: give at least one task with its trials")
    counts = []
    for task, outcomes in trials.items():
        if isinstance(outcomes, str | bytes) or not all(
            isinstance(o, bool) or o in (0, 1) for o in outcomes
        ):
            raise ValueError(
                f"task {task!r}: trials must be a sequence of booleans, got {outcomes!r}"
            )
        n, c = len(outcomes), sum(bool(o) for o in outcomes)
        if n < k:
            raise ValueError(
                f"task {task!r} has {n} trial(s), fewer than k={k}: run at least {k} "
                "epochs or seeds per task, or lower k"
            )
        counts.append((n, c))
    return counts


def pass_hat_k(successes: Successes, k: int) -> float:
    """Mean over tasks of C(c, k) / C(n, k): the chance that k trials all succeed.

    `successes` maps each task to its trials' outcomes, or is a run's episode rows.
    Raises `ValueError` when k < 1, there is no task, or a task has fewer than k trials.
    """
    counts = _counts(successes, k)
    total = sum(Fraction(comb(c, k), comb(n, k)) for n, c in counts)
    return float(total / len(counts))


def pass_at_k(successes: Successes, k: int) -> float:
    """Mean over tasks of 1 - C(n - c, k) / C(n, k): the chance that at least one of k
    trials succeeds. Same arguments and errors as `pass_hat_k`."""
    counts = _counts(successes, k)
    total = sum(1 - Fraction(comb(n - c, k), comb(n, k)) for n, c in counts)
    return float(total / len(counts))


def pass_hat_k_by_job(rows: Iterable[EpisodeRow], *, max_k: int = 8) -> dict[str, list[float]]:
    """pass^k for k = 1 .. min(trials per task, `max_k`), per job of a run.

    Only jobs whose every task has at least two finished trials appear (with one trial,
    pass^1 is just the success rate). The lists start at k = 1.
    """
    by_job: dict[str, dict[str, list[bool]]] = {}
    for key, trials in successes_by_task(rows).items():
        job = key.split("/", 1)[0]
        by_job.setdefault(job, {})[key] = trials
    out: dict[str, list[float]] = {}
    for job, tasks in by_job.items():
        least = min(len(t) for t in tasks.values())
        if least >= 2:
            out[job] = [pass_hat_k(tasks, k) for k in range(1, min(least, max_k) + 1)]
    return out
