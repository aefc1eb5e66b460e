"""Estimators applied to trajectories, and the `Batch` a trainer consumes."""

from __future__ import annotations

import math

import pytest

from palaestra.core import UserError
from palaestra.train import (
    ESTIMATORS,
    EstimatorConfig,
    compute_advantages,
    make_batch,
)
from tests.train.helpers import traj

E = 1e-6


def assert_close(actual: list[list[float]], expected: list[list[float]]) -> None:
    assert [len(row) for row in actual] == [len(row) for row in expected]
    flat = [v for row in actual for v in row]
    assert flat == pytest.approx([v for row in expected for v in row], abs=1e-9)


def test_grpo_broadcasts_one_value_per_trajectory_to_its_turns():
    trajs = [traj(1.0, epoch=0, turns=2), traj(0.0, epoch=1, turns=3)]
    a = 0.5 / (math.sqrt(0.5) + E)  # mean 0.5, sample std sqrt(0.5)
    values = compute_advantages(trajs, "grpo")
    assert_close(values, [[a, a], [-a, -a, -a]])
    assert compute_advantages(trajs, "dr_grpo") == [[0.5, 0.5], [-0.5, -0.5, -0.5]]
    assert compute_advantages(trajs, "rloo") == [[1.0, 1.0], [-1.0, -1.0, -1.0]]


def test_groups_are_formed_by_task_not_across_tasks():
    trajs = [traj(1.0, task="x", epoch=0), traj(0.0, task="x", epoch=1), traj(7.0, task="y")]
    values = compute_advantages(trajs, "dr_grpo")
    assert values == [[0.5], [-0.5], [0.0]]  # y is a group of one


def test_dr_mas_counts_invocations_per_agent():
    # rollout 0 (R = 1): agent a invoked twice, b once; rollout 1 (R = 0): a once, b once
    trajs = [
        traj(1.0, epoch=0, agent="a", turns=2),
        traj(1.0, epoch=0, agent="b", turns=1),
        traj(0.0, epoch=1, agent="a", turns=1),
        traj(0.0, epoch=1, agent="b", turns=1),
    ]
    third = math.sqrt(1 / 3)
    a_pos, a_neg = (1 / 3) / (third + E), (-2 / 3) / (third + E)
    b = 0.5 / (math.sqrt(0.5) + E)
    values = compute_advantages(trajs, "dr_mas")
    assert_close(values, [[a_pos, a_pos], [b], [a_neg], [-b]])
    # GRPO pools every trajectory of the task: [1, 1, 0, 0], ±0.5 / sqrt(1/3)
    g = 0.5 / (third + E)
    assert_close(compute_advantages(trajs, "grpo"), [[g, g], [g], [-g], [-g]])


def test_gigpo_adds_weighted_step_group_advantages():
    # two rollouts of a task, both start in state s0, then diverge (x, y)
    trajs = [
        traj(1.0, epoch=0, turns=2, obs=["s0", "x"]),
        traj(0.0, epoch=1, turns=2, obs=["s0", "y"]),
    ]
    config = EstimatorConfig(name="gigpo", step_weight=0.5)
    a = 0.5 / (math.sqrt(0.5) + E)  # episode level: rewards [1, 0]
    # step returns (γ = 1, outcome at the last step): [1, 1] and [0, 0]; step 0 shares
    # s0 -> ±a; step 1 states are unique -> 0
    values = compute_advantages(trajs, config)
    assert_close(values, [[a + 0.5 * a, a], [-a - 0.5 * a, -a]])


def test_gigpo_uses_discounted_process_rewards():
    trajs = [
        traj(0.0, epoch=0, turns=2, obs=["s0", "x"], step_rewards=[0.5, 0.0]),
        traj(0.0, epoch=1, turns=2, obs=["s0", "y"], step_rewards=[0.0, 0.0]),
    ]
    config = EstimatorConfig(name="gigpo", step_weight=1.0, gamma=0.5, scale=False)
    # episode rewards equal: A_episode = 0; step 0 returns 0.5 and 0 share s0: ±0.25
    assert_close(compute_advantages(trajs, config), [[0.25, 0.0], [-0.25, 0.0]])


def test_chunk_credit_by_hand():
    trajs = [
        # two model calls in step 0, one in step 1; process reward 0.2 at step 0
        traj(1.0, epoch=0, steps=[0, 0, 1], step_rewards=[0.2, 0.0]),
        traj(0.0, epoch=1, steps=[0], step_rewards=[0.0]),
    ]
    config = EstimatorConfig(name="chunk", gamma=0.5, scale=False)
    # chunk rewards [0.2, 0 + R=1] -> returns [0.2 + 0.5 · 1, 1] = [0.7, 1]; [0]
    # baseline: the group's mean reward 0.5
    values = compute_advantages(trajs, config)
    assert_close(values, [[0.2, 0.2, 0.5], [-0.5]])
    scaled = compute_advantages(trajs, EstimatorConfig(name="chunk", gamma=0.5))
    s = math.sqrt(0.5) + E
    assert_close(scaled, [[0.2 / s, 0.2 / s, 0.5 / s], [-0.5 / s]])


def test_reward_source_return_uses_step_rewards():
    trajs = [
        traj(None, epoch=0, turns=2, step_rewards=[1.0, 1.0]),
        traj(None, epoch=1, turns=2, step_rewards=[0.0, 0.0]),
    ]
    config = EstimatorConfig(name="dr_grpo", reward="return")
    assert compute_advantages(trajs, config) == [[1.0, 1.0], [-1.0, -1.0]]


def test_samples_carry_per_token_advantages_on_generated_tokens():
    trajs = [traj(1.0, epoch=0, turns=2), traj(0.0, epoch=1, turns=1)]
    batch = make_batch(trajs, "dr_grpo")
    samples = batch.samples()
    assert len(samples) == 3  # one segment per turn (helpers build them unjoined)
    first = samples[0]
    assert first.input_ids == [100, 0, 0] and first.loss_mask == [0, 1, 1]
    assert first.advantages == [0.0, 0.5, 0.5]
    assert first.old_logprobs == [0.0, -1.0, -1.0]
    assert (first.trajectory, first.turns, first.group) == (0, (0,), ("j", "t0", 0))
    assert samples[2].advantages == [0.0, -0.5, -0.5]
    texts = batch.text_samples()
    assert [(s.trajectory, s.turn, s.advantage) for s in texts] == [
        (0, 0, 0.5),
        (0, 1, 0.5),
        (1, 0, -0.5),
    ]
    assert batch.text_samples(untokenised_only=True) == []


def test_make_batch_masks_filters_and_counts():
    trajs = [
        traj(1.0, task="x", epoch=0),
        traj(0.0, task="x", epoch=1),
        traj(0.0, task="x", epoch=2, failure=True),  # masked, not reward 0
        traj(1.0, task="same", epoch=0),
        traj(1.0, task="same", epoch=1),  # all equal: filtered
    ]
    batch = make_batch(trajs, "grpo")
    assert [(t.task, t.key.epoch) for t in batch.trajectories] == [("x", 0), ("x", 1)]
    assert (batch.considered, batch.masked, batch.filtered) == (5, 1, 2)
    stats = batch.stats()
    assert stats["trajectories"] == 2 and stats["groups"] == 1
    assert stats["reward_mean"] == 0.5 and stats["success_rate"] == 0.5
    assert stats["generated_tokens"] == 4 and stats["tokens"] == 6
    assert list(batch.groups()) == [("j", "x", 0)]
    kept_all = make_batch(trajs, "grpo", drop_uniform=False)
    assert len(kept_all.trajectories) == 4 and kept_all.advantages[2:] == [[0.0], [0.0]]


def test_make_batch_with_resample_on_correct():
    trajs = [
        traj(1.0 if e < 3 else 0.0, epoch=e, tool_calls=1, tool_errors=e % 2) for e in range(8)
    ]
    batch = make_batch(trajs, "grpo", resample=True, seed=0)
    assert len(batch.trajectories) == 4 and batch.filtered == 4
    positives = [t.key.epoch for t in batch.trajectories if t.success]
    assert positives == [0, 2]  # the two without tool errors


def test_bad_estimator_configs_are_user_errors():
    with pytest.raises(UserError, match="valid choices: grpo, dr_grpo"):
        make_batch([traj(1.0)], "ppo")
    with pytest.raises(UserError, match="unknown group field"):
        EstimatorConfig(group_by=("job", "colour"))
    with pytest.raises(UserError, match="reward source"):
        EstimatorConfig(reward="vibes")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="gamma"):
        EstimatorConfig(gamma=1.5)
    assert set(ESTIMATORS) == {"grpo", "dr_grpo", "rloo", "dr_mas", "gigpo", "chunk"}
