"""Judge calibration: how well a judge's labels agree with human labels.

```python
report = calibrate({"ep1": "C", "ep2": "I"}, {"ep1": "C", "ep2": "P"})
report.agreement, report.kappa, report.weighted_kappa, report.confusion
```

- `agreement`: share of items where judge and human give the same label.
- `kappa`: Cohen's kappa, `(p_o - p_e) / (1 - p_e)`, with `p_e` the agreement expected
  from the two label distributions alone (Cohen 1960). When both raters give one and the
  same label to every item (`p_e = 1`) it is 1 if they agree, else 0.
- `weighted_kappa` (ordinal labels only): `1 - sum(w * O) / sum(w * E)` with disagreement
  weights `w_ij = |i - j| / (k - 1)` (linear, the default) or its square (quadratic),
  over the labels in their order; None for nominal labels.
- `confusion[i][j]`: items the human labelled `labels[i]` and the judge `labels[j]`.

Labels are ordinal when `ordinal=True`, or by default when they are all numbers (ordered
by value) or grades of C/P/I (ordered I < P < C); otherwise nominal (sorted by text).
Paired by key when both are mappings (episode id -> label); keys only one side has are
counted in `missing` and left out.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from palaestra.core import UserError

_GRADE_ORDER = {"I": 0, "P": 1, "C": 2}


@dataclass
class Calibration:
    """Agreement of a judge with human labels (see the module docstring)."""

    n: int
    agreement: float
    kappa: float
    weighted_kappa: float | None
    labels: list[Any]
    confusion: list[list[int]]
    """Rows: human labels; columns: judge labels (both in `labels` order)."""
    ordinal: bool
    weights: str
    missing: int = 0
    """Items labelled by only one side (left out)."""
    disagreements: list[Any] = field(default_factory=list)
    """Keys (or indices) of the items where judge and human differ."""

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "agreement": self.agreement,
            "kappa": self.kappa,
            "weighted_kappa": self.weighted_kappa,
            "labels": self.labels,
            "confusion": self.confusion,
            "ordinal": self.ordinal,
            "weights": self.weights,
            "missing": self.missing,
            "disagreements": self.disagreements,
        }

    def describe(self) -> str:
        """A few lines for a terminal."""
        weighted = (
            f"  weighted kappa ({self.weights}) {self.weighted_kappa:.3f}"
            if self.weighted_kappa is not None
            else ""
        )
        lines = [
            f"judge vs human on {self.n} items: agreement {self.agreement:.3f}  "
            f"Cohen's kappa {self.kappa:.3f}{weighted}"
            + (f"  ({self.missing} items labelled by one side only)" if self.missing else ""),
            "confusion (rows human, columns judge):",
            "  " + " ".join(f"{str(label):>6}" for label in ["", *self.labels]),
        ]
        for label, row in zip(self.labels, self.confusion, strict=True):
            lines.append("  " + " ".join(f"{str(x):>6}" for x in [label, *row]))
        return "\n".join(lines)


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def order_labels(labels: set[Any]) -> tuple[list[Any], bool]:
    """The labels in order and whether they are ordinal by default."""
    if labels and all(_is_number(x) for x in labels):
        return sorted(labels), True
    if labels and all(isinstance(x, str) and x in _GRADE_ORDER for x in labels):
        return sorted(labels, key=lambda g: _GRADE_ORDER[g]), True
    return sorted(labels, key=lambda x: (type(x).__name__, str(x))), False


def _pairs(
    judge: Sequence[Hashable] | Mapping[Any, Hashable],
    human: Sequence[Hashable] | Mapping[Any, Hashable],
) -> tuple[list[Any], list[tuple[Any, Any]], int]:
    if isinstance(judge, Mapping) and isinstance(human, Mapping):
        keys = [k for k in human if k in judge]
        missing = len(set(judge) ^ set(human))
        return keys, [(judge[k], human[k]) for k in keys], missing
    if isinstance(judge, Mapping) or isinstance(human, Mapping):
        raise UserError("calibrate: give both label sets as mappings or both as sequences")
    if len(judge) != len(human):
        raise UserError(
            f"calibrate: {len(judge)} judge labels but {len(human)} human labels; pair them"
        )
    return list(range(len(judge))), list(zip(judge, human, strict=True)), 0


def calibrate(
    judge: Sequence[Hashable] | Mapping[Any, Hashable],
    human: Sequence[Hashable] | Mapping[Any, Hashable],
    *,
    labels: Sequence[Hashable] | None = None,
    ordinal: bool | None = None,
    weights: Literal["linear", "quadratic"] = "linear",
) -> Calibration:
    """Agreement, Cohen's kappa, weighted kappa and the confusion matrix of a judge's
    labels against human labels (see the module docstring)."""
    if weights not in ("linear", "quadratic"):
        raise UserError(f"weights must be 'linear' or 'quadratic', got {weights!r}")
    keys, pairs, missing = _pairs(judge, human)
    if not pairs:
        raise UserError("calibrate: no item has both a judge and a human label")
    seen = {x for pair in pairs for x in pair}
    if labels is not None:
        order = list(labels)
        unknown = seen - set(order)
        if unknown:
            raise UserError(
                f"calibrate: labels {sorted(map(str, unknown))} are not in `labels` {order}"
            )
        default_ordinal = False
    else:
        order, default_ordinal = order_labels(seen)
    is_ordinal = default_ordinal if ordinal is None else ordinal
    index = {label: i for i, label in enumerate(order)}
    k, n = len(order), len(pairs)
    confusion = [[0] * k for _ in range(k)]
    for j_label, h_label in pairs:
        confusion[index[h_label]][index[j_label]] += 1
    rows = [sum(r) for r in confusion]
    cols = [sum(confusion[i][j] for i in range(k)) for j in range(k)]
    observed = sum(confusion[i][i] for i in range(k)) / n
    expected = sum(rows[i] * cols[i] for i in range(k)) / (n * n)
    if expected >= 1.0:
        kappa = 1.0 if observed >= 1.0 else 0.0
    else:
        kappa = (observed - expected) / (1 - expected)
    weighted: float | None = None
    if is_ordinal:
        if k < 2:
            weighted = 1.0
        else:

            def w(i: int, j: int) -> float:
                d = abs(i - j) / (k - 1)
                return d if weights == "linear" else d * d

            num = sum(w(i, j) * confusion[i][j] for i in range(k) for j in range(k))
            den = sum(w(i, j) * rows[i] * cols[j] / n for i in range(k) for j in range(k))
            weighted = 1.0 - num / den if den > 0 else (1.0 if num == 0 else 0.0)
    disagreements = [key for key, (a, b) in zip(keys, pairs, strict=True) if a != b]
    return Calibration(
        n=n,
        agreement=observed,
        kappa=kappa,
        weighted_kappa=weighted,
        labels=order,
        confusion=confusion,
        ordinal=is_ordinal,
        weights=weights,
        missing=missing,
        disagreements=disagreements,
    )
