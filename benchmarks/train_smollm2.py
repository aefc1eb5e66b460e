"""SmolLM2-135M-Instruct learning arithmetic answers by GRPO on the CPU.

    .venv/bin/python benchmarks/train_smollm2.py [--steps 60] [--threads 2]

Runs `palaestra train` on examples/train/arith.yaml (the local PyTorch backend: rollouts
are ordinary palaestra runs with the policy as the LLM operator's model, G = 8 per
question, a clipped policy-gradient update per step) in a temporary store and checkpoint
folder, then prints the learning curve (reward mean ± std and success of each step's
rollouts), the held-out success before and after (greedy, 32 unseen questions), rollout
tokens/s and update s/step, with the machine's load average, since the 2 cores may be
shared. Not run by `make test` (10-20 minutes).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--experiment", default=str(ROOT / "examples/train/arith.yaml"))
    parser.add_argument("--eval-every", type=int, default=20)
    args = parser.parse_args()

    import dataclasses

    import torch

    from palaestra.runtime import Experiment
    from palaestra.train import train, train_config_from_file

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="palaestra-train-"))
    exp = Experiment.from_yaml(args.experiment)
    config = dataclasses.replace(
        train_config_from_file(args.experiment),
        steps=args.steps,
        eval_every=args.eval_every,
        checkpoint_dir=str(work / "checkpoints"),
        checkpoint_every=0,
    )
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; work dir {work}"
    )
    started = time.perf_counter()
    result = train(exp, config=config, store=work / "runs.db", log=print)
    wall = time.perf_counter() - started

    curve = result.curve
    print(
        "\nlearning curve (rollouts of each step, temperature "
        f"{config.temperature}, G = {config.group_size} x {config.prompts_per_step} questions)"
    )
    print(" step  reward_mean  reward_std  success  rollout_tok/s  update_s")
    for r in curve:
        print(
            f" {r['step']:4d}  {r['reward_mean']:11.3f}  {r['reward_std']:10.3f}  "
            f"{r['success_rate']:7.3f}  {r['rollout_tokens_per_s']:13.1f}  {r['update_s']:8.2f}"
        )
    k = max(1, len(curve) // 6)
    head, tail = curve[:k], curve[-k:]

    def mean(rows: list[dict[str, float]], key: str) -> float:
        return statistics.fmean(r[key] for r in rows)

    print(
        f"\nfirst {k} steps: reward {mean(head, 'reward_mean'):.3f} (spread within a step "
        f"{mean(head, 'reward_std'):.3f}), success {mean(head, 'success_rate'):.3f}"
    )
    print(
        f"last  {k} steps: reward {mean(tail, 'reward_mean'):.3f}, success "
        f"{mean(tail, 'success_rate'):.3f}"
    )
    before, after = result.evals[0], result.evals[-1]
    print(
        f"held-out ({before.episodes} unseen questions, greedy): success "
        f"{before.success_rate:.3f} -> {after.success_rate:.3f}, score "
        f"{before.score_mean:.3f} -> {after.score_mean:.3f}"
    )
    tokens = sum(r["rollout_tokens"] for r in curve)
    gen_s = sum(
        r["rollout_tokens"] / r["rollout_tokens_per_s"] for r in curve if r["rollout_tokens_per_s"]
    )
    print(
        f"rollouts: {tokens} tokens, {tokens / gen_s if gen_s else 0:.1f} tokens/s (batched "
        f"generation); {mean(curve, 'rollout_s'):.1f} s per step's rollouts"
    )
    print(
        f"update: {mean(curve, 'update_s'):.2f} s/step; wall {wall / 60:.1f} min for "
        f"{len(curve)} steps; load average now {os.getloadavg()[0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
