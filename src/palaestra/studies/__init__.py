"""Studies of runs, all built on the engine's `JobPlan` (`palaestra.runtime`): replay
(re-run a recorded episode with its models answered from the log and compare),
stress (search fault plans for contract violations, shrink counterexamples), Shapley
(attribute a system's score to its modules), rescore (score stored logs again) and
compare (the same tasks under several systems with one token budget).
"""

from palaestra.studies._compare import (
    Comparison,
    compare,
    comparison_experiment,
    reference_system,
)
from palaestra.studies._replay import ReplayReport, first_difference, replay_episode
from palaestra.studies._rescore import RescoreResult, rescore
from palaestra.studies._shapley import (
    ShapleyRun,
    coalition_experiment,
    run_shapley,
    shapley_experiment,
)
from palaestra.studies._stress import (
    Counterexample,
    StressReport,
    StressSpace,
    StressViolation,
    astress,
    stress,
)

__all__ = [
    "Comparison",
    "Counterexample",
    "ReplayReport",
    "RescoreResult",
    "ShapleyRun",
    "StressReport",
    "StressSpace",
    "StressViolation",
    "astress",
    "coalition_experiment",
    "compare",
    "comparison_experiment",
    "first_difference",
    "reference_system",
    "replay_episode",
    "rescore",
    "run_shapley",
    "shapley_experiment",
    "stress",
]
