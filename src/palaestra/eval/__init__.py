"""Evaluation: metrics over the episodes of a run.

- `pass_hat_k`: tau-bench's pass^k, the chance that k trials of a task all succeed;
- `pass_at_k`: pass@k, the chance that at least one of k trials succeeds;
- `pass_hat_k_by_job`: pass^1..pass^k of every job of a run with repeated trials;
- `successes_by_task`: a run's episode rows as the trials of each `job/task`.
"""

from palaestra.eval._passk import (
    Successes,
    pass_at_k,
    pass_hat_k,
    pass_hat_k_by_job,
    successes_by_task,
)

__all__ = [
    "Successes",
    "pass_at_k",
    "pass_hat_k",
    "pass_hat_k_by_job",
    "successes_by_task",
]
