"""Batch filters: masking, all-equal groups, resample-on-correct (GRPO-RoC)."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from palaestra.core import UserError
from palaestra.train import drop_masked, drop_uniform_groups, resample_on_correct
from tests.train.helpers import traj


def _ids(trajs):
    return [(t.task, t.key.epoch) for t in trajs]


def test_drop_masked_leaves_out_env_failures_and_missing_rewards():
    trajs = [traj(1.0), traj(0.0, failure=True, epoch=1), traj(None, epoch=2), traj(0.0, epoch=3)]
    assert _ids(drop_masked(trajs)) == [("t0", 0), ("t0", 3)]
    # the summed step rewards need no score
    assert _ids(drop_masked(trajs, reward="return")) == [("t0", 0), ("t0", 2), ("t0", 3)]


def test_drop_uniform_groups():
    trajs = [
        traj(1.0, task="same", epoch=0),
        traj(1.0, task="same", epoch=1),
        traj(1.0, task="mixed", epoch=0),
        traj(0.0, task="mixed", epoch=1),
        traj(0.5, task="alone"),
    ]
    assert _ids(drop_uniform_groups(trajs)) == [("mixed", 0), ("mixed", 1)]
    # grouping by epoch instead: every group is a single rollout, all dropped
    assert drop_uniform_groups(trajs, group_by=("epoch",)) != []  # epochs mix tasks
    assert drop_uniform_groups(trajs, group_by=("task", "epoch")) == []


def test_penalty_by_hand():
    clean = traj(1.0, tool_calls=4, tool_errors=0, answers=1)
    assert (clean.tool_error_share, clean.format_penalty, clean.penalty) == (0.0, 0.0, 0.0)
    messy = traj(1.0, turns=4, tool_calls=2, tool_errors=1, answers=3)
    assert messy.tool_error_share == 0.5
    assert messy.format_penalty == 0.5  # (3 − 1) / 4 turns
    assert messy.penalty == 1.0
    no_tools = traj(1.0, tool_calls=0, answers=1)
    assert no_tools.penalty == 0.5  # p_err = 0.5 with no tool calls
    assert traj(1.0, answers=0).format_penalty == 1.0  # missing
    assert traj(1.0, answers=2, unclosed=True).format_penalty == 1.0  # unclosed
    assert traj(1.0, turns=2, answers=9).format_penalty == 1.0  # capped at 1


def _oversampled_group(seed_order=None):
    # 2 × G = 8 rollouts: 3 positives with penalties 0.0, 1.0, 0.5 and 5 negatives
    group = [
        traj(1.0, epoch=0, tool_calls=4, tool_errors=0, answers=1),  # p = 0.0
        traj(0.0, epoch=1),
        traj(1.0, epoch=2, turns=4, tool_calls=2, tool_errors=1, answers=3),  # p = 1.0
        traj(0.0, epoch=3),
        traj(0.0, epoch=4),
        traj(1.0, epoch=5, tool_calls=0, answers=1),  # p = 0.5
        traj(0.0, epoch=6),
        traj(0.0, epoch=7),
    ]
    return group


def test_resample_on_correct_by_hand():
    kept = resample_on_correct(_oversampled_group(), seed=3)
    assert len(kept) == 4  # half of the oversampled group
    positives = [t.key.epoch for t in kept if t.success]
    negatives = [t.key.epoch for t in kept if not t.success]
    # positives: round(3 · 4 / 8) = 2 of them, the two lowest penalties (0.0 and 0.5)
    assert positives == [0, 5]
    # negatives: the other 2 slots, drawn among the 5
    assert len(negatives) == 2 and set(negatives) <= {1, 3, 4, 6, 7}
    # same seed, same draw, whatever the order of the input
    shuffled = _oversampled_group()
    random.Random(0).shuffle(shuffled)
    again = resample_on_correct(shuffled, seed=3)
    assert sorted(t.key.epoch for t in again) == sorted(t.key.epoch for t in kept)
    # the input order is kept
    assert [t.key.epoch for t in kept] == sorted(t.key.epoch for t in kept)


def test_resample_on_correct_draws_negatives_uniformly():
    counts: Counter[int] = Counter()
    draws = 300
    for seed in range(draws):
        kept = resample_on_correct(_oversampled_group(), seed=seed)
        counts.update(t.key.epoch for t in kept if not t.success)
    # each of the 5 negatives is kept with probability 2/5
    for epoch in (1, 3, 4, 6, 7):
        assert 0.3 < counts[epoch] / draws < 0.5


def test_resample_on_correct_drops_uniform_groups_and_keeps_both_kinds():
    uniform = [traj(1.0, task="u", epoch=e) for e in range(4)]
    # 1 positive in 8: round(0.5) could be 0, but at least one of each kind remains
    lonely = [traj(1.0 if e == 0 else 0.0, task="l", epoch=e) for e in range(8)]
    kept = resample_on_correct(uniform + lonely, seed=0)
    assert {t.task for t in kept} == {"l"}
    assert len(kept) == 4 and sum(bool(t.success) for t in kept) == 1
    # explicit group size to keep
    assert len(resample_on_correct(lonely, keep=6, seed=0)) == 6


def test_resample_on_correct_one_kind_with_unequal_rewards_keeps_lowest_penalty():
    group = [
        traj(1.0, epoch=0, tool_calls=1, tool_errors=1),  # p = 1.0
        traj(0.5, epoch=1, tool_calls=1, tool_errors=0),  # p = 0.0
        traj(0.8, epoch=2, tool_calls=0),  # p = 0.5
        traj(0.9, epoch=3, tool_calls=2, tool_errors=1),  # p = 0.5
    ]
    kept = resample_on_correct(group, seed=0)
    assert [t.key.epoch for t in kept] == [1, 2]


def test_resample_on_correct_custom_correctness():
    group = [traj(r, epoch=e) for e, r in enumerate([0.9, 0.2, 0.6, 0.1])]
    kept = resample_on_correct(group, seed=1, correct=lambda t: (t.reward or 0) >= 0.5)
    assert len(kept) == 2
    assert sum((t.reward or 0) >= 0.5 for t in kept) == 1


def test_resample_on_correct_refuses_groups_too_small():
    with pytest.raises(UserError, match="keep at least 2"):
        resample_on_correct([traj(1.0, epoch=0), traj(0.0, epoch=1)])
    with pytest.raises(UserError, match="unknown group field"):
        resample_on_correct([traj(1.0)], group_by=("colour",))


@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 3)), min_size=4, max_size=16), st.integers()
)
def test_resample_on_correct_laws(rollouts, seed):
    # rollouts: (solved, tool errors out of 3 calls); one group, even size
    rollouts = rollouts[: len(rollouts) // 2 * 2]
    group = [
        traj(1.0 if ok else 0.0, epoch=e, tool_calls=3, tool_errors=errors)
        for e, (ok, errors) in enumerate(rollouts)
    ]
    kept = resample_on_correct(group, seed=seed)
    n_pos = sum(ok for ok, _ in rollouts)
    if n_pos in (0, len(rollouts)):
        assert kept == []  # all-equal rewards: dropped
        return
    assert len(kept) == len(rollouts) // 2
    kept_pos = [t for t in kept if t.success]
    assert 1 <= len(kept_pos) < len(kept)  # both kinds remain
    # no positive left out is cleaner than a positive kept
    left_out = [t for t in group if t.success and t not in kept_pos]
    if left_out:
        assert min(t.penalty for t in left_out) >= max(t.penalty for t in kept_pos)
    # drop_uniform_groups keeps what resample_on_correct kept
    assert drop_uniform_groups(kept) == kept
