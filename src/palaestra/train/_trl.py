"""The TRL backend: palaestra rollouts and advantages, TRL's `GRPOTrainer` for the update.

TRL (>= 1.0) lets a `GRPOTrainer` take its completions from a *rollout function*
(`rollout_func(prompts, trainer) -> {"prompt_ids", "completion_ids", "logprobs", ...}`).
Here that function runs an ordinary palaestra run — the experiment's environment,
operators and event log, recorded in the store like any run — with the trainer's own
model as the policy (`TorchPolicy`), and hands back, per rollout, the tokens the policy saw
and generated:

    dataset row = one task instance      {"prompt": '{"job": ..., "task": ..., "seed": ...}'}
    TRL repeats each row G times          (num_generations: the GRPO group)
    rollout_func(prompts, trainer)
      1. one palaestra run: each task instance × G epochs, the policy = trainer.model
      2. trajectories from the stored log (palaestra.train.trajectories), the trained
         agent's; failures of the environment/platform masked out
      3. advantages: palaestra's estimator over each group (compute_advantages)
      4. per rollout: prompt ids = the first turn's prompt; completion ids = everything
         after it (generated turns with env_mask 1, the environment's replies between
         them with env_mask 0: the multi-turn conversation as one sequence)
    reward function `env_reward`: the environment's verified score (what TRL logs)
    PalaestraGRPOTrainer: TRL's loss with palaestra's advantages (see below)

Advantages. With `advantages="palaestra"` (default) the trainer replaces the advantages
TRL computed from the rewards by palaestra's (`grpo`, `dr_grpo`, `rloo`, `dr_mas`: one
value per trajectory, the estimators of `palaestra.train`), and masked or filtered
rollouts get no loss (env_mask 0). TRL's loss takes one advantage per sequence, so the
turn-level estimators (`gigpo`, `chunk`) are refused here: use the local backend. With
`advantages="trl"` TRL's own group normalisation of the env score is used
(`scale_rewards`, `loss_type` of `GRPOConfig`), which also works across several
processes; palaestra's needs the G rollouts of a group in one process, so it requires a
single process (one GPU; for multi-GPU training use verl, docs/training.md).

Needs the `train` extra (torch, transformers, trl, datasets); everything is imported
lazily, so `palaestra.train` imports without them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from palaestra.core import UserError, derive_seed
from palaestra.models import Model
from palaestra.runtime import Experiment, Job, arun, load_experiment
from palaestra.store import Store
from palaestra.train._batch import EstimatorConfig, _config, compute_advantages
from palaestra.train._filters import drop_masked, drop_uniform_groups
from palaestra.train._schedule import HorizonSchedule, with_max_steps
from palaestra.train._trajectory import Trajectory, trajectories

logger = logging.getLogger("palaestra.train")

TRL_ESTIMATORS: tuple[str, ...] = ("grpo", "dr_grpo", "rloo", "dr_mas")
"""Estimators the TRL backend applies exactly (one advantage per trajectory)."""

POLICY = "policy"
"""Name under `models:` that the rollouts serve with the trainer's model."""


# -- tasks as TRL prompts ---------------------------------------------------------------


def task_prompts(experiment: Experiment | str | Path) -> list[str]:
    """One prompt per task instance (job, task, seed) of the experiment: a JSON object
    the rollout function reads back. The same instances the runner would run."""
    from palaestra.envs import get_spec

    exp = load_experiment(experiment)
    out = []
    for job in exp.jobs:
        spec = get_spec(job.env)
        available = list(spec.factory(spec.validate(job.params)).tasks())
        if job.tasks == "all":
            tasks = available
        elif isinstance(job.tasks, int):
            tasks = available[: job.tasks]
        else:
            tasks = list(job.tasks)
        for task in tasks:
            for seed in job.seed_list():
                out.append(json.dumps({"job": job.label, "task": task, "seed": seed}))
    return out


def task_dataset(experiment: Experiment | str | Path, *, repeat: int = 1) -> Any:
    """The prompts of `task_prompts` as a `datasets.Dataset` (column `prompt`), each
    `repeat` times (TRL's epochs over the data)."""
    from datasets import Dataset

    prompts = task_prompts(experiment) * repeat
    return Dataset.from_dict({"prompt": prompts})


def _read_prompt(prompt: Any) -> tuple[str, str, int]:
    text = prompt if isinstance(prompt, str) else json.dumps(prompt)
    try:
        row = json.loads(text)
        return str(row["job"]), str(row["task"]), int(row["seed"])
    except (ValueError, KeyError, TypeError):
        raise UserError(
            f"TRL prompt {text[:120]!r} is not a palaestra task; build the dataset with "
            "palaestra.train.task_dataset(experiment)"
        ) from None


# -- rollouts as TRL rows (pure) ----------------------------------------------------------


@dataclass
class RolloutRow:
    """One rollout as TRL takes it."""

    prompt_ids: list[int]
    completion_ids: list[int]
    env_mask: list[int]
    """1 on the tokens the policy generated, 0 on the environment's (and on every token
    of a rollout left out of the loss)."""
    logprobs: list[float] | None
    advantage: float
    reward: float | None
    """The environment's score; None for a masked rollout."""
    episode_id: str
    trained: bool
    """False when the rollout is left out of the loss (masked, filtered, no tokens)."""
    dropped_turns: int = 0
    """Turns of the trajectory outside the sequence (see `trajectory_row`)."""


def trajectory_row(
    trajectory: Trajectory | None,
    advantage: float,
    *,
    trained: bool,
    pad_id: int,
    episode_id: str = "",
) -> RolloutRow:
    """The TRL row of one rollout: its *last* token segment split at its first generated
    token (prompt before, completion from there; `env_mask` = the segment's loss mask).

    A policy that continues its previous ids (`PromptTokens`) gives one segment for the
    whole conversation; when the history was re-rendered, the trajectory has several and
    the earlier ones are left out (`dropped_turns`; TRL takes one sequence per rollout).
    A rollout with no token turns gets a one-token placeholder with mask 0.
    """
    segments = trajectory.segments if trajectory is not None else []
    if not segments:
        return RolloutRow(
            [pad_id],
            [pad_id],
            [0],
            None,
            0.0,
            None,
            episode_id,
            False,
            len(trajectory.turns) if trajectory is not None else 0,
        )
    assert trajectory is not None
    segment = segments[-1]
    start = segment.spans[0][0]
    completion = segment.input_ids[start:]
    mask = list(segment.loss_mask[start:]) if trained else [0] * len(completion)
    logprobs = segment.logprobs[start:] if segment.logprobs is not None else None
    return RolloutRow(
        prompt_ids=list(segment.input_ids[:start]) or [pad_id],
        completion_ids=list(completion),
        env_mask=mask,
        logprobs=list(logprobs) if logprobs is not None else None,
        advantage=advantage if trained else 0.0,
        reward=trajectory.reward if not trajectory.masked else None,
        episode_id=trajectory.episode_id,
        trained=trained,
        dropped_turns=len(trajectory.turns) - len(segment.turns),
    )


def rollout_rows(
    rows: Sequence[Trajectory | None],
    estimator: EstimatorConfig | str = "grpo",
    *,
    pad_id: int,
    drop_uniform: bool = False,
) -> list[RolloutRow]:
    """TRL rows for rollouts in TRL's order (`rows[i]` the trained agent's trajectory of
    rollout i, None if it made no model turn): masked ones (environment/platform failure,
    no reward) and, with `drop_uniform`, groups whose rewards are all equal get mask 0;
    the others get their advantage under `estimator` (one of `TRL_ESTIMATORS`)."""
    config = _config(estimator)
    if config.name not in TRL_ESTIMATORS:
        raise UserError(
            f"estimator {config.name!r} gives turn-level advantages, which TRL's loss (one "
            f"advantage per sequence) cannot take; use one of {', '.join(TRL_ESTIMATORS)} "
            "or the local backend (`palaestra train`)"
        )
    present = [t for t in rows if t is not None]
    kept = drop_masked(present, reward=config.reward)
    if drop_uniform:
        kept = drop_uniform_groups(kept, group_by=config.group_by, reward=config.reward)
    values = compute_advantages(kept, config)
    advantage = {id(t): v[0] if v else 0.0 for t, v in zip(kept, values, strict=True)}
    return [
        trajectory_row(
            t,
            advantage.get(id(t), 0.0),
            trained=t is not None and id(t) in advantage,
            pad_id=pad_id,
            episode_id=t.episode_id if t is not None else "",
        )
        for t in rows
    ]


def env_reward(prompts: Any, completions: Any, env_reward: list[float | None], **_: Any) -> list:
    """TRL reward function: the environment's verified score of each rollout (None for a
    masked one, which TRL leaves out), passed through by the rollout function."""
    return list(env_reward)


# -- the rollout function -----------------------------------------------------------------


@dataclass
class RolloutStats:
    """What the last call of the rollout function did (also logged to TRL's metrics)."""

    run_id: str = ""
    episodes: int = 0
    rows: list[RolloutRow] = field(default_factory=list)
    wall_s: float = 0.0
    generated_tokens: int = 0

    @property
    def advantages(self) -> list[float]:
        return [r.advantage for r in self.rows]

    @property
    def tokens_per_s(self) -> float:
        return self.generated_tokens / self.wall_s if self.wall_s > 0 else 0.0


class PalaestraRollout:
    """A TRL `rollout_func` that runs palaestra episodes (see the module doc).

    `experiment`: jobs whose trained agent is an `llm` operator with `model: policy`;
    `agent`: the agent whose turns are trained (default `agent`); `estimator`: one of
    `TRL_ESTIMATORS` or an `EstimatorConfig`; `advantages`: "palaestra" or "trl";
    `policy(trainer) -> Model`: the model serving the rollouts (default: a `TorchPolicy`
    over the trainer's model and tokenizer, with `temperature`, `max_tokens` and
    `max_context`: batched sampling that records token ids and log-probabilities);
    `schedule`: a `HorizonSchedule` applied per training step; `store`: where every
    rollout run is recorded (run ids `<name>-rollout-<step>`).
    """

    def __init__(
        self,
        experiment: Experiment | str | Path | dict[str, Any],
        *,
        store: Store | str | Path,
        agent: str = "agent",
        estimator: EstimatorConfig | str = "grpo",
        advantages: Literal["palaestra", "trl"] = "palaestra",
        drop_uniform: bool = False,
        policy: Callable[[Any], Model] | None = None,
        temperature: float = 1.0,
        max_tokens: int = 64,
        max_context: int = 2048,
        schedule: HorizonSchedule | None = None,
        name: str | None = None,
    ):
        self.experiment = load_experiment(experiment)
        self.store = store if isinstance(store, Store) else Store(store)
        self.agent = agent
        self.estimator = _config(estimator)
        rollout_rows([], self.estimator, pad_id=0)  # refuse a turn-level estimator now
        if advantages not in ("palaestra", "trl"):
            raise UserError(f"advantages must be 'palaestra' or 'trl', got {advantages!r}")
        self.advantages = advantages
        self.drop_uniform = drop_uniform
        self.policy = policy
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_context = max_context
        self.schedule = schedule
        self.name = name or self.experiment.name
        self.last = RolloutStats()
        self._model: Model | None = None
        self._calls = 0

    def _policy(self, trainer: Any) -> Model:
        if self._model is None:
            if self.policy is not None:
                self._model = self.policy(trainer)
            else:
                from palaestra.models import TorchPolicy

                self._model = TorchPolicy(
                    trainer.model,
                    trainer.processing_class,
                    name=POLICY,
                    max_new_tokens=self.max_tokens,
                    temperature=self.temperature,
                    max_context=self.max_context,
                    seed=self.experiment.seed,
                )
        return self._model

    def experiment_for(self, prompts: Sequence[Any], step: int) -> tuple[Experiment, list[str]]:
        """The run of one rollout batch, and the episode id of each prompt: each task
        instance with as many epochs as the prompt repeats (its G rollouts)."""
        jobs = {str(job.label): job for job in self.experiment.jobs}
        keys = [_read_prompt(p) for p in prompts]
        seen: dict[tuple[str, str, int], int] = {}
        for key in keys:
            seen[key] = seen.get(key, 0) + 1
        planned: dict[tuple[str, int], dict[str, int]] = {}
        for (label, task, seed), count in seen.items():
            if label not in jobs:
                raise UserError(f"TRL prompt names job {label!r}; jobs: {', '.join(jobs)}")
            tasks = planned.setdefault((label, seed), {})
            tasks[task] = max(tasks.get(task, 0), count)
        new_jobs: list[Job] = []
        labels: dict[tuple[str, int, str], str] = {}
        used: set[str] = set()
        for (label, seed), tasks in planned.items():
            by_count: dict[int, list[str]] = {}
            for task, count in tasks.items():
                by_count.setdefault(count, []).append(task)
            for count, names in by_count.items():
                # one job per (seed, G): the runner runs tasks x seeds x epochs
                new_label = label if label not in used else f"{label}~{seed}-{count}"
                used.add(new_label)
                for task in names:
                    labels[(label, seed, task)] = new_label
                new_jobs.append(
                    jobs[label].model_copy(
                        update={
                            "label": new_label,
                            "tasks": names,
                            "seeds": [seed],
                            "epochs": count,
                        }
                    )
                )
        run_seed = derive_seed(self.experiment.seed, f"trl-step-{step}", "", "rollout")
        exp = self.experiment.model_copy(update={"jobs": new_jobs, "seed": run_seed})
        if self.schedule is not None:
            exp = with_max_steps(exp, self.schedule.max_steps(step))
        counters: dict[tuple[str, str, int], int] = {}
        ids = []
        for key in keys:
            epoch = counters.get(key, 0)
            counters[key] = epoch + 1
            label, task, seed = key
            ids.append(f"{labels[(label, seed, task)]}/{task}/{seed}/{epoch}")
        return exp, ids

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        import asyncio

        if self.advantages == "palaestra" and trainer.accelerator.num_processes > 1:
            raise UserError(
                "palaestra's advantages need every rollout of a group in one process; with "
                f"{trainer.accelerator.num_processes} processes use advantages='trl' (or verl)"
            )
        step = int(trainer.state.global_step)
        exp, episode_ids = self.experiment_for(prompts, step)
        policy = self._policy(trainer)
        run_id = f"{self.name}-rollout-{step:06d}-{self._calls}"
        self._calls += 1
        started = time.perf_counter()
        asyncio.run(arun(exp, run_id=run_id, store=self.store, models={POLICY: policy}))
        wall = time.perf_counter() - started
        found = {t.episode_id: t for t in trajectories(self.store, run_id, agents=[self.agent])}
        ordered = [found.get(e) for e in episode_ids]
        rows = rollout_rows(
            ordered, self.estimator, pad_id=_pad_id(trainer), drop_uniform=self.drop_uniform
        )
        generated = sum(len(turn.token_ids or []) for t in found.values() for turn in t.turns)
        self.last = RolloutStats(run_id, len(found), rows, wall, generated)
        _log_metrics(trainer, self.last)
        logprobs = [r.logprobs for r in rows]
        return {
            "prompt_ids": [r.prompt_ids for r in rows],
            "completion_ids": [r.completion_ids for r in rows],
            "logprobs": logprobs if all(lp is not None for lp in logprobs) else None,
            "env_mask": [r.env_mask for r in rows],
            "env_reward": [r.reward for r in rows],
            "episode_id": [r.episode_id for r in rows],
        }


def _pad_id(trainer: Any) -> int:
    tokenizer = trainer.processing_class
    pad = tokenizer.pad_token_id
    return int(pad if pad is not None else tokenizer.eos_token_id)


def _log_metrics(trainer: Any, stats: RolloutStats) -> None:
    metrics = getattr(trainer, "_metrics", None)
    if metrics is None:
        return
    mode = "train" if trainer.model.training else "eval"
    rows = stats.rows
    metrics[mode]["palaestra/rollout_tokens_per_s"].append(stats.tokens_per_s)
    metrics[mode]["palaestra/trained_fraction"].append(
        sum(r.trained for r in rows) / len(rows) if rows else 0.0
    )
    metrics[mode]["palaestra/dropped_turns"].append(float(sum(r.dropped_turns for r in rows)))


# -- the trainer --------------------------------------------------------------------------

_TRAINER_CLASS: type | None = None


def trainer_class() -> type:
    """`PalaestraGRPOTrainer`: TRL's `GRPOTrainer` whose advantages, when its rollout
    function is a `PalaestraRollout` with `advantages="palaestra"`, are palaestra's."""
    global _TRAINER_CLASS
    if _TRAINER_CLASS is not None:
        return _TRAINER_CLASS
    import torch
    from trl import GRPOTrainer

    class PalaestraGRPOTrainer(GRPOTrainer):
        """GRPOTrainer with palaestra's advantages (see `palaestra.train._trl`)."""

        def _generate_and_score_completions(self, inputs: Any) -> Any:
            output = super()._generate_and_score_completions(inputs)
            rollout = self.rollout_func
            if isinstance(rollout, PalaestraRollout) and rollout.advantages == "palaestra":
                values = rollout.last.advantages
                current = output["advantages"]
                if len(values) != current.shape[0]:
                    raise RuntimeError(
                        f"{len(values)} palaestra advantages for {current.shape[0]} rollouts"
                    )
                output["advantages"] = torch.tensor(
                    values, dtype=current.dtype, device=current.device
                )
            return output

    _TRAINER_CLASS = PalaestraGRPOTrainer
    return PalaestraGRPOTrainer


def grpo_trainer(
    model: Any,
    tokenizer: Any,
    rollout: PalaestraRollout,
    args: Any,
    *,
    train_dataset: Any | None = None,
    **kwargs: Any,
) -> Any:
    """A `PalaestraGRPOTrainer` over `model` (a transformers causal LM), with `rollout`
    as its rollout function, `env_reward` as its reward and, by default, the rollout's
    task instances as its dataset. `args` is a `trl.GRPOConfig`; its `num_generations` is
    G, the rollouts per task instance."""
    import os

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    dataset = train_dataset if train_dataset is not None else task_dataset(rollout.experiment)
    cls = trainer_class()
    return cls(
        model=model,
        reward_funcs=[env_reward],
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        rollout_func=rollout,
        **kwargs,
    )
