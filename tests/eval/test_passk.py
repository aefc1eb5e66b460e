"""pass^k and pass@k: hand-checked values, brute-force enumeration of every k-subset of
trials, clear errors, and the trials of a real run."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import palaestra.eval as ev
from palaestra.eval import pass_at_k, pass_hat_k, pass_hat_k_by_job, successes_by_task
from palaestra.runtime import run
from palaestra.store import EpisodeRow


def test_public_api() -> None:
    # the pass^k part of the public API (the package exports other metrics too)
    assert {
        "pass_at_k",
        "pass_hat_k",
        "pass_hat_k_by_job",
        "successes_by_task",
    } <= set(ev.__all__)
    assert sorted(ev.__all__) == sorted(set(ev.__all__)), "a name listed twice"
    assert all(hasattr(ev, name) for name in ev.__all__)


def test_hand_cases() -> None:
    # n=4, c=2: pass^2 = C(2,2)/C(4,2) = 1/6; pass@2 = 1 - C(2,2)/C(4,2) = 5/6
    half = {"t": [True, False, True, False]}
    assert pass_hat_k(half, 2) == pytest.approx(1 / 6)
    assert pass_at_k(half, 2) == pytest.approx(5 / 6)
    assert pass_hat_k(half, 1) == pass_at_k(half, 1) == 0.5
    # every task weighs the same: (1 + 0) / 2, and (C(3,3)/C(3,3) + 0) / 2 at k = 3
    mixed = {"a": [True, True, True], "b": [False, False, False, False]}
    assert pass_hat_k(mixed, 1) == 0.5 and pass_hat_k(mixed, 3) == 0.5
    assert pass_at_k(mixed, 3) == 0.5
    # c < k: all-k-successes is impossible; n - c < k: a success is certain
    assert pass_hat_k({"t": [True, False, False]}, 2) == 0.0
    assert pass_at_k({"t": [True, True, False]}, 2) == 1.0
    # pass^k falls with k, pass@k rises
    trials = {"t": [True, True, True, False, False]}
    hats = [pass_hat_k(trials, k) for k in range(1, 6)]
    ats = [pass_at_k(trials, k) for k in range(1, 6)]
    assert hats == sorted(hats, reverse=True) and hats[-1] == 0.0
    assert ats == sorted(ats) and ats[-1] == 1.0


def _brute(trials: list[bool], k: int) -> tuple[float, float]:
    subsets = list(combinations(trials, k))
    return (
        sum(all(s) for s in subsets) / len(subsets),
        sum(any(s) for s in subsets) / len(subsets),
    )


@given(
    st.lists(st.lists(st.booleans(), min_size=1, max_size=7), min_size=1, max_size=5),
    st.integers(min_value=1, max_value=7),
)
def test_equal_to_enumerating_every_k_subset(tasks: list[list[bool]], k: int) -> None:
    k = min(k, min(len(t) for t in tasks))
    trials = {f"task{i}": t for i, t in enumerate(tasks)}
    brute = [_brute(t, k) for t in tasks]
    assert pass_hat_k(trials, k) == pytest.approx(sum(b[0] for b in brute) / len(tasks))
    assert pass_at_k(trials, k) == pytest.approx(sum(b[1] for b in brute) / len(tasks))


@pytest.mark.parametrize(
    ("successes", "k", "message"),
    [
        ({"t": [True]}, 2, "task 't' has 1 trial\\(s\\), fewer than k=2"),
        ({"t": [True, True]}, 0, "k must be a positive integer"),
        ({"t": [True, True]}, True, "k must be a positive integer"),
        ({}, 1, "no tasks"),
        ({"t": [0.5, 1.0]}, 1, "sequence of booleans"),
        ({"t": "yes"}, 1, "sequence of booleans"),
    ],
)
def test_bad_input_is_a_clear_value_error(successes, k, message) -> None:
    for metric in (pass_hat_k, pass_at_k):
        with pytest.raises(ValueError, match=message):
            metric(successes, k)


def _row(episode_id: str, status: str = "finished", success: bool | None = True) -> EpisodeRow:
    return EpisodeRow(episode_id=episode_id, env="e", task="t", seed=0, status=status,
                      success=success)  # fmt: skip


def test_trials_grouped_by_job_and_task_from_episode_ids() -> None:
    rows = [
        _row("job/a/0/0"),
        _row("job/a/0/1", success=False),
        _row("job/a/1/0", success=None),  # ended in an error: a failure
        _row("job/a/1/1", status="running", success=None),  # not finished: left out
        _row("job/odd/task/0/0"),
        _row("other/a/0/0", success=False),
    ]
    assert successes_by_task(rows) == {
        "job/a": [True, False, False],
        "job/odd/task": [True],
        "other/a": [False],
    }
    assert pass_hat_k(rows, 1) == pytest.approx((1 / 3 + 1 + 0) / 3)
    with pytest.raises(ValueError, match="task 'job/odd/task' has 1 trial"):
        pass_hat_k(rows, 2)


def test_from_a_run_of_the_tool_use_suite(tmp_path) -> None:
    experiment = {
        "jobs": [
            {"env": "tooluse.airline", "label": "gt", "tasks": 2, "epochs": 2, "seeds": 2},
            {"env": "tooluse.store", "label": "silent", "tasks": 2, "epochs": 3,
             "max_steps": 3, "operator": {"kind": "scripted", "actions": ["Done."]}},
        ]
    }  # fmt: skip
    result = run(experiment, store=tmp_path / "runs.db")
    trials = successes_by_task(result.episodes)
    assert trials == {
        "gt/cancel-000": [True] * 4,
        "gt/cancel_refused-001": [True] * 4,
        "silent/cancel-000": [False] * 3,
        "silent/modify_address-001": [False] * 3,
    }
    assert pass_hat_k(result.episodes, 3) == 0.5
    assert pass_at_k({k: v for k, v in trials.items() if k.startswith("gt/")}, 4) == 1.0


def test_pass_hat_k_by_job_only_for_jobs_with_repeated_trials() -> None:
    rows = [
        _row("twice/a/0/0"),
        _row("twice/a/0/1", success=False),
        _row("twice/b/0/0"),
        _row("twice/b/0/1"),
        _row("once/a/0/0"),
        _row("once/b/0/0", success=False),
    ]
    by_job = pass_hat_k_by_job(rows)
    assert list(by_job) == ["twice"]
    # task a: 1 of 2 -> pass^1 1/2, pass^2 0; task b: 2 of 2 -> 1, 1
    assert by_job["twice"] == [0.75, 0.5]
    assert pass_hat_k_by_job(rows, max_k=1) == {"twice": [0.75]}
