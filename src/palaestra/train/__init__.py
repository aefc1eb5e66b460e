"""Training over the same logs: trajectories, credit assignment, batch filters, schedules.

The pure part (this package's `_trajectory`, `_advantages`, `_filters`, `_batch`,
`_schedule`) reads stored runs and computes what a trainer consumes, with no torch:
`trajectories(store, run_id)` gives per-agent `Trajectory`s (turns, token segments with
loss masks, rewards, flags); `make_batch(...)` masks environment failures, applies the
filters and an advantage estimator (GRPO, Dr. GRPO, RLOO, Dr. MAS, GiGPO-style process
rewards, chunk-level credit) and returns a `Batch` of token `Sample`s; a
`HorizonSchedule` (ScalingInter-RL) sets each training step's `max_steps`. See
docs/training.md.
"""

from palaestra.train._advantages import (
    chunk_returns,
    discounted_returns,
    dr_grpo,
    dr_mas,
    grpo,
    rloo,
    step_group_advantages,
)
from palaestra.train._batch import (
    ESTIMATORS,
    Batch,
    Estimator,
    EstimatorConfig,
    Sample,
    TextSample,
    compute_advantages,
    make_batch,
)
from palaestra.train._config import (
    ScheduleConfig,
    TrainConfig,
    train_config,
    train_config_from_file,
)
from palaestra.train._filters import (
    drop_masked,
    drop_uniform_groups,
    resample_on_correct,
)
from palaestra.train._loop import (
    EvalResult,
    TrainResult,
    learning_curves,
    read_curve,
    train,
)
from palaestra.train._schedule import HorizonSchedule, with_max_steps
from palaestra.train._torch_backend import Checkpoint, read_checkpoint
from palaestra.train._trajectory import (
    GROUP_KEY_FIELDS,
    AnswerCount,
    AnswerFormat,
    GroupKey,
    Segment,
    Trajectory,
    Turn,
    episode_trajectories,
    regex_answers,
    tag_answers,
    trajectories,
)
from palaestra.train._trl import (
    TRL_ESTIMATORS,
    PalaestraRollout,
    RolloutRow,
    env_reward,
    grpo_trainer,
    rollout_rows,
    task_dataset,
)
from palaestra.train._verl import VerlServerModel, verl_output, verl_rows, write_verl_dataset

__all__ = [
    "write_verl_dataset",
    "verl_rows",
    "verl_output",
    "task_dataset",
    "rollout_rows",
    "grpo_trainer",
    "env_reward",
    "VerlServerModel",
    "RolloutRow",
    "PalaestraRollout",
    "TRL_ESTIMATORS",
    "ESTIMATORS",
    "GROUP_KEY_FIELDS",
    "AnswerCount",
    "AnswerFormat",
    "Batch",
    "Checkpoint",
    "Estimator",
    "EstimatorConfig",
    "EvalResult",
    "GroupKey",
    "HorizonSchedule",
    "Sample",
    "ScheduleConfig",
    "Segment",
    "TextSample",
    "TrainConfig",
    "TrainResult",
    "Trajectory",
    "Turn",
    "chunk_returns",
    "compute_advantages",
    "discounted_returns",
    "dr_grpo",
    "dr_mas",
    "drop_masked",
    "drop_uniform_groups",
    "episode_trajectories",
    "grpo",
    "learning_curves",
    "make_batch",
    "read_checkpoint",
    "read_curve",
    "regex_answers",
    "resample_on_correct",
    "rloo",
    "step_group_advantages",
    "tag_answers",
    "train",
    "train_config",
    "train_config_from_file",
    "trajectories",
    "with_max_steps",
]
