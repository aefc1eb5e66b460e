"""Batch filters applied to trajectories before advantages are estimated.

- `drop_masked`: leave out episodes the environment or platform failed (REFERENCE.md:
  masked out of training, not counted as reward 0) and those with no reward;
- `drop_uniform_groups`: leave out groups whose rewards are all equal (their GRPO
  advantages are all 0: no signal, only noise in the loss normalisation);
- `resample_on_correct`: GRPO-RoC (rStar2-Agent): from an oversampled group (2× the
  rollouts), drop all-equal groups, keep half the negatives uniformly at random and the
  half of the positives with the lowest penalty p = p_err + p_fmt
  (`Trajectory.penalty`), so the positives the policy learns from are the clean ones.

Every filter keeps the input order of what it keeps; randomness (which negatives
survive) is drawn from `derive_rng(seed, group key, "", "resample_on_correct")`, so the
same trajectories and seed keep the same ones, whatever the order of the groups.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from palaestra.core import UserError, derive_rng
from palaestra.train._trajectory import GROUP_KEY_FIELDS, RewardSource, Trajectory

DEFAULT_GROUP_BY: tuple[str, ...] = ("job", "task", "seed")
"""Rollouts of the same task instance: what GRPO compares (the epochs are the G samples)."""

UNIFORM_TOL = 1e-9
"""Rewards closer than this count as equal."""


def check_group_by(group_by: Sequence[str]) -> tuple[str, ...]:
    """Validate grouping fields (a `UserError` naming the valid ones)."""
    bad = [f for f in group_by if f not in GROUP_KEY_FIELDS]
    if bad:
        raise UserError(
            f"unknown group field(s) {bad}; valid choices: {', '.join(GROUP_KEY_FIELDS)}"
        )
    return tuple(group_by)


def group_key(trajectory: Trajectory, group_by: Sequence[str]) -> tuple[object, ...]:
    """The values of `group_by`'s fields for this trajectory."""
    return tuple(getattr(trajectory.key, f) for f in group_by)


def group_trajectories(
    trajectories: Sequence[Trajectory], group_by: Sequence[str] = DEFAULT_GROUP_BY
) -> dict[tuple[object, ...], list[int]]:
    """Indices of the trajectories in each group, groups in order of first appearance."""
    fields = check_group_by(group_by)
    groups: dict[tuple[object, ...], list[int]] = {}
    for index, trajectory in enumerate(trajectories):
        groups.setdefault(group_key(trajectory, fields), []).append(index)
    return groups


def drop_masked(
    trajectories: Sequence[Trajectory], *, reward: RewardSource = "score"
) -> list[Trajectory]:
    """Trajectories fit for training: not an environment/platform failure, and with a
    reward under `reward` (`score` needs the environment's score)."""
    return [t for t in trajectories if not t.masked and (reward != "score" or t.reward is not None)]


def _uniform(values: Sequence[float]) -> bool:
    return max(values) - min(values) <= UNIFORM_TOL


def drop_uniform_groups(
    trajectories: Sequence[Trajectory],
    *,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    reward: RewardSource = "score",
) -> list[Trajectory]:
    """Leave out every group whose rewards are all equal (a group of one included)."""
    keep: set[int] = set()
    for members in group_trajectories(trajectories, group_by).values():
        values = [trajectories[i].value(reward) for i in members]
        if not _uniform(values):
            keep.update(members)
    return [t for i, t in enumerate(trajectories) if i in keep]


def resample_on_correct(
    trajectories: Sequence[Trajectory],
    *,
    group_by: Sequence[str] = DEFAULT_GROUP_BY,
    keep: int | None = None,
    seed: int = 0,
    reward: RewardSource = "score",
    correct: Callable[[Trajectory], bool] | None = None,
) -> list[Trajectory]:
    """GRPO-RoC: downsample each oversampled group to `keep` rollouts (default: half the
    group, as when 2× the group size was sampled).

    Per group: a group whose rewards are all equal is dropped. The rest is split into
    positives (`correct(t)`, default: the episode's score says solved, else reward > 0)
    and negatives. Of the `keep` slots, the positives get their share of the group
    rounded half up — `round(n_pos · keep / n)`, at least 1 and at most keep − 1 so that
    both kinds remain — and the negatives the rest (at most their count; then the
    positives take the remaining slots). Negatives are drawn uniformly at random (seeded
    per group); positives are those with the lowest `Trajectory.penalty` (ties: by
    episode id). The choice does not depend on the order of the input.
    """
    is_correct = correct or _default_correct(reward)

    def by_id(i: int) -> tuple[str, str]:  # the draw must not depend on the input order
        return trajectories[i].episode_id, trajectories[i].agent

    def by_penalty(i: int) -> tuple[float, str, str]:
        return (trajectories[i].penalty, *by_id(i))

    chosen: set[int] = set()
    for key, members in group_trajectories(trajectories, group_by).items():
        values = [trajectories[i].value(reward) for i in members]
        if _uniform(values):
            continue
        n = len(members)
        target = keep if keep is not None else n // 2
        if target < 2:
            raise UserError(
                f"resample_on_correct: a group of {n} rollouts kept to {target}; keep at "
                "least 2 per group (sample 2× the group size, G >= 2)"
            )
        positives = [i for i in members if is_correct(trajectories[i])]
        negatives = [i for i in members if not is_correct(trajectories[i])]
        if not positives or not negatives:  # unequal rewards, one kind: keep by penalty
            chosen.update(sorted(members, key=by_penalty)[:target])
            continue
        target = min(target, n)
        n_pos = int(len(positives) * target / n + 0.5)
        n_pos = min(max(n_pos, 1), target - 1, len(positives))
        n_neg = min(target - n_pos, len(negatives))
        n_pos = min(target - n_neg, len(positives))
        rng = derive_rng(seed, "/".join(map(str, key)), "", "resample_on_correct")
        chosen.update(rng.sample(sorted(negatives, key=by_id), n_neg))
        chosen.update(sorted(positives, key=by_penalty)[:n_pos])
    return [t for i, t in enumerate(trajectories) if i in chosen]


def _default_correct(reward: RewardSource) -> Callable[[Trajectory], bool]:
    def correct(t: Trajectory) -> bool:
        if reward == "score" and t.success is not None:
            return t.success
        return t.value(reward) > 0

    return correct
