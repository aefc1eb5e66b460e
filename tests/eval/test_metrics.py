"""Run metrics with confidence (`palaestra.eval.metrics`): estimators against brute force,
the bootstrap's laws, and the numbers of real stored runs grouped by task fields."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from palaestra.core import Message, ToolCall, Usage, wilson_interval
from palaestra.eval import (
    EpisodeRecord,
    avg_at_k,
    bootstrap_ci,
    episode_records,
    metrics,
    metrics_table,
    pass_at_k,
    pass_hat_k,
    run_metrics,
    successes_by_task,
)
from palaestra.eval._records import record_field
from palaestra.models import ModelResponse, ScriptedModel
from palaestra.runtime import run
from palaestra.store import Store

ROOT = Path(__file__).resolve().parents[2]
PASSK = ROOT / "examples" / "eval" / "passk.yaml"


def record(task: str, success: bool, *, score: float | None = None, job: str = "j", **kw):
    epoch = kw.pop("epoch", 0)
    seed = kw.pop("seed", 0)
    return EpisodeRecord(
        run_id="r",
        episode_id=f"{job}/{task}/{seed}/{epoch}",
        job=job,
        env="e",
        task=task,
        seed=seed,
        epoch=epoch,
        outcome="success" if success else "failure",
        success=success,
        score=score,
        **kw,
    )


trials_strategy = st.dictionaries(
    st.sampled_from(["t1", "t2", "t3"]),
    st.lists(st.booleans(), min_size=1, max_size=7),
    min_size=1,
)


@given(trials_strategy, st.integers(1, 7))
def test_group_pass_at_k_equals_enumerating_k_subsets(trials, k):
    records = [
        record(task, ok, epoch=i)
        for task, outcomes in trials.items()
        for i, ok in enumerate(outcomes)
    ]
    (m,) = metrics(records, ks=[k])
    least = min(len(t) for t in trials.values())
    if k > least:
        assert m.pass_at_k == {} and m.pass_hat_k == {}
        return
    at, hat, avg = [], [], []
    for outcomes in trials.values():
        subsets = list(combinations(outcomes, k))
        at.append(sum(any(s) for s in subsets) / len(subsets))
        hat.append(sum(all(s) for s in subsets) / len(subsets))
        avg.append(sum(sum(s) / k for s in subsets) / len(subsets))
    assert m.pass_at_k[k] == pytest.approx(sum(at) / len(at))
    assert m.pass_hat_k[k] == pytest.approx(sum(hat) / len(hat))
    assert m.avg_at_k[k] == pytest.approx(sum(avg) / len(avg))


@given(
    st.dictionaries(
        st.sampled_from("abcd"),
        st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=6),
        min_size=1,
    ),
    st.integers(1, 6),
)
def test_avg_at_k_is_the_mean_over_all_k_subsets(values, k):
    if k > min(len(v) for v in values.values()):
        with pytest.raises(ValueError, match="fewer than k"):
            avg_at_k(values, k)
        return
    per_task = []
    for trials in values.values():
        subsets = list(combinations(trials, k))
        per_task.append(sum(sum(s) / k for s in subsets) / len(subsets))
    assert avg_at_k(values, k) == pytest.approx(sum(per_task) / len(per_task))


def test_avg_at_k_errors():
    with pytest.raises(ValueError, match="positive integer"):
        avg_at_k({"t": [1.0]}, 0)
    with pytest.raises(ValueError, match="no tasks"):
        avg_at_k({}, 1)


@settings(max_examples=60)
@given(
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=40),
    st.integers(0, 2**32),
)
def test_bootstrap_interval_contains_the_mean_and_is_seeded(values, seed):
    low, high = bootstrap_ci(values, seed=seed, resamples=500)
    mean = float(np.mean(values))
    tolerance = 1e-9 * max(1.0, abs(mean), max(abs(v) for v in values))
    assert low - tolerance <= mean <= high + tolerance
    assert min(values) - tolerance <= low <= high <= max(values) + tolerance
    assert bootstrap_ci(values, seed=seed, resamples=500) == (low, high)


def test_bootstrap_narrows_with_more_data_and_rejects_bad_input():
    rng = np.random.default_rng(1)
    small = rng.normal(size=20)
    large = rng.normal(size=2000)
    w_small = np.subtract(*bootstrap_ci(small)[::-1])
    w_large = np.subtract(*bootstrap_ci(large)[::-1])
    assert w_large < w_small / 5
    # a 95% interval is wider than a 50% one from the same draws
    assert np.subtract(*bootstrap_ci(small, confidence=0.5)[::-1]) < w_small
    assert bootstrap_ci([3.0]) == (3.0, 3.0)
    with pytest.raises(ValueError, match="no values"):
        bootstrap_ci([])
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1.0, 2.0], confidence=1.5)


def test_success_interval_is_wilson_and_scores_bootstrap():
    records = [record("t", i < 3, score=float(i < 3), epoch=i) for i in range(8)]
    (m,) = metrics(records)
    assert (m.success.value, m.success.n) == (3 / 8, 8)
    assert (m.success.low, m.success.high) == wilson_interval(3, 8)
    assert m.score is not None and m.score.method == "bootstrap"
    assert m.score.value == pytest.approx(3 / 8)
    assert 0 <= m.score.low < 3 / 8 < m.score.high <= 1
    # the bootstrap of a group is seeded by (seed, group): the same call, the same numbers
    assert metrics(records)[0].score == m.score
    # without scores there is no score estimate; success still is one
    (bare,) = metrics([record("t", True)])
    assert bare.score is None and bare.success.value == 1.0


def test_costs_latencies_tool_calls_and_group_fields():
    a = record("t", True, job="x@with", cost_usd=0.5, latencies_s=[0.1, 0.3], tool_calls=2)
    b = record("u", False, job="x@without", tool_calls=0, params={"n": 4})
    (both,) = metrics([a, b])
    assert both.cost_usd == pytest.approx(0.25)  # mean over both episodes
    assert both.latency_s == pytest.approx(0.2) and both.tool_calls == 1.0
    (only_b,) = metrics([b])
    assert only_b.cost_usd is None and only_b.latency_s is None
    assert record_field(a, "system") == "with" and record_field(a, "base_job") == "x"
    assert record_field(b, "params.n") == "4" and record_field(a, "params.n") == "-"
    groups = [m.group for m in metrics([a, b], group_by=["base_job", "system"])]
    assert groups == ["x | with", "x | without"]
    assert [m.group for m in metrics([a, b], group_by=lambda r: r.task)] == ["t", "u"]
    with pytest.raises(ValueError, match="unknown group field 'colour'; valid: job"):
        metrics([a], group_by="colour")


def test_real_run_grouped_by_job_seed_and_operator(tmp_path):
    result = run(PASSK, store=tmp_path / "runs.db")
    with Store(result.store_path) as store:
        records = episode_records(store, result.run_id)
        rows = store.episodes(result.run_id)
        by_job = {m.group: m for m in run_metrics(store, result.run_id, group_by="job")}
    assert len(records) == 24 and set(by_job) == {"steady", "shaky"}
    for job, m in by_job.items():
        mine = [r for r in rows if r.episode_id.startswith(job + "/")]
        wins = sum(r.outcome == "success" for r in mine)
        assert (m.episodes, m.tasks) == (12, 1)
        assert m.success.value == wins / 12
        trials = successes_by_task(mine)
        assert m.pass_at_k[3] == pytest.approx(pass_at_k(trials, 3))
        assert m.pass_hat_k[3] == pytest.approx(pass_hat_k(trials, 3))
        assert m.avg_at_k[1] == pytest.approx(wins / 12)
        assert max(m.pass_at_k) == 10  # default: k up to min(trials, 10)
        assert m.input_tokens == pytest.approx(sum(r.input_tokens for r in mine) / 12)
        assert m.model_calls == 1.0 and m.tool_calls == 1.0 and m.steps == 1.0
        assert m.latency_s is not None and m.cost_usd is None
    # the sampled scripted model: steady answers right more often than shaky
    assert by_job["steady"].success.value > by_job["shaky"].success.value
    assert 0 < by_job["shaky"].success.value < 1
    by_seed = metrics(records, group_by="seed")
    assert [m.group for m in by_seed] == ["0", "1"] and all(m.episodes == 12 for m in by_seed)
    by_operator = {m.group: m for m in metrics(records, group_by="operators.agent")}
    assert set(by_operator) == {"llm:scripted[steady]", "llm:scripted[shaky]"}
    assert by_operator["llm:scripted[shaky]"].success == by_job["shaky"].success
    (depth,) = metrics(records, group_by="params.depth")
    assert depth.group == "[1]" and depth.episodes == 24
    table = metrics_table(list(by_job.values()))
    assert "steady" in table and f"{by_job['steady'].success.value:.3f}" in table


def test_cost_and_latency_from_recorded_model_responses(tmp_path):
    reply = ModelResponse(
        message=Message(
            role="assistant",
            tool_calls=[
                ToolCall(id="c", name="answer", arguments={"subproblem": "Q1", "value": 125})
            ],
        ),
        usage=Usage(input_tokens=10, output_tokens=2, cost_usd=0.004),
    )
    experiment = {
        "models": {"paid": {"spec": "scripted"}},
        "jobs": [
            {
                "env": "mas.controlled",
                "params": {"depth": 1, "horizon": 1, "breadth": 1, "parallel": 1, "instances": 1},
                "seeds": 3,
                "operator": {"kind": "llm", "model": "paid"},
            }
        ],
    }
    model = ScriptedModel([reply], cycle=True)
    result = run(experiment, store=tmp_path / "runs.db", models={"paid": model})
    with Store(result.store_path) as store:
        records = episode_records(store, result.run_id)
    assert [r.cost_usd for r in records] == pytest.approx([0.004] * 3)
    (m,) = metrics(records)
    assert m.cost_usd == pytest.approx(0.004) and m.success.value == 1.0
    assert m.input_tokens == 10 and m.output_tokens == 2
