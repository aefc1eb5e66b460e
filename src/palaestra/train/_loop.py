"""The local training loop: rollouts are ordinary palaestra runs, the update is PyTorch.

Launch (the experiment's `train:` block is a `TrainConfig`):

    palaestra train examples/train/arith.yaml            # or --steps N, --resume

Each training step, top to bottom:

1. rollouts: run the experiment's jobs with the policy as the model of the LLM
   operators (`models.<train.model>`), the step's seeds × G epochs, the horizon from the
   schedule — an ordinary run in the store (`<train id>-r0007`);
2. trajectories from the stored log (token ids and logprobs as the policy recorded them);
3. filters + advantages (`make_batch`: masking, resample-on-correct, all-equal groups,
   the configured estimator);
4. the clipped policy-gradient update (+ KL to the frozen initial policy), AdamW;
5. log the step (reward mean/std, success, loss, KL, rollout tokens/s, s/update) to
   `curve.jsonl` in the checkpoint folder;
6. every `eval_every` steps, evaluate on the held-out seeds (`<train id>-e0010`);
7. every `checkpoint_every` steps, save model + optimizer + config + step + RNG;
   `resume=True` continues from the latest checkpoint, giving the same continuation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from palaestra.core import ConfigError, UserError, atomic_directory, atomic_write, derive_seed
from palaestra.models import TorchPolicy
from palaestra.runtime import Experiment, arun, load_experiment
from palaestra.runtime._experiment import LLMOperatorConfig, ModelConfig
from palaestra.runtime._systems_build import iter_configs
from palaestra.store import Store
from palaestra.train._batch import make_batch
from palaestra.train._config import TrainConfig, train_config
from palaestra.train._schedule import with_max_steps
from palaestra.train._torch_backend import (
    make_optimizer,
    read_checkpoint,
    restore,
    save_checkpoint,
    update,
)
from palaestra.train._trajectory import trajectories

CURVE_FILE = "curve.jsonl"


@dataclass
class EvalResult:
    """Success and mean score of the policy on the held-out seeds at one step."""

    step: int
    run_id: str
    success_rate: float
    score_mean: float
    episodes: int


@dataclass
class TrainResult:
    """What `train` returns."""

    train_id: str
    checkpoint_dir: Path
    curve: list[dict[str, Any]]
    """One record per training step (this call's and, on resume, the earlier ones)."""
    evals: list[EvalResult] = field(default_factory=list)
    """Evaluations of this call (the first is `before` on a fresh start)."""

    @property
    def curve_path(self) -> Path:
        return self.checkpoint_dir / CURVE_FILE


def rollout_experiment(
    exp: Experiment,
    config: TrainConfig,
    *,
    seeds: list[int],
    epochs: int,
    temperature: float,
    max_steps: int | None,
) -> Experiment:
    """The experiment of one rollout (or evaluation) run: every job on `seeds` × `epochs`,
    the trained model sampling at `temperature` with the policy's reply length."""
    jobs = [job.model_copy(update={"seeds": list(seeds), "epochs": epochs}) for job in exp.jobs]
    models = dict(exp.models)
    base = models.get(config.model, ModelConfig(spec="torch:policy"))
    models[config.model] = base.model_copy(
        update={
            "temperature": temperature,
            "top_p": config.top_p if temperature > 0 else None,
            "max_tokens": config.max_new_tokens,
        }
    )
    out = exp.model_copy(update={"jobs": jobs, "models": models, "train": None})
    return with_max_steps(out, max_steps) if max_steps is not None else out


def check_experiment(exp: Experiment, config: TrainConfig) -> None:
    """Configuration errors visible before any rollout: the trained model is declared and
    used, and no operator overrides its sampling (the logprobs must be at the
    temperature the loss uses)."""
    if config.model not in exp.models:
        known = ", ".join(sorted(exp.models)) or "(none)"
        raise ConfigError(
            f"train.model: {config.model!r} is not under `models:` ({known}); declare the "
            "trained model there and use it as the LLM operators' model"
        )
    used = False
    for index, job in enumerate(exp.jobs):
        roots = [(f"jobs.{index}.operator", job.operator)]
        roots += [(f"jobs.{index}.agents.{a}", op) for a, op in job.agents.items()]
        for root, config_root in roots:
            for path, op in iter_configs(config_root, root):
                if isinstance(op, LLMOperatorConfig) and op.model == config.model:
                    used = True
                    if op.temperature is not None or op.max_tokens is not None:
                        raise ConfigError(
                            f"{path}: an operator of the trained model sets its own "
                            "temperature/max_tokens; set train.temperature and "
                            "train.max_new_tokens instead"
                        )
    if not used:
        raise ConfigError(
            f"train.model: no LLM operator of any job uses model {config.model!r}: nothing "
            "would be trained"
        )


def load_train_policy(exp: Experiment, config: TrainConfig) -> TorchPolicy:
    """The policy named by `train.policy`, else by the trained model's spec."""
    from palaestra.models import load_policy

    spec = config.policy or exp.models[config.model].spec
    prefix, _, rest = spec.partition(":")
    if prefix != "torch":
        raise ConfigError(
            f"train.policy: {spec!r} is not a torch policy; use torch:smollm2-135m or "
            "torch:PATH (a saved model or checkpoint)"
        )
    return load_policy(rest, max_new_tokens=config.max_new_tokens, max_batch=config.max_batch)


def _mean_std(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    return statistics.fmean(values), statistics.pstdev(values)


def train(
    experiment: Experiment | str | Path | dict[str, Any],
    *,
    config: TrainConfig | None = None,
    store: Store | str | Path | None = None,
    policy: TorchPolicy | None = None,
    steps: int | None = None,
    resume: bool = False,
    log: Callable[[str], None] | None = print,
) -> TrainResult:
    """Train the experiment's policy (module doc); returns the curve and evaluations.

    `config` defaults to the experiment's `train:` block; `policy` is a ready
    `TorchPolicy` (default: loaded from `train.policy` or the trained model's spec);
    `steps` overrides `train.steps` (the total, counting resumed steps); `log` gets one
    line per step and evaluation (None: silent).
    """
    import torch

    # -- 0. setup: config, policy, optimizer, reference, resume ---------------------------
    path = experiment if isinstance(experiment, (str, Path)) else None
    exp = load_experiment(experiment)
    if config is None:
        if path is not None:
            from palaestra.train._config import train_config_from_file

            config = train_config_from_file(path)
        else:
            config = train_config(exp.train)
    if steps is not None:  # an override (--steps) is checked with the whole config
        try:
            config = dataclasses.replace(config, steps=steps)
        except ValueError as exc:
            problem = f"steps {steps} (--steps) does not fit the train config: {exc}"
            raise UserError(problem) from exc
    check_experiment(exp, config)
    say = log or (lambda _line: None)
    if config.threads:
        torch.set_num_threads(config.threads)
    seed = exp.seed if config.seed is None else config.seed
    torch.manual_seed(seed)
    root = Path(config.checkpoint_dir)
    root.mkdir(parents=True, exist_ok=True)
    if policy is None:
        say(f"loading policy {config.policy or exp.models[config.model].spec} ...")
        policy = load_train_policy(exp, config)
    policy.max_new_tokens = config.max_new_tokens
    optimizer = make_optimizer(policy, config)
    own_store = not isinstance(store, Store)
    db = store if isinstance(store, Store) else Store(store or "runs/palaestra.db")
    start = 0
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    train_id = f"{exp.name}-train-{stamp}-{secrets.token_hex(2)}"
    curve: list[dict[str, Any]] = []
    if resume:
        checkpoint = read_checkpoint(root)
        restore(checkpoint, policy, optimizer)
        start, train_id = checkpoint.step, str(checkpoint.state["train_id"])
        curve = [r for r in _read_curve(root) if r["step"] <= start]
        say(f"resumed {train_id} at step {start} from {checkpoint.path}")
    _write_curve(root, curve)
    reference = None
    if config.kl_coef > 0:
        reference = _reference(policy, root, fresh=not resume)
    result = TrainResult(train_id, root, curve)

    def evaluate(step: int) -> EvalResult:
        run = _run(
            exp,
            config,
            policy,
            db,
            f"{train_id}-e{step:04d}",
            seeds=config.eval_seed_list(),
            epochs=1,
            temperature=config.eval_temperature,
            max_steps=_horizon(config, step),
        )
        scores = [e.score or 0.0 for e in run.episodes if e.status == "finished"]
        found = EvalResult(step, run.run_id, run.success_rate, _mean_std(scores)[0], len(scores))
        say(
            f"eval  step {step:4d}  success {found.success_rate:.3f}  score {found.score_mean:.3f}"
            f"  ({found.episodes} held-out episodes, run {run.run_id})"
        )
        result.evals.append(found)
        return found

    try:
        if start == 0:
            evaluate(0)
        for step in range(start, config.steps):
            # -- 1. rollouts: an ordinary run with the policy as the model -----------------
            tokens_before, gen_before = policy.generated_tokens, policy.generation_s
            t0 = time.perf_counter()
            run = _run(
                exp,
                config,
                policy,
                db,
                f"{train_id}-r{step:04d}",
                seeds=config.step_seeds(step),
                epochs=config.group_size * (2 if config.resample else 1),
                temperature=config.temperature,
                max_steps=_horizon(config, step),
            )
            rollout_s = time.perf_counter() - t0
            generated = policy.generated_tokens - tokens_before
            gen_s = policy.generation_s - gen_before
            # -- 2. trajectories from the stored log ----------------------------------------
            trajs = [
                t
                for t in trajectories(db, run.run_id)
                if t.has_tokens and all(turn.model == policy.name for turn in t.turns)
            ]
            rewards = [t.reward or 0.0 for t in trajs if not t.masked]
            solved = [bool(t.success) for t in trajs if not t.masked]
            # -- 3. filters + advantages ---------------------------------------------------
            batch = make_batch(
                trajs,
                config.estimator_config(),
                drop_uniform=config.drop_uniform,
                resample=config.resample,
                resample_keep=config.group_size if config.resample else None,
                seed=derive_seed(seed, train_id, "", f"batch/{step}"),
            )
            # -- 4. clipped policy-gradient update (+ KL), AdamW ----------------------------
            stats = update(policy, optimizer, batch.samples(), config, reference=reference)
            # -- 5. log the step -------------------------------------------------------------
            reward_mean, reward_std = _mean_std(rewards)
            record = {
                "step": step + 1,
                "reward_mean": reward_mean,
                "reward_std": reward_std,
                "success_rate": sum(solved) / len(solved) if solved else 0.0,
                "episodes": len(rewards),
                "kept": len(batch.trajectories),
                "groups": len(batch.groups()),
                "loss": stats.loss,
                "kl": stats.kl,
                "clip_frac": stats.clip_frac,
                "grad_norm": stats.grad_norm,
                "tokens_trained": stats.tokens,
                "rollout_tokens": generated,
                "rollout_tokens_per_s": generated / gen_s if gen_s else 0.0,
                "rollout_s": rollout_s,
                "update_s": stats.seconds,
                "horizon": _horizon(config, step),
                "run_id": run.run_id,
            }
            curve.append(record)
            _append_curve(root, record)
            say(
                f"step {step + 1:4d}  reward {reward_mean:.3f} ± {reward_std:.3f}  "
                f"success {record['success_rate']:.3f}  loss {stats.loss:+.4f}  kl {stats.kl:.4f}  "
                f"kept {len(batch.trajectories)}/{len(trajs)}  rollout {generated} tok "
                f"{record['rollout_tokens_per_s']:.1f} tok/s  update {stats.seconds:.1f}s"
            )
            done = step + 1
            # -- 6. eval every N steps on held-out seeds -----------------------------------
            if config.eval_every and done % config.eval_every == 0 and done < config.steps:
                evaluate(done)
            # -- 7. checkpoint every N steps (and at the end) ------------------------------
            every = config.checkpoint_every
            if done == config.steps or (every and done % every == 0):
                save_checkpoint(
                    root,
                    step=done,
                    policy=policy,
                    optimizer=optimizer,
                    config=config,
                    state={"train_id": train_id, "seed": seed},
                )
        if config.steps > start or not result.evals:
            evaluate(config.steps)
    finally:
        if own_store:
            db.close()
    return result


def _horizon(config: TrainConfig, step: int) -> int | None:
    schedule = config.horizon()
    return schedule.max_steps(step) if schedule is not None else None


def _run(
    exp: Experiment,
    config: TrainConfig,
    policy: TorchPolicy,
    db: Store,
    run_id: str,
    *,
    seeds: list[int],
    epochs: int,
    temperature: float,
    max_steps: int | None,
) -> Any:
    rollout = rollout_experiment(
        exp, config, seeds=seeds, epochs=epochs, temperature=temperature, max_steps=max_steps
    )
    policy.prompts.clear()  # conversations never span runs: same prompts after a resume
    return asyncio.run(arun(rollout, run_id=run_id, store=db, models={config.model: policy}))


def _reference(policy: TorchPolicy, root: Path, *, fresh: bool) -> Any:
    """A frozen copy of the initial policy; saved once under `reference/` so that a
    resumed run keeps the same reference."""
    import copy

    from palaestra.models import load_pretrained

    folder = root / "reference"
    if fresh or not (folder / "config.json").exists():
        reference = copy.deepcopy(policy.model)
        with atomic_directory(folder) as tmp:  # config.json is there only with the weights
            reference.save_pretrained(tmp)
    else:
        reference, _ = load_pretrained(folder)
    reference.eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    return reference


def _read_curve(root: Path) -> list[dict[str, Any]]:
    path = root / CURVE_FILE
    if not path.exists():
        return []
    return _curve_records(path.read_text())


def _curve_records(text: str) -> list[dict[str, Any]]:
    """The records of a curve file's text. A last line without its newline is a record
    whose append a crash cut off (steps are appended one line at a time): it is dropped."""
    lines = text.split("\n")
    return [json.loads(line) for line in lines[:-1] if line.strip()]


def _write_curve(root: Path, records: list[dict[str, Any]]) -> None:
    with atomic_write(root / CURVE_FILE, make_parents=True) as fp:
        fp.write("".join(json.dumps(r) + "\n" for r in records))


def _append_curve(root: Path, record: dict[str, Any]) -> None:
    with (root / CURVE_FILE).open("a") as f:
        f.write(json.dumps(record) + "\n")


def read_curve(path: str | Path) -> list[dict[str, Any]]:
    """The records of a curve file (or of a checkpoint folder's `curve.jsonl`)."""
    path = Path(path)
    if path.is_dir():
        path = path / CURVE_FILE
    if not path.exists():
        raise UserError(f"no curve file {path} (palaestra train writes {CURVE_FILE} there)")
    try:  # a file the user names: every problem is theirs, with its line
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); not a curve file") from None
    records: list[dict[str, Any]] = []
    for number, line in enumerate(text.split("\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            record = None
        numbers = (
            isinstance(record, dict)
            and isinstance(record.get("step"), int | float)
            and all(
                isinstance(record[k], int | float) and not isinstance(record[k], bool)
                for k in _CURVE_NUMBERS
                if k in record
            )
        )
        if not numbers:
            raise UserError(
                f"{path}:{number}: not a curve record (a JSON object with a numeric `step`, "
                f"as palaestra train writes to {CURVE_FILE})"
            )
        records.append(record)
    return records


_CURVE_NUMBERS = ("step", "reward_mean", "success_rate", "score_mean")


def learning_curves(
    records: list[dict[str, Any]], keys: tuple[str, ...] = ("reward_mean", "success_rate")
) -> dict[str, list[tuple[float, float]]]:
    """Named (step, value) series for `palaestra report`'s learning-curve plot."""
    return {k: [(float(r["step"]), float(r[k])) for r in records if k in r] for k in keys}
