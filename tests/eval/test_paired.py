"""Paired comparison (`paired_compare`) and its tests: hand cases, brute-force sign-flip
enumeration, scipy as a reference, and the paired example run (examples/eval/paired.yaml)."""

from __future__ import annotations

from itertools import product
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from palaestra.eval import (
    EpisodeRecord,
    episode_records,
    mcnemar_exact,
    paired_compare,
    paired_t_test,
    sign_test,
    split_by,
    wilcoxon_signed_rank,
)
from palaestra.eval._stats import _ranks
from palaestra.runtime import run
from palaestra.store import Store

ROOT = Path(__file__).resolve().parents[2]
PAIRED = ROOT / "examples" / "eval" / "paired.yaml"


def rec(job: str, task: str, success: bool, score: float | None = None, seed: int = 0):
    return EpisodeRecord(
        run_id="r",
        episode_id=f"{job}/{task}/{seed}/0",
        job=job,
        env="e",
        task=task,
        seed=seed,
        epoch=0,
        outcome="success" if success else "failure",
        success=success,
        score=score,
    )


def test_sign_and_mcnemar_hand_cases():
    # 7 positive of 8 non-zero: p = 2 * (C(8,0) + C(8,1)) / 2^8 = 18/256
    result = sign_test([1, 2, 3, 4, 5, 6, 7, -1, 0, 0])
    assert (result.statistic, result.n) == (7, 8)
    assert result.p_value == pytest.approx(18 / 256)
    assert sign_test([0, 0]).p_value == 1.0
    # discordant: a-only successes 5, b-only 1 -> p = 2 * (1 + 6) / 64
    a = [True] * 5 + [False] + [True] * 3 + [False] * 2
    b = [False] * 5 + [True] + [True] * 3 + [False] * 2
    m = mcnemar_exact(a, b)
    assert (m.statistic, m.n) == (1, 6) and m.p_value == pytest.approx(14 / 64)
    assert mcnemar_exact([True], [True]).p_value == 1.0
    with pytest.raises(ValueError, match="outcomes"):
        mcnemar_exact([True], [])


@settings(max_examples=50)
@given(
    st.lists(st.floats(-10, 10, allow_nan=False, allow_subnormal=False), min_size=3, max_size=30)
)
def test_paired_t_matches_scipy(diffs):
    if len(set(diffs)) < 2:
        return  # degenerate: tested below
    ours, (low, high) = paired_t_test(diffs)
    ref = stats.ttest_1samp(diffs, 0.0)
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-6, abs=1e-9)
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-12)
    ci = ref.confidence_interval(0.95)
    assert (low, high) == pytest.approx((ci.low, ci.high), rel=1e-6, abs=1e-9)


def test_paired_t_degenerate_and_too_small():
    assert paired_t_test([0.0, 0.0])[0].p_value == 1.0
    result, interval = paired_t_test([0.5, 0.5, 0.5])
    assert result.p_value == 0.0 and interval == (0.5, 0.5)
    with pytest.raises(ValueError, match="at least 2"):
        paired_t_test([1.0])


def brute_wilcoxon(diffs: list[float]) -> float:
    """Two-sided p by enumerating every sign flip of the non-zero differences."""
    nonzero = [d for d in diffs if d != 0]
    ranks = _ranks([abs(d) for d in nonzero])
    w_plus = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    observed = min(w_plus, sum(ranks) - w_plus)
    hits = 0
    for signs in product((0, 1), repeat=len(ranks)):
        w = sum(r for r, s in zip(ranks, signs, strict=True) if s)
        hits += w <= observed + 1e-9
    return min(1.0, 2 * hits / 2 ** len(ranks))


@settings(max_examples=60)
@given(st.lists(st.integers(-4, 4), min_size=1, max_size=11))
def test_wilcoxon_exact_equals_enumerating_sign_flips(diffs):
    # small integers: many ties and zeros, the case where exactness matters
    result = wilcoxon_signed_rank(diffs)
    assert result.p_value == pytest.approx(brute_wilcoxon(diffs))
    assert result.n == sum(d != 0 for d in diffs)


def test_wilcoxon_matches_scipy_exact_and_normal():
    diffs = [0.3, -1.2, 2.5, 1.7, 0.9, -0.4, 3.1, 1.1, 0.05, 2.2, -0.7, 1.4]
    ours = wilcoxon_signed_rank(diffs)
    ref = stats.wilcoxon(diffs, method="exact")
    assert ours.statistic == ref.statistic and ours.p_value == pytest.approx(ref.pvalue)
    # above the exact limit: the tie-corrected normal approximation, as scipy's
    large = [((i * 37) % 23 - 9) + 0.5 * (i % 3) for i in range(80)]
    ours = wilcoxon_signed_rank(large)
    ref = stats.wilcoxon(large, method="approx", correction=False, zero_method="wilcox")
    assert ours.method.startswith("normal")
    assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert wilcoxon_signed_rank([0, 0]).p_value == 1.0


def test_paired_compare_pairs_on_task_trials_and_reports_the_rest():
    a = [rec("q@with", t, ok) for t, ok in [("t1", True), ("t2", True), ("t3", True), ("t9", True)]]
    b = [rec("q@without", t, ok) for t, ok in [("t1", False), ("t2", True), ("t3", False)]]
    b.append(rec("q@without", "t8", False))
    result = paired_compare(a, b, labels=("with", "without"))
    assert [p.key for p in result.pairs] == ["q/t1/0/0", "q/t2/0/0", "q/t3/0/0"]
    assert result.only_a == ["q/t9/0/0"] and result.only_b == ["q/t8/0/0"]
    assert result.mean_difference == pytest.approx(2 / 3) and result.wins == (2, 0, 1)
    assert result.test("mcnemar").p_value == pytest.approx(0.5)  # 2 discordant, both one way
    assert result.ci_low <= result.mean_difference <= result.ci_high
    text = result.describe()
    assert "with vs without on 3 task trials (1 only in with, 1 only in without)" in text
    with pytest.raises(KeyError, match="no 'wilcoxon' test"):
        result.test("wilcoxon")
    with pytest.raises(ValueError, match="share no task trial"):
        paired_compare(a[:1], b[1:2])
    with pytest.raises(ValueError, match="two episodes of task trial"):
        paired_compare(a + a[:1], b)
    with pytest.raises(ValueError, match="unknown metric"):
        paired_compare(a, b, metric="tokens")  # type: ignore[arg-type]


def test_paired_example_run(tmp_path):
    result = run(PAIRED, store=tmp_path / "runs.db")
    with Store(result.store_path) as store:
        records = episode_records(store, result.run_id)
    with_skill, without = split_by(records, "system", "with", "without")
    assert len(with_skill) == len(without) == 16
    success = paired_compare(with_skill, without, labels=("with", "without"))
    wins = sum(r.success for r in without)
    assert success.mean_a == 1.0 and success.mean_b == wins / 16
    discordant = 16 - wins
    assert success.test("mcnemar").n == discordant
    assert success.test("mcnemar").p_value == pytest.approx(2 / 2**discordant)
    score = paired_compare(with_skill, without, metric="score", labels=("with", "without"))
    diffs = [p.difference for p in score.pairs]
    assert score.mean_difference == pytest.approx(sum(diffs) / 16) and score.mean_difference > 0
    ref = stats.ttest_rel([p.a for p in score.pairs], [p.b for p in score.pairs])
    assert score.test("paired_t").p_value == pytest.approx(ref.pvalue)
    assert score.test("wilcoxon").p_value < 0.01
    nonzero = sum(d != 0 for d in diffs)
    assert score.test("sign").p_value == pytest.approx(2 / 2**nonzero)
    assert all(d >= 0 for d in diffs)  # every non-zero difference favours the skill
    with pytest.raises(ValueError, match="present: with, without"):
        split_by(records, "system", "with", "maybe")
