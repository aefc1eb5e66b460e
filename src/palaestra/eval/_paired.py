"""Paired comparison: the same tasks and seeds under two configurations (with and without
a skill, a tool, a prompt), compared task trial by task trial (docs/metrics.md).

Episodes pair on their task trial `base_job/task/seed/epoch` (`EpisodeRecord.key`: the
job label without its `@system`), so two runs of one experiment, or two groups of one
run (`J@with` and `J@without`), pair up. For each pair the difference is a - b of the
metric: `success` (0/1) or `score` (the verified score; success as 0/1 where there is
none). Reported:

- per pair: key, a, b, difference; the keys only one side ran (left out of all figures);
- means of a and b and the **mean difference** with a paired interval: for success the
  percentile bootstrap of the mean difference (seeded), for scores the t interval;
- **tests** (two-sided, H0: no difference): for success McNemar's exact test (the sign
  test on discordant pairs); for scores the paired t test, Wilcoxon's signed-rank test
  and the exact sign test.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from palaestra.eval._records import EpisodeRecord, group_records
from palaestra.eval._stats import (
    TestResult,
    bootstrap_ci,
    mcnemar_exact,
    paired_t_test,
    sign_test,
    wilcoxon_signed_rank,
)

PairedMetric = Literal["success", "score"]


@dataclass(frozen=True)
class Pair:
    """One task trial run under both configurations."""

    key: str
    a: float
    b: float

    @property
    def difference(self) -> float:
        return self.a - self.b


@dataclass(frozen=True)
class PairedComparison:
    """The result of `paired_compare` (module docstring)."""

    metric: PairedMetric
    label_a: str
    label_b: str
    pairs: list[Pair]
    only_a: list[str] = field(default_factory=list)
    """Keys only configuration a ran."""
    only_b: list[str] = field(default_factory=list)
    mean_a: float = 0.0
    mean_b: float = 0.0
    mean_difference: float = 0.0
    """mean(a - b) over the pairs."""
    ci_low: float = 0.0
    ci_high: float = 0.0
    ci_method: str = ""
    confidence: float = 0.95
    tests: list[TestResult] = field(default_factory=list)

    @property
    def wins(self) -> tuple[int, int, int]:
        """Pairs where a did better, where b did, and ties."""
        better = sum(p.difference > 0 for p in self.pairs)
        worse = sum(p.difference < 0 for p in self.pairs)
        return better, worse, len(self.pairs) - better - worse

    def test(self, name: str) -> TestResult:
        """The test named `name` (`mcnemar`, `paired_t`, `wilcoxon`, `sign`)."""
        for result in self.tests:
            if result.name == name:
                return result
        raise KeyError(f"no {name!r} test here; tests: {', '.join(t.name for t in self.tests)}")

    def describe(self) -> str:
        """The comparison in a few lines of text."""
        better, worse, ties = self.wins
        pct = round(self.confidence * 100)
        lines = [
            f"paired {self.metric}: {self.label_a} vs {self.label_b} on {len(self.pairs)} "
            f"task trials ({len(self.only_a)} only in {self.label_a}, {len(self.only_b)} only "
            f"in {self.label_b})",
            f"  mean {self.label_a} {self.mean_a:.3f}  mean {self.label_b} {self.mean_b:.3f}  "
            f"difference {self.mean_difference:+.3f}  {pct}% CI "
            f"[{self.ci_low:+.3f}, {self.ci_high:+.3f}] ({self.ci_method})",
            f"  {self.label_a} better on {better}, {self.label_b} better on {worse}, ties {ties}",
        ]
        for t in self.tests:
            lines.append(
                f"  {t.name:<9} statistic {t.statistic:.3f}  p = {t.p_value:.4g}  "
                f"(n = {t.n}, {t.method})"
            )
        return "\n".join(lines) + "\n"


def _by_key(records: Iterable[EpisodeRecord], side: str) -> dict[str, EpisodeRecord]:
    out: dict[str, EpisodeRecord] = {}
    for record in records:
        if record.key in out:
            raise ValueError(
                f"{side}: two episodes of task trial {record.key!r} "
                f"({out[record.key].episode_id}, {record.episode_id}); give one "
                "configuration per side (select a job or system)"
            )
        out[record.key] = record
    return out


def paired_compare(
    a: Iterable[EpisodeRecord],
    b: Iterable[EpisodeRecord],
    *,
    metric: PairedMetric = "success",
    labels: tuple[str, str] = ("a", "b"),
    confidence: float = 0.95,
    seed: int = 0,
    resamples: int = 2000,
) -> PairedComparison:
    """Compare configuration `a` with `b` on the task trials both ran.

    `a` and `b` hold at most one finished episode per task trial each. Raises
    `ValueError` for an unknown metric, a repeated trial on one side, or no pair."""
    if metric not in ("success", "score"):
        raise ValueError(f"unknown metric {metric!r}; valid: success, score")
    left, right = _by_key(a, labels[0]), _by_key(b, labels[1])
    common = [key for key in left if key in right]
    if not common:
        raise ValueError(
            f"{labels[0]} and {labels[1]} share no task trial (job/task/seed/epoch); "
            "run the same tasks and seeds under both"
        )

    def value(record: EpisodeRecord) -> float:
        return float(record.success) if metric == "success" else record.value

    pairs = [Pair(key, value(left[key]), value(right[key])) for key in common]
    diffs = [p.difference for p in pairs]
    n = len(pairs)
    mean_a = sum(p.a for p in pairs) / n
    mean_b = sum(p.b for p in pairs) / n
    mean_diff = sum(diffs) / n
    tests: list[TestResult] = []
    if metric == "success":
        tests.append(mcnemar_exact([p.a == 1 for p in pairs], [p.b == 1 for p in pairs]))
        low, high = bootstrap_ci(diffs, confidence=confidence, resamples=resamples, seed=seed)
        method = "bootstrap percentile"
    else:
        if n >= 2:
            t_result, (low, high) = paired_t_test(diffs, confidence=confidence)
            tests.append(t_result)
            method = "t interval"
        else:
            low = high = mean_diff
            method = "one pair: no interval"
        tests.append(wilcoxon_signed_rank(diffs))
        tests.append(sign_test(diffs))
    return PairedComparison(
        metric=metric,
        label_a=labels[0],
        label_b=labels[1],
        pairs=pairs,
        only_a=[key for key in left if key not in right],
        only_b=[key for key in right if key not in left],
        mean_a=mean_a,
        mean_b=mean_b,
        mean_difference=mean_diff,
        ci_low=low,
        ci_high=high,
        ci_method=method,
        confidence=confidence,
        tests=tests,
    )


def split_by(
    records: Sequence[EpisodeRecord], field_name: str, a: str, b: str
) -> tuple[list[EpisodeRecord], list[EpisodeRecord]]:
    """The records whose `field_name` (a group field, e.g. `system`) is `a`, and those
    where it is `b`: two groups of one run, for `paired_compare`. Raises `ValueError`
    when either is absent, naming the values present."""
    groups = group_records(records, field_name)
    for wanted in (a, b):
        if wanted not in groups:
            raise ValueError(
                f"no episodes with {field_name} = {wanted!r}; present: {', '.join(groups)}"
            )
    return groups[a], groups[b]
