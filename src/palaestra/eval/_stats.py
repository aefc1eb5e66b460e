"""Statistics for metrics and paired comparisons: a seeded bootstrap interval and four
paired tests, implemented here so that each is exact where it can be and documented.

- `bootstrap_ci`: percentile bootstrap interval of a mean (or any statistic), from a
  seeded generator, so the same values and seed give the same interval;
- `sign_test`: exact two-sided sign test on paired differences (zeros dropped);
- `mcnemar_exact`: McNemar's exact test for paired binary outcomes, which is the sign
  test on the discordant pairs;
- `paired_t_test`: Student's paired t test (two-sided), with the t interval of the mean
  difference;
- `wilcoxon_signed_rank`: Wilcoxon's signed-rank test (two-sided, zeros dropped, average
  ranks for ties): the exact permutation distribution of W+ (conditional on the ranks,
  ties included) up to `EXACT_WILCOXON_MAX` non-zero differences, the normal
  approximation with tie correction above.

Every test returns a `TestResult` (name, statistic, p-value, n, a note on the method).
scipy supplies only the t distribution and the normal tail.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import comb

import numpy as np

EXACT_WILCOXON_MAX = 60
"""Up to this many non-zero differences the signed-rank p-value is exact."""


@dataclass(frozen=True)
class TestResult:
    """The outcome of a hypothesis test (two-sided; H0: no difference)."""

    __test__ = False  # not a pytest test class

    name: str
    """Which test: `sign`, `mcnemar`, `paired_t` or `wilcoxon`."""
    statistic: float
    """The test statistic: the count of positive differences (sign), the smaller
    discordant count (McNemar), t (paired t), min(W+, W-) (Wilcoxon)."""
    p_value: float
    """Two-sided p-value in [0, 1]."""
    n: int
    """Pairs the test used (non-zero differences for sign and Wilcoxon, discordant pairs
    for McNemar, all pairs for t)."""
    method: str = ""
    """How the p-value was computed, e.g. `exact binomial`, `normal approximation`."""


def bootstrap_ci(
    values: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    statistic: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (or of `statistic`).

    `resamples` samples of len(values) values are drawn with replacement from a numpy
    generator seeded with `seed`; the interval is the (1-c)/2 and (1+c)/2 quantiles of
    the statistic over them. `statistic` maps a (resamples, n) array to one value per
    row (default: the row means). One value, or all values equal, give a zero-width
    interval. Raises `ValueError` on no values or a confidence outside (0, 1).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}")
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples!r}")
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("bootstrap_ci: no values")
    if statistic is None and (data.size == 1 or np.all(data == data[0])):
        return float(data[0]), float(data[0])
    rng = np.random.default_rng(seed)
    picks = data[rng.integers(0, data.size, size=(resamples, data.size))]
    stats = picks.mean(axis=1) if statistic is None else np.asarray(statistic(picks))
    tail = (1 - confidence) / 2
    low, high = np.quantile(stats, [tail, 1 - tail])
    return float(low), float(high)


def _binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p of k successes in n fair coin flips: 2 P(X <= min(k, n-k))."""
    if n == 0:
        return 1.0
    low = min(k, n - k)
    tail = sum(comb(n, i) for i in range(low + 1))
    return min(1.0, 2 * tail / 2**n)


def sign_test(differences: Sequence[float]) -> TestResult:
    """Exact two-sided sign test: under H0 a non-zero difference is positive with
    probability 1/2. Zero differences are dropped; with none left, p = 1."""
    positive = sum(d > 0 for d in differences)
    nonzero = sum(d != 0 for d in differences)
    return TestResult(
        "sign", float(positive), _binomial_two_sided(positive, nonzero), nonzero, "exact binomial"
    )


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> TestResult:
    """McNemar's exact test for paired binary outcomes (a[i], b[i]).

    Only discordant pairs count: n01 (a failed, b succeeded) and n10 (a succeeded, b
    failed); under H0 each discordant pair goes either way with probability 1/2, so
    p = 2 P(Bin(n01 + n10, 1/2) <= min(n01, n10)), capped at 1. The statistic is
    min(n01, n10)."""
    if len(a) != len(b):
        raise ValueError(f"mcnemar_exact: {len(a)} outcomes for a, {len(b)} for b")
    n10 = sum(bool(x) and not bool(y) for x, y in zip(a, b, strict=True))
    n01 = sum(bool(y) and not bool(x) for x, y in zip(a, b, strict=True))
    n = n01 + n10
    return TestResult(
        "mcnemar", float(min(n01, n10)), _binomial_two_sided(n10, n), n, "exact binomial"
    )


def paired_t_test(
    differences: Sequence[float], *, confidence: float = 0.95
) -> tuple[TestResult, tuple[float, float]]:
    """Student's paired t test of mean(differences) = 0 (two-sided), and the t interval
    of the mean difference at `confidence`.

    t = mean / (sd / sqrt(n)), sd with n - 1 degrees of freedom. With all differences
    equal the statistic is 0 (all zero, p = 1) or infinite (p = 0) and the interval has
    zero width. Needs at least two differences."""
    from scipy import stats

    d = np.asarray(differences, dtype=float)
    n = int(d.size)
    if n < 2:
        raise ValueError(f"paired_t_test needs at least 2 pairs, got {n}")
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    if sd == 0.0:
        t = 0.0 if mean == 0 else math.copysign(math.inf, mean)
        p = 1.0 if mean == 0 else 0.0
        return TestResult("paired_t", t, p, n, "degenerate: all differences equal"), (mean, mean)
    se = sd / math.sqrt(n)
    t = mean / se
    p = float(min(1.0, 2 * stats.t.sf(abs(t), n - 1)))
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1)) * se
    return TestResult("paired_t", t, p, n, f"t distribution, {n - 1} df"), (
        mean - half,
        mean + half,
    )


def _ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties given the average of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for position in range(i, j + 1):
            ranks[order[position]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _signed_rank_cdf(doubled: Sequence[int], w2: int) -> float:
    """P(2 W+ <= w2) when each (doubled, integer) rank is counted with probability 1/2."""
    total = sum(doubled)
    counts = [0] * (total + 1)
    counts[0] = 1
    for r in doubled:
        for s in range(total, r - 1, -1):
            counts[s] += counts[s - r]
    return sum(counts[: max(0, min(w2, total)) + 1]) / 2 ** len(doubled)


def wilcoxon_signed_rank(differences: Sequence[float]) -> TestResult:
    """Wilcoxon's signed-rank test of H0 "differences symmetric about 0" (two-sided).

    Zero differences are dropped; the rest are ranked by absolute value (ties: average
    rank); W+ and W- are the rank sums of the positive and negative differences and the
    statistic is min(W+, W-). The p-value is 2 P(W <= min) under the permutation
    distribution (every sign flip equally likely, ranks as observed) — exact up to
    `EXACT_WILCOXON_MAX` differences, else the normal approximation with tie correction
    (variance n(n+1)(2n+1)/24 - sum(t^3 - t)/48, no continuity correction)."""
    nonzero = [float(d) for d in differences if d != 0]
    n = len(nonzero)
    if n == 0:
        return TestResult("wilcoxon", 0.0, 1.0, 0, "no non-zero differences")
    ranks = _ranks([abs(d) for d in nonzero])
    w_plus = sum(r for r, d in zip(ranks, nonzero, strict=True) if d > 0)
    w_minus = sum(r for r, d in zip(ranks, nonzero, strict=True) if d < 0)
    low = min(w_plus, w_minus)
    if n <= EXACT_WILCOXON_MAX:
        doubled = [round(2 * r) for r in ranks]
        p = min(1.0, 2 * _signed_rank_cdf(doubled, round(2 * low)))
        return TestResult("wilcoxon", low, p, n, "exact permutation distribution")
    from scipy import stats

    mean = n * (n + 1) / 4
    ties: dict[float, int] = {}
    for r in ranks:
        ties[r] = ties.get(r, 0) + 1
    variance = n * (n + 1) * (2 * n + 1) / 24 - sum(t**3 - t for t in ties.values()) / 48
    z = (low - mean) / math.sqrt(variance) if variance > 0 else 0.0
    p = float(min(1.0, 2 * stats.norm.cdf(z)))
    return TestResult("wilcoxon", low, p, n, "normal approximation, tie-corrected")
