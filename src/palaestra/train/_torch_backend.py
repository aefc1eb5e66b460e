"""The local PyTorch backend: the clipped policy-gradient update and checkpoints.

The loss of one batch (`policy_loss`), per generated token t (loss mask 1) with
advantage A_t, sampling log-probability old_t (recorded by the policy when it sampled)
and log-probability new_t under the current weights, at the sampling temperature:

    ratio_t = exp(new_t − old_t)
    L_pg    = − Σ_t min(ratio_t · A_t, clip(ratio_t, 1 − ε, 1 + ε) · A_t) / N
    L_kl    = β · Σ_t (exp(ref_t − new_t) − (ref_t − new_t) − 1) / N      (k3 estimator)

N is the number of generated tokens in the whole batch (a token-level mean, as DAPO and
Dr. GRPO recommend: long replies do not weigh less per token), ref_t the log-probability
under the frozen initial policy (only when β = `kl_coef` > 0). Sequences go through the
model `micro_batch` at a time; gradients accumulate, then one AdamW step (after clipping
the gradient norm).

A checkpoint is a folder `step-NNNNNN/` with `model/` (weights + tokenizer, loadable as
`torch:PATH`), `optimizer.pt`, and `state.json` (step, the training config, the run ids,
the RNG states): everything needed to continue exactly where it stopped.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from palaestra.core import atomic_directory
from palaestra.models import STEP_DIR, TorchPolicy, latest_checkpoint, save_policy
from palaestra.train._batch import Sample
from palaestra.train._config import TrainConfig, config_from_json


@dataclass
class UpdateStats:
    """What one update did (logged per training step)."""

    loss: float = 0.0
    """The total loss (policy gradient + KL) of the batch."""
    pg_loss: float = 0.0
    kl: float = 0.0
    """Mean k3 KL estimate to the reference per generated token (0 without one)."""
    clip_frac: float = 0.0
    """Share of generated tokens whose ratio was clipped."""
    ratio_mean: float = 1.0
    grad_norm: float = 0.0
    """Gradient norm before clipping (of the last PPO epoch)."""
    sequences: int = 0
    tokens: int = 0
    """Generated (trained-on) tokens."""
    seconds: float = 0.0


def _pad(samples: Sequence[Sample], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors of a micro-batch."""
    import torch

    width = max(len(s.input_ids) for s in samples)
    n = len(samples)
    ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention = torch.zeros((n, width), dtype=torch.long)
    mask = torch.zeros((n, width))
    adv = torch.zeros((n, width))
    old = torch.zeros((n, width))
    has_old = torch.zeros((n, 1))
    for i, s in enumerate(samples):
        k = len(s.input_ids)
        ids[i, :k] = torch.tensor(s.input_ids, dtype=torch.long)
        attention[i, :k] = 1
        mask[i, :k] = torch.tensor(s.loss_mask, dtype=torch.float)
        adv[i, :k] = torch.tensor(s.advantages)
        if s.old_logprobs is not None:
            old[i, :k] = torch.tensor(s.old_logprobs)
            has_old[i] = 1.0
    # the loss at position t is about token t, predicted from positions < t
    return {
        "ids": ids,
        "attention": attention,
        "mask": mask[:, 1:],
        "adv": adv[:, 1:],
        "old": old[:, 1:],
        "has_old": has_old,
    }


def token_logprobs(model: Any, ids: Any, attention: Any, temperature: float) -> Any:
    """log p(token t | tokens < t) at `temperature`, for t = 1..L−1 ((B, L−1))."""
    import torch

    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1, :].float()
    logp = torch.log_softmax(logits / (temperature if temperature > 0 else 1.0), dim=-1)
    return logp.gather(2, ids[:, 1:].unsqueeze(2)).squeeze(2)


def policy_loss(
    new: Any, old: Any, adv: Any, mask: Any, *, clip: float, n_tokens: int
) -> tuple[Any, dict[str, float]]:
    """The clipped surrogate loss summed over masked tokens / `n_tokens` (module doc)."""
    import torch

    ratio = torch.exp(new - old)
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * adv
    per_token = -torch.minimum(unclipped, clipped)
    loss = (per_token * mask).sum() / n_tokens
    with torch.no_grad():
        was_clipped = ((ratio - 1.0).abs() > clip).float()
        stats = {
            "clipped": float((was_clipped * mask).sum()),
            "ratio_sum": float((ratio * mask).sum()),
        }
    return loss, stats


def update(
    policy: TorchPolicy,
    optimizer: Any,
    samples: Sequence[Sample],
    config: TrainConfig,
    *,
    reference: Any = None,
) -> UpdateStats:
    """One training update on `samples` (module doc): `ppo_epochs` passes of
    micro-batches, one AdamW step per pass."""
    import time

    import torch

    started = time.perf_counter()
    stats = UpdateStats(sequences=len(samples))
    n_tokens = sum(sum(s.loss_mask[1:]) for s in samples)
    if not samples or n_tokens == 0:
        return stats
    stats.tokens = n_tokens
    model = policy.model
    model.train()
    parameters = [p for p in model.parameters() if p.requires_grad]
    for _ in range(max(config.ppo_epochs, 1)):
        optimizer.zero_grad(set_to_none=True)
        total = pg_total = kl_total = clipped = ratio_sum = 0.0
        for start in range(0, len(samples), config.micro_batch):
            part = _pad(samples[start : start + config.micro_batch], policy.pad_id)
            new = token_logprobs(model, part["ids"], part["attention"], config.temperature)
            # without recorded logprobs the update is on-policy: ratio 1
            old = torch.where(part["has_old"] > 0, part["old"], new.detach())
            loss, info = policy_loss(
                new, old, part["adv"], part["mask"], clip=config.clip, n_tokens=n_tokens
            )
            pg_total += float(loss.detach())
            if reference is not None and config.kl_coef > 0:
                with torch.no_grad():
                    ref = token_logprobs(
                        reference, part["ids"], part["attention"], config.temperature
                    )
                delta = ref - new
                kl = ((torch.exp(delta) - delta - 1.0) * part["mask"]).sum() / n_tokens
                kl_total += float(kl.detach())
                loss = loss + config.kl_coef * kl
            loss.backward()
            total += float(loss.detach())
            clipped += info["clipped"]
            ratio_sum += info["ratio_sum"]
        if config.grad_clip > 0:
            norm = torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip)
        else:
            norm = torch.linalg.vector_norm(
                torch.stack([p.grad.norm() for p in parameters if p.grad is not None])
            )
        optimizer.step()
        stats.loss, stats.pg_loss, stats.kl = total, pg_total, kl_total
        stats.clip_frac = clipped / n_tokens
        stats.ratio_mean = ratio_sum / n_tokens
        stats.grad_norm = float(norm)
    optimizer.zero_grad(set_to_none=True)
    model.eval()
    stats.seconds = time.perf_counter() - started
    return stats


def make_optimizer(policy: TorchPolicy, config: TrainConfig) -> Any:
    import torch

    return torch.optim.AdamW(
        [p for p in policy.model.parameters() if p.requires_grad],
        lr=config.lr,
        betas=(float(config.betas[0]), float(config.betas[1])),
        weight_decay=config.weight_decay,
    )


# -- checkpoints ------------------------------------------------------------------------


def save_checkpoint(
    folder: str | Path,
    *,
    step: int,
    policy: TorchPolicy,
    optimizer: Any,
    config: TrainConfig,
    state: dict[str, Any],
) -> Path:
    """Write `folder/step-NNNNNN/` and prune old ones. The folder is filled under a
    temporary name, fsync'd and renamed (`palaestra.core.atomic_directory`), so a crash
    never leaves a half checkpoint that resume would pick."""
    import torch

    root = Path(folder)
    final = root / f"step-{step:06d}"
    with atomic_directory(final) as tmp:
        save_policy(policy, tmp / "model")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        record = {
            "step": step,
            "config": config.to_json(),
            **state,
            "rng": {"python": random.getstate()[1][:1], "torch": torch.get_rng_state().tolist()},
        }
        (tmp / "state.json").write_text(json.dumps(record, indent=1))
    if config.keep_checkpoints > 0:
        steps = sorted(
            (int(m.group(1)), p)
            for p in root.iterdir()
            if p.is_dir() and (m := STEP_DIR.match(p.name))
        )
        for _, old in steps[: -config.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)
    return final


@dataclass
class Checkpoint:
    """A checkpoint read back: its folder, step, config and saved state."""

    path: Path
    step: int
    config: TrainConfig
    state: dict[str, Any]


def read_checkpoint(path: str | Path) -> Checkpoint:
    """The state of a step folder, or of the latest one under a checkpoint folder."""
    path = Path(path)
    if not (path / "state.json").exists():
        latest = latest_checkpoint(path)
        if latest is None:
            from palaestra.core import UserError

            raise UserError(f"no checkpoint under {path} (expected step-N/ folders)")
        path = latest
    state = json.loads((path / "state.json").read_text())
    return Checkpoint(path, int(state["step"]), config_from_json(state["config"]), state)


def restore(checkpoint: Checkpoint, policy: TorchPolicy, optimizer: Any) -> None:
    """Load the checkpoint's weights into `policy` and its optimizer state, and the
    torch RNG state."""
    import torch
    from safetensors.torch import load_file

    folder = checkpoint.path / "model"
    weights: dict[str, Any] = {}
    for file in sorted(folder.glob("*.safetensors")):
        weights.update(load_file(str(file)))
    missing, unexpected = policy.model.load_state_dict(weights, strict=False)
    # tied embeddings are saved once: only those may be missing
    missing = [k for k in missing if "lm_head" not in k]
    if missing or unexpected:
        raise RuntimeError(
            f"checkpoint {checkpoint.path} does not fit the policy: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    if getattr(policy.model.config, "tie_word_embeddings", False):
        policy.model.tie_weights()
    optimizer.load_state_dict(torch.load(checkpoint.path / "optimizer.pt", weights_only=True))
    rng = checkpoint.state.get("rng", {}).get("torch")
    if rng is not None:
        torch.set_rng_state(torch.tensor(rng, dtype=torch.uint8))
