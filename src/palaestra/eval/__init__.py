"""Evaluation: metrics over the episodes of a run.

- `pass_hat_k`: tau-bench's pass^k, the chance that k trials of a task all succeed;
- `pass_at_k`: pass@k, the chance that at least one of k trials succeeds;
- `pass_hat_k_by_job`: pass^1..pass^k of every job of a run with repeated trials;
- `successes_by_task`: a run's episode rows as the trials of each `job/task`;
- coordination metrics of multi-agent systems (docs/metrics.md): `episode_measures` /
  `run_measures` (messages, turns, model calls, tokens per agent), `coordination_summary`,
  `efficiency`, `redundancy`, and against the single agent `overhead`,
  `error_amplification`, `error_propagation`;
- comparing systems on the same tasks (`palaestra compare`): `wilson_interval`,
  `run_costs` / `episode_costs`, `compare_systems` (success with a 95% Wilson interval,
  tokens and calls per episode, overhead against `single`, successes per 1,000 tokens),
  `comparison_table`.
"""

from palaestra.eval._compare import (
    EpisodeCost,
    SystemStats,
    compare_systems,
    comparison_table,
    episode_costs,
    model_calls_by_episode,
    run_costs,
    split_system,
    wilson_interval,
)
from palaestra.eval._coordination import (
    AgentStats,
    CoordinationSummary,
    EpisodeMeasures,
    ParallelGroup,
    SubResult,
    coordination_summary,
    efficiency,
    episode_measures,
    jaccard,
    parallel_groups,
    redundancy,
    run_measures,
)
from palaestra.eval._overhead import (
    Amplification,
    Overhead,
    Propagation,
    Ratio,
    error_amplification,
    error_propagation,
    overhead,
)
from palaestra.eval._passk import (
    Successes,
    pass_at_k,
    pass_hat_k,
    pass_hat_k_by_job,
    successes_by_task,
)

__all__ = [
    "AgentStats",
    "Amplification",
    "CoordinationSummary",
    "EpisodeCost",
    "EpisodeMeasures",
    "Overhead",
    "ParallelGroup",
    "Propagation",
    "Ratio",
    "SubResult",
    "Successes",
    "SystemStats",
    "compare_systems",
    "comparison_table",
    "coordination_summary",
    "efficiency",
    "episode_costs",
    "episode_measures",
    "error_amplification",
    "error_propagation",
    "jaccard",
    "model_calls_by_episode",
    "overhead",
    "parallel_groups",
    "pass_at_k",
    "pass_hat_k",
    "pass_hat_k_by_job",
    "redundancy",
    "run_costs",
    "run_measures",
    "split_system",
    "successes_by_task",
    "wilson_interval",
]
