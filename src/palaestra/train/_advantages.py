"""Advantage estimators as small pure functions over lists of floats.

Each function computes the advantages of one *group* (the rollouts compared with each
other: the G episodes of one task, or every invocation of one agent in them). Groups are
formed by `palaestra.train.compute_advantages`, which applies these to trajectories.

Conventions, chosen to match verl (REFERENCE.md, "RL credit assignment"):
- ε defaults to 1e-6 (verl; TRL uses 1e-4): `eps=` changes it;
- the standard deviation is the *sample* one (divisor n − 1, `torch.std`'s default,
  what verl uses); `unbiased=False` gives the population one (divisor n);
- a group with no spread (one rollout, or all rewards equal) gets advantages of exactly
  0 (where `torch.std` would give NaN for one rollout, and rounding / ε noise for equal
  floats).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

DEFAULT_EPS = 1e-6
"""ε added to the group's standard deviation (verl's default)."""


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def group_std(values: Sequence[float], *, unbiased: bool = True) -> float:
    """Standard deviation of `values`: sqrt(Σ (x − mean)² / (n − 1)) (sample, the default)
    or / n (`unbiased=False`, population); 0 for fewer than two values."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = _mean(values)
    ss = sum((x - mean) ** 2 for x in values)
    return math.sqrt(ss / (n - 1 if unbiased else n))


def grpo(
    rewards: Sequence[float], *, eps: float = DEFAULT_EPS, unbiased: bool = True
) -> list[float]:
    """GRPO: A_i = (R_i − mean_g) / (std_g + ε) over the G rollouts of one group.

    mean_g and std_g are the mean and (sample, see module doc) standard deviation of the
    group's rewards R_1..R_G. The advantages have mean 0 within the group.
    """
    return _normalise(rewards, eps=eps, unbiased=unbiased)


def _normalise(values: Sequence[float], *, eps: float, unbiased: bool) -> list[float]:
    if not values or max(values) == min(values):  # all equal: exactly 0, not rounding / ε
        return [0.0] * len(values)
    mean = _mean(values)
    std = group_std(values, unbiased=unbiased)
    return [(v - mean) / (std + eps) for v in values]


def dr_grpo(rewards: Sequence[float]) -> list[float]:
    """Dr. GRPO ("GRPO done right"): A_i = R_i − mean_g, no division by the std (which
    biases updates toward groups with little spread)."""
    if not rewards or max(rewards) == min(rewards):
        return [0.0] * len(rewards)
    mean = _mean(rewards)
    return [r - mean for r in rewards]


def rloo(rewards: Sequence[float]) -> list[float]:
    """RLOO (REINFORCE leave-one-out): A_i = R_i − (1 / (G − 1)) Σ_{j≠i} R_j.

    Equivalently A_i = G / (G − 1) · (R_i − mean_g). A group of one gets 0 (no baseline).
    """
    g = len(rewards)
    if g < 2:
        return [0.0] * g
    total = sum(rewards)
    return [r - (total - r) / (g - 1) for r in rewards]


def dr_mas(
    rewards: Sequence[float],
    agents: Sequence[str],
    *,
    eps: float = DEFAULT_EPS,
    unbiased: bool = True,
) -> list[float]:
    """Dr. MAS: per-agent normalisation, A_i = (R_i − mean_k) / (std_k + ε) for an
    invocation i of agent k, where mean_k and std_k are over *every invocation of agent
    k* in the group's rollouts (a step-level count: an agent invoked three times in a
    rollout contributes that rollout's reward three times).

    `rewards[i]` is the reward credited to invocation i (usually its rollout's), and
    `agents[i]` the agent that made it. With one agent invoked once per rollout this is
    exactly `grpo`.
    """
    if len(rewards) != len(agents):
        raise ValueError(
            f"dr_mas: {len(rewards)} rewards for {len(agents)} agents; expected one agent "
            "per invocation"
        )
    out = [0.0] * len(rewards)
    for agent in dict.fromkeys(agents):
        mine = [i for i, a in enumerate(agents) if a == agent]
        values = _normalise([rewards[i] for i in mine], eps=eps, unbiased=unbiased)
        for i, value in zip(mine, values, strict=True):
            out[i] = value
    return out


def discounted_returns(rewards: Sequence[float], gamma: float = 1.0) -> list[float]:
    """Discounted returns from each step to the end: G_t = r_t + γ · G_{t+1}, G_T = 0.

    With process rewards r_t per step and the outcome reward added to the last step's
    r_{T−1}, this is the step return of ProRAG / GiGPO.
    """
    out = [0.0] * len(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def step_group_advantages(
    returns: Sequence[float],
    keys: Sequence[Hashable],
    *,
    eps: float = DEFAULT_EPS,
    unbiased: bool = True,
    scale: bool = True,
) -> list[float]:
    """GiGPO's step-level advantage: each step's return normalised within the *step
    group* of steps that share the same observation (the same anchor state) across the
    group's rollouts: A_step = (G_t − mean_s) / (std_s + ε) (`scale=False`: G_t − mean_s).

    `returns[i]` is step i's discounted return, `keys[i]` its anchor state (equal keys =
    one step group). A step whose state no other step shares gets 0 (no comparison).
    """
    if len(returns) != len(keys):
        raise ValueError(
            f"step_group_advantages: {len(returns)} returns for {len(keys)} keys; "
            "expected one key per step"
        )
    members: dict[Hashable, list[float]] = {}
    for value, key in zip(returns, keys, strict=True):
        members.setdefault(key, []).append(value)
    out = []
    for value, key in zip(returns, keys, strict=True):
        group = members[key]
        if max(group) == min(group):  # alone in its step group, or no spread
            out.append(0.0)
            continue
        centred = value - _mean(group)
        out.append(centred / (group_std(group, unbiased=unbiased) + eps) if scale else centred)
    return out


def chunk_returns(
    chunk_rewards: Sequence[float], outcome: float, gamma: float = 1.0
) -> list[float]:
    """Chunk-level credit (ROME's interaction chunks): one return per chunk, discounted
    from the end. With C chunks, process rewards r_c (0 where none) and the outcome R:

        G_c = Σ_{c' ≥ c} γ^{c' − c} r_{c'} + γ^{C − 1 − c} · R

    so the last chunk gets r_{C−1} + R and earlier chunks the outcome discounted by their
    distance from the end. Every token of chunk c shares G_c.
    """
    if not chunk_rewards:
        return []
    rewards = list(chunk_rewards)
    rewards[-1] += outcome
    return discounted_returns(rewards, gamma)
