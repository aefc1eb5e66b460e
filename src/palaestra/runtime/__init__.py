"""Runtime: experiments (config as data), the episode loop and the runner."""

from palaestra.runtime._episode import (
    EpisodeLimits,
    EpisodeOutcome,
    EpisodeSpec,
    run_episode,
)
from palaestra.runtime._experiment import (
    BaselineOperatorConfig,
    Concurrency,
    Experiment,
    HumanOperatorConfig,
    Job,
    Limits,
    LLMOperatorConfig,
    ModelConfig,
    PythonOperatorConfig,
    ScriptedOperatorConfig,
    load_experiment,
)
from palaestra.runtime._recorder import AgentContext, BudgetExceeded, EpisodeRecorder
from palaestra.runtime._runner import (
    DEFAULT_STORE,
    JobStats,
    RunResult,
    arun,
    default_store_path,
    run,
)

__all__ = [
    "DEFAULT_STORE",
    "AgentContext",
    "BaselineOperatorConfig",
    "BudgetExceeded",
    "Concurrency",
    "EpisodeLimits",
    "EpisodeOutcome",
    "EpisodeRecorder",
    "EpisodeSpec",
    "Experiment",
    "HumanOperatorConfig",
    "Job",
    "JobStats",
    "LLMOperatorConfig",
    "Limits",
    "ModelConfig",
    "PythonOperatorConfig",
    "RunResult",
    "ScriptedOperatorConfig",
    "arun",
    "default_store_path",
    "load_experiment",
    "run",
    "run_episode",
]
