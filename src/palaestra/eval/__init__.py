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
  `comparison_table`;
- run metrics with confidence, grouped by any task field (`metrics`, `run_metrics`,
  `episode_records`, `avg_at_k`, `metrics_table`); paired comparison
  (`paired_compare`); statistics (`bootstrap_ci`, `sign_test`, `mcnemar_exact`,
  `paired_t_test`, `wilcoxon_signed_rank`); Shapley attribution (`shapley_values`,
  `banzhaf_values`, `coalitions_needed`, `shapley_from_records`); the HTML report
  (`build_report`, `write_report`);
- scorers (docs/scorers.md): the `Scorer` protocol over an `EpisodeLog` and a `Target`,
  `exact`, `includes`, `numeric`, `programmatic`, `workspace_files` (the files an
  agent left in its workspace), hierarchical `rubric`s (`Rubric`),
  `model_graded` with judges and majority vote; scorer blocks as data (`ScorerSpec`,
  `build_scorer`, `run_scorers`, `score_payloads`); per-scorer summaries
  (`scorer_rows`, `scorer_table`); judge calibration (`calibrate`: agreement, Cohen's
  kappa, weighted kappa, confusion matrix).
"""

from palaestra.core import wilson_interval
from palaestra.eval._artifacts import workspace_files
from palaestra.eval._calibration import Calibration, calibrate
from palaestra.eval._compare import (
    EpisodeCost,
    SystemStats,
    compare_systems,
    comparison_table,
    episode_costs,
    run_costs,
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
    redundancy,
    run_measures,
)
from palaestra.eval._judge import (
    Judge,
    JudgeReply,
    as_judge,
    majority,
    model_graded,
)
from palaestra.eval._match import exact, includes, numeric, programmatic
from palaestra.eval._metrics import (
    Estimate,
    GroupMetrics,
    avg_at_k,
    metrics,
    metrics_table,
    run_metrics,
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
from palaestra.eval._paired import Pair, PairedComparison, paired_compare, split_by
from palaestra.eval._passk import (
    pass_at_k,
    pass_hat_k,
    pass_hat_k_by_job,
    successes_by_task,
)
from palaestra.eval._records import (
    GROUP_FIELDS,
    EpisodeRecord,
    episode_records,
    group_records,
)
from palaestra.eval._report import build_report, write_report
from palaestra.eval._rubric import Rubric, RubricItem, rubric
from palaestra.eval._scorer import (
    EpisodeLog,
    Scorer,
    ScoreResult,
    Target,
)
from palaestra.eval._scorer_kinds import ScorerBuild, ScorerKind, ScorerOptions
from palaestra.eval._scores import ScorerRow, scorer_rows, scorer_rows_from_events, scorer_table
from palaestra.eval._shapley import (
    Attribution,
    banzhaf_values,
    coalition_values,
    coalitions_needed,
    shapley_from_records,
    shapley_values,
)
from palaestra.eval._spec import (
    SCORER_KINDS,
    SCORERS,
    BoundScorer,
    Scored,
    ScorerSpec,
    build_scorer,
    parse_scorer_arg,
    register_scorer,
    run_scorers,
    score_payloads,
)
from palaestra.eval._stats import (
    TestResult,
    bootstrap_ci,
    mcnemar_exact,
    paired_t_test,
    sign_test,
    wilcoxon_signed_rank,
)

__all__ = [
    "SCORERS",
    "SCORER_KINDS",
    "AgentStats",
    "Amplification",
    "Attribution",
    "BoundScorer",
    "Calibration",
    "CoordinationSummary",
    "EpisodeCost",
    "EpisodeLog",
    "EpisodeMeasures",
    "EpisodeRecord",
    "Estimate",
    "GROUP_FIELDS",
    "GroupMetrics",
    "Judge",
    "JudgeReply",
    "Overhead",
    "Pair",
    "PairedComparison",
    "ParallelGroup",
    "Propagation",
    "Ratio",
    "Rubric",
    "RubricItem",
    "ScoreResult",
    "Scored",
    "Scorer",
    "ScorerRow",
    "ScorerBuild",
    "ScorerKind",
    "ScorerOptions",
    "ScorerSpec",
    "SubResult",
    "SystemStats",
    "Target",
    "TestResult",
    "as_judge",
    "avg_at_k",
    "banzhaf_values",
    "bootstrap_ci",
    "build_report",
    "build_scorer",
    "calibrate",
    "coalition_values",
    "coalitions_needed",
    "compare_systems",
    "comparison_table",
    "coordination_summary",
    "efficiency",
    "episode_costs",
    "episode_measures",
    "episode_records",
    "error_amplification",
    "error_propagation",
    "exact",
    "group_records",
    "includes",
    "majority",
    "mcnemar_exact",
    "metrics",
    "metrics_table",
    "model_graded",
    "numeric",
    "overhead",
    "paired_compare",
    "paired_t_test",
    "parse_scorer_arg",
    "pass_at_k",
    "pass_hat_k",
    "pass_hat_k_by_job",
    "programmatic",
    "redundancy",
    "register_scorer",
    "rubric",
    "run_costs",
    "run_measures",
    "run_metrics",
    "run_scorers",
    "score_payloads",
    "scorer_rows",
    "scorer_rows_from_events",
    "scorer_table",
    "shapley_from_records",
    "shapley_values",
    "sign_test",
    "split_by",
    "successes_by_task",
    "wilcoxon_signed_rank",
    "wilson_interval",
    "workspace_files",
    "write_report",
]
