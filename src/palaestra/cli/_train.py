"""`palaestra train EXPERIMENT.yaml [--steps N] [--resume]`: train the experiment's policy
with the local PyTorch backend (`palaestra.train.train`; the `train:` block is the
config, docs/training.md). Prints a line per step and the held-out success before and
after; the curve is written to `<checkpoint_dir>/curve.jsonl` (plot it with `palaestra
report RUN --curve <checkpoint_dir>`)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from palaestra.core import UserError


def add_train_parser(sub: Any, store_arg: Any) -> None:
    p = sub.add_parser("train", help="train the experiment's policy (local PyTorch backend)")
    p.add_argument("experiment", help="experiment YAML with a `train:` block")
    p.add_argument("--steps", type=int, help="total training steps (overrides train.steps)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    p.add_argument("--checkpoint-dir", help="overrides train.checkpoint_dir")
    store_arg(p)


def cmd_train(args: argparse.Namespace) -> int:
    from palaestra.runtime import default_store_path
    from palaestra.train import train, train_config_from_file

    config = train_config_from_file(args.experiment)
    try:  # the local backend is PyTorch: say so before any rollout runs
        import torch  # noqa: F401
    except ImportError as exc:
        raise UserError(
            f"palaestra train needs PyTorch, which cannot be imported here ({exc}); "
            "install the train extra: pip install 'palaestra[train]'"
        ) from None
    if args.checkpoint_dir:
        config = dataclasses.replace(config, checkpoint_dir=args.checkpoint_dir)
    store = Path(args.store) if args.store else default_store_path()
    store.parent.mkdir(parents=True, exist_ok=True)
    result = train(
        args.experiment, config=config, store=store, steps=args.steps, resume=args.resume
    )
    if result.evals:
        first, last = result.evals[0], result.evals[-1]
        print(
            f"held-out success {first.success_rate:.3f} (step {first.step}) -> "
            f"{last.success_rate:.3f} (step {last.step}); score {first.score_mean:.3f} -> "
            f"{last.score_mean:.3f}"
        )
    print(
        f"curve: {result.curve_path}; checkpoints: {result.checkpoint_dir} "
        f"(use the policy as torch:{result.checkpoint_dir})"
    )
    return 0
