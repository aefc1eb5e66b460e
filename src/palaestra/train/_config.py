"""The training configuration: a dataclass with a comment per field, built from the
`train:` block of an experiment YAML and saved (as JSON) with every checkpoint.

```yaml
models:
  policy: {spec: "torch:smollm2-135m"}     # the model the LLM operators use, trained
jobs:
  - env: arith.drill
    operator: {kind: llm, model: policy, system_prompt: "..."}
train:
  steps: 60
  group_size: 8          # G rollouts per question
  prompts_per_step: 4    # questions (seeds) per task per step
  lr: 1.0e-5
  estimator: grpo
  eval_every: 10
  eval_seeds: 32         # held-out seeds 10000..10031
  checkpoint_dir: runs/train/arith
```
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from palaestra.core import ConfigError
from palaestra.train._batch import ESTIMATORS, EstimatorConfig
from palaestra.train._schedule import HorizonSchedule

EVAL_SEED_START = 10_000
"""First held-out seed when `eval_seeds` is a count (training seeds count up from
`train_seed_start`, far below)."""


@dataclass
class ScheduleConfig:
    """ScalingInter-RL horizon schedule: `rounds[min(step // every, len - 1)]`."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    rounds: list[int]  # horizons (environment steps per episode), in order of use
    every: int  # training steps spent at each horizon


@dataclass
class TrainConfig:
    """Everything `palaestra train` needs besides the experiment itself."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    # -- the policy --
    model: str = "policy"  # name under `models:` whose operators are trained
    policy: str | None = None  # spec to load (default: that model's spec), e.g. torch:PATH
    temperature: float = 1.0  # sampling temperature of rollouts (and of the logprobs)
    top_p: float = 1.0  # nucleus sampling of rollouts (logprobs stay untruncated)
    max_new_tokens: int = 32  # reply length limit of the policy
    max_batch: int = 16  # requests generated together in one padded batch
    threads: int | None = None  # torch CPU threads (None: torch's default)
    # -- rollouts --
    steps: int = 60  # training steps (one update each)
    group_size: int = 8  # G: rollouts of each question (the epochs of a job)
    prompts_per_step: int = 4  # questions (episode seeds) per task per step
    train_seed_start: int = 0  # step k uses seeds start + k*P ... start + k*P + P - 1
    schedule: ScheduleConfig | None = None  # horizon schedule (None: the experiment's)
    # -- credit --
    estimator: str = "grpo"  # advantage estimator: grpo, dr_grpo, rloo, dr_mas, gigpo, chunk
    estimator_options: dict[str, Any] = field(default_factory=dict)  # EstimatorConfig knobs
    drop_uniform: bool = True  # drop groups whose rewards are all equal (no signal)
    resample: bool = False  # GRPO-RoC: sample 2G, keep G (clean positives, random negatives)
    # -- the update --
    lr: float = 1e-5  # AdamW learning rate
    betas: tuple[float, float] = (0.9, 0.99)  # AdamW betas
    weight_decay: float = 0.0  # AdamW weight decay
    grad_clip: float = 1.0  # max gradient norm (0: no clipping)
    clip: float = 0.2  # PPO ratio clip ε: ratio kept in [1 - ε, 1 + ε]
    kl_coef: float = 0.0  # weight of the KL to the frozen initial policy (0: no reference)
    ppo_epochs: int = 1  # passes over each batch
    micro_batch: int = 8  # sequences per forward/backward (gradients accumulate)
    # -- evaluation and checkpoints --
    eval_every: int = 10  # evaluate on held-out seeds every N steps (0: only before/after)
    eval_seeds: int | list[int] = 32  # held-out seeds: a count (from 10000) or a list
    eval_temperature: float = 0.0  # 0: greedy evaluation
    checkpoint_dir: str = "runs/train"  # checkpoints and the curve file go here
    checkpoint_every: int = 10  # save every N steps (and at the end); 0: only at the end
    keep_checkpoints: int = 2  # most recent step folders kept (0: keep all)
    seed: int | None = None  # torch seed of the trainer (default: the experiment's seed)

    def __post_init__(self) -> None:
        problems = []
        if self.estimator not in ESTIMATORS:
            problems.append(f"estimator: {self.estimator!r} (valid: {', '.join(ESTIMATORS)})")
        for name in (f.name for f in dataclasses.fields(self)):
            value = getattr(self, name)
            if isinstance(value, float) and not math.isfinite(value):
                problems.append(f"{name}: must be a finite number, got {value}")
        counts = ("steps", "group_size", "prompts_per_step", "max_new_tokens", "max_batch")
        for name in (*counts, "micro_batch", "ppo_epochs"):
            if getattr(self, name) < 1:
                problems.append(f"{name}: must be >= 1")
        if self.threads is not None and self.threads < 1:
            problems.append("threads: must be >= 1 (or null for torch's default)")
        if not 0 < self.top_p <= 1:
            problems.append(f"top_p: must be in (0, 1], got {self.top_p}")
        for name in ("weight_decay", "grad_clip", "eval_temperature"):
            if getattr(self, name) < 0:
                problems.append(f"{name}: must be >= 0")
        if not 0 <= self.train_seed_start < 2**62:
            problems.append("train_seed_start: must be from 0 to 2**62")
        if self.group_size < 2:
            problems.append("group_size: GRPO compares rollouts: use at least 2")
        if not 0 < self.clip < 1:
            problems.append(f"clip: must be in (0, 1), got {self.clip}")
        if self.lr <= 0:
            problems.append(f"lr: must be > 0, got {self.lr}")
        if self.temperature <= 0:
            problems.append("temperature: rollouts must sample (> 0); eval_temperature may be 0")
        if isinstance(self.eval_seeds, int) and self.eval_seeds < 1:
            problems.append("eval_seeds: give a count >= 1 or a list")
        for name in ("eval_every", "checkpoint_every", "keep_checkpoints", "kl_coef"):
            if getattr(self, name) < 0:
                problems.append(f"{name}: must be >= 0")
        if problems:
            raise ValueError("; ".join(problems))
        trained = self.train_seed_range()  # a range: membership is arithmetic
        overlap = [seed for seed in self.eval_seed_list() if seed in trained]
        if overlap:
            raise ValueError(
                f"eval_seeds overlap the training seeds ({min(overlap)} ...): held-out seeds "
                "must not be trained on; move train_seed_start or eval_seeds"
            )

    # -- derived --

    def eval_seed_list(self) -> list[int]:
        if isinstance(self.eval_seeds, int):
            return list(range(EVAL_SEED_START, EVAL_SEED_START + self.eval_seeds))
        return list(self.eval_seeds)

    def train_seed_range(self) -> range:
        """Every seed the `steps` training steps use."""
        start = self.train_seed_start
        return range(start, start + self.steps * self.prompts_per_step)

    def step_seeds(self, step: int) -> list[int]:
        """The episode seeds of training step `step`."""
        first = self.train_seed_start + step * self.prompts_per_step
        return list(range(first, first + self.prompts_per_step))

    def horizon(self) -> HorizonSchedule | None:
        if self.schedule is None:
            return None
        return HorizonSchedule(tuple(self.schedule.rounds), self.schedule.every)

    def estimator_config(self) -> EstimatorConfig:
        options = dict(self.estimator_options)
        if "group_by" in options:
            options["group_by"] = tuple(options["group_by"])
        try:
            return EstimatorConfig(name=self.estimator, **options)  # type: ignore[arg-type]
        except TypeError as exc:
            valid = ", ".join(
                f.name for f in dataclasses.fields(EstimatorConfig) if f.name != "name"
            )
            raise ConfigError(f"train.estimator_options: {exc} (valid: {valid})") from None

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


_ADAPTER = TypeAdapter(TrainConfig)


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid")
    train: TrainConfig


def train_config(
    data: dict[str, Any] | None, *, source: str = "<train>", lines: Any = None
) -> TrainConfig:
    """A `TrainConfig` from the `train:` block (None: all defaults); a `ConfigError`
    naming each bad field (with its file line when `lines` is given)."""
    from palaestra.config import format_validation_error

    try:
        return _Block.model_validate({"train": data or {}}).train
    except ValidationError as exc:
        text = format_validation_error(exc, source=source, lines=lines)
        if any(e["type"] == "unexpected_keyword_argument" for e in exc.errors()):
            valid = ", ".join(f.name for f in dataclasses.fields(TrainConfig))
            text += f"\nvalid fields of train: {valid}"
        raise ConfigError(text) from None


def train_config_from_file(path: str | Path) -> TrainConfig:
    """The `train:` block of an experiment file, errors naming file and line."""
    from palaestra.config import load_yaml_file

    path = Path(path)
    data, lines = load_yaml_file(path, what="experiment file", expected="an experiment mapping")
    block = data.get("train") if isinstance(data, dict) else None
    return train_config(block, source=str(path), lines=lines)


def config_from_json(data: dict[str, Any]) -> TrainConfig:
    """A config saved with a checkpoint, read back."""
    return _ADAPTER.validate_python(data)
