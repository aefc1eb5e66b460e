"""Advantage estimators: hand-computed values and the laws they obey."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from palaestra.train import (
    chunk_returns,
    discounted_returns,
    dr_grpo,
    dr_mas,
    grpo,
    rloo,
    step_group_advantages,
)
from palaestra.train._advantages import group_std

REWARDS = [1.0, 0.0, 0.0, 1.0]
SQRT_THIRD = math.sqrt(1 / 3)  # sample std of [1, 0, 0, 1]: sqrt(4 · 0.25 / 3)


def test_grpo_by_hand():
    # mean 0.5, sample std sqrt(1/3): ±0.5 / (0.57735 + 1e-6)
    expected = 0.5 / (SQRT_THIRD + 1e-6)
    assert grpo(REWARDS) == pytest.approx([expected, -expected, -expected, expected], abs=1e-12)
    assert grpo(REWARDS)[0] == pytest.approx(0.866024, abs=1e-6)
    # population std 0.5: ±0.5 / 0.500001; ε as given
    assert grpo(REWARDS, unbiased=False, eps=0.0) == [1.0, -1.0, -1.0, 1.0]
    assert grpo(REWARDS, eps=1e-4)[0] == pytest.approx(0.5 / (SQRT_THIRD + 1e-4), abs=1e-12)


def test_grpo_degenerate_groups():
    assert grpo([0.7]) == [0.0]  # one rollout: no spread, advantage 0 (not NaN)
    assert grpo([1.0, 1.0, 1.0]) == [0.0, 0.0, 0.0]
    assert grpo([]) == []


def test_dr_grpo_by_hand():
    assert dr_grpo(REWARDS) == [0.5, -0.5, -0.5, 0.5]
    assert dr_grpo([3.0, 1.0]) == [1.0, -1.0]


def test_rloo_by_hand():
    # A_1 = 1 − (0 + 0 + 1)/3, A_2 = 0 − (1 + 0 + 1)/3
    assert rloo(REWARDS) == pytest.approx([2 / 3, -2 / 3, -2 / 3, 2 / 3])
    assert rloo([5.0]) == [0.0]


def test_dr_mas_by_hand():
    # rollout 1 (R = 1): a invoked twice, b once; rollout 2 (R = 0): a once, b once
    rewards = [1.0, 1.0, 1.0, 0.0, 0.0]
    agents = ["a", "a", "b", "a", "b"]
    # a: values [1, 1, 0], mean 2/3, sample std sqrt(((1/3)² · 2 + (2/3)²) / 2) = sqrt(1/3)
    # b: values [1, 0], mean 1/2, sample std sqrt(1/2)
    a_pos = (1 / 3) / (SQRT_THIRD + 1e-6)
    a_neg = (-2 / 3) / (SQRT_THIRD + 1e-6)
    b = 0.5 / (math.sqrt(0.5) + 1e-6)
    assert dr_mas(rewards, agents) == pytest.approx([a_pos, a_pos, b, a_neg, -b], abs=1e-12)
    assert dr_mas(rewards, agents)[0] == pytest.approx(0.577349, abs=1e-6)
    with pytest.raises(ValueError, match="one agent per invocation"):
        dr_mas([1.0], ["a", "b"])


def test_discounted_and_chunk_returns_by_hand():
    assert discounted_returns([0.0, 0.0, 1.0], 0.5) == [0.25, 0.5, 1.0]
    assert discounted_returns([1.0, 2.0], 1.0) == [3.0, 2.0]
    # chunks [0.1, 0, 0.2] + outcome 1 at the end: [0.1, 0, 1.2]
    assert chunk_returns([0.1, 0.0, 0.2], 1.0, 0.9) == pytest.approx([1.072, 1.08, 1.2])
    assert chunk_returns([0.0, 0.0, 0.0], 1.0, 0.5) == [0.25, 0.5, 1.0]
    assert chunk_returns([], 1.0) == []


def test_step_group_advantages_by_hand():
    returns = [1.0, 0.0, 2.0, 5.0]
    keys = ["s", "s", "t", "u"]
    assert step_group_advantages(returns, keys, scale=False) == [0.5, -0.5, 0.0, 0.0]
    # scaled: sample std of [1, 0] is sqrt(1/2)
    scaled = 0.5 / (math.sqrt(0.5) + 1e-6)
    assert step_group_advantages(returns, keys) == pytest.approx([scaled, -scaled, 0.0, 0.0])
    with pytest.raises(ValueError, match="one key per step"):
        step_group_advantages([1.0], [])


def test_group_std():
    assert group_std([1.0, 0.0, 0.0, 1.0]) == pytest.approx(SQRT_THIRD)
    assert group_std([1.0, 0.0, 0.0, 1.0], unbiased=False) == 0.5
    assert group_std([2.0]) == 0.0


rewards_lists = st.lists(
    st.floats(min_value=-100, max_value=100, allow_nan=False), min_size=1, max_size=16
)


@given(rewards_lists)
def test_grpo_advantages_have_mean_zero(rewards):
    values = grpo(rewards)
    assert sum(values) / len(values) == pytest.approx(0.0, abs=1e-6)
    # unit spread where the rewards have some (std / (std + ε) ≈ 1)
    if group_std(rewards) > 1e-3:
        assert group_std(values) == pytest.approx(1.0, abs=1e-3)


@given(rewards_lists, st.floats(min_value=-50, max_value=50))
def test_grpo_is_shift_invariant(rewards, shift):
    shifted = grpo([r + shift for r in rewards])
    assert shifted == pytest.approx(grpo(rewards), abs=1e-6)


@given(rewards_lists)
def test_dr_mas_with_one_agent_is_grpo(rewards):
    assert dr_mas(rewards, ["solo"] * len(rewards)) == pytest.approx(grpo(rewards), abs=1e-9)


@given(rewards_lists, st.integers(min_value=1, max_value=4))
def test_dr_mas_with_equal_invocations_is_population_grpo(rewards, k):
    # every rollout invokes the agent k times: population statistics are unchanged
    repeated = [r for r in rewards for _ in range(k)]
    values = dr_mas(repeated, ["a"] * len(repeated), unbiased=False)
    expected = grpo(rewards, unbiased=False)
    assert values == pytest.approx([v for v in expected for _ in range(k)], abs=1e-9)


@given(st.lists(st.floats(min_value=-100, max_value=100, allow_nan=False), min_size=2))
def test_rloo_identity(rewards):
    # R_i − mean of the others = G / (G − 1) · (R_i − mean)
    g = len(rewards)
    assert rloo(rewards) == pytest.approx([g / (g - 1) * a for a in dr_grpo(rewards)], abs=1e-7)


@given(rewards_lists)
def test_dr_grpo_sums_to_zero(rewards):
    assert sum(dr_grpo(rewards)) == pytest.approx(0.0, abs=1e-7)


@given(
    st.lists(st.floats(min_value=-10, max_value=10, allow_nan=False), max_size=12),
    st.floats(min_value=0, max_value=1),
)
def test_discounted_returns_recursion(rewards, gamma):
    returns = discounted_returns(rewards, gamma)
    for t in range(len(rewards)):
        following = returns[t + 1] if t + 1 < len(rewards) else 0.0
        assert returns[t] == pytest.approx(rewards[t] + gamma * following, abs=1e-9)
