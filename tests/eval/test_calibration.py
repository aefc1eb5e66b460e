"""Judge calibration: Cohen's kappa and weighted kappa against hand-computed values and
against a brute-force definition over all pairs of items (no sklearn)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from palaestra.core import UserError
from palaestra.eval import calibrate


def test_textbook_example() -> None:
    # 50 items: both yes 20, judge yes / human no 5, judge no / human yes 10, both no 15.
    # p_o = 35/50 = 0.7; judge says yes 25/50, human 30/50:
    # p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10
    pairs += [("no", "no")] * 15
    result = calibrate([j for j, _ in pairs], [h for _, h in pairs])
    assert result.n == 50 and result.agreement == pytest.approx(0.7)
    assert result.kappa == pytest.approx(0.4)
    assert result.labels == ["no", "yes"] and not result.ordinal
    assert result.weighted_kappa is None
    # rows human, columns judge: human no -> judge no 15, judge yes 5
    assert result.confusion == [[15, 5], [10, 20]]


def test_ordinal_grades_weighted_by_hand() -> None:
    judge = {"e1": "C", "e2": "P", "e3": "I", "e4": "C"}
    human = {"e1": "C", "e2": "C", "e3": "I", "e4": "I", "e5": "P"}
    result = calibrate(judge, human)
    assert result.labels == ["I", "P", "C"] and result.ordinal
    assert result.n == 4 and result.missing == 1 and result.disagreements == ["e2", "e4"]
    assert result.confusion == [[1, 0, 1], [0, 0, 0], [0, 1, 1]]
    # p_o = 2/4; rows (human) I 2, P 0, C 2; columns (judge) I 1, P 1, C 2
    # p_e = (2*1 + 0*1 + 2*2) / 16 = 6/16; kappa = (0.5 - 0.375) / 0.625 = 0.2
    assert result.kappa == pytest.approx(0.2)
    # linear weights I-P 0.5, I-C 1, P-C 0.5: observed = (1 * 1 + 1 * 0.5) / 4 = 0.375;
    # expected = sum w * row * col / n^2 = (2*1*.5 + 2*2*1 + 2*1*1 + 2*1*.5) / 16 = 8/16
    assert result.weighted_kappa == pytest.approx(1 - 0.375 / 0.5)
    quadratic = calibrate(judge, human, weights="quadratic")
    # quadratic weights .25 and 1: observed (1 + .25) / 4; expected (0.5 + 4 + 2 + 0.5) / 16
    assert quadratic.weighted_kappa == pytest.approx(1 - (1.25 / 4) / (7 / 16))


def test_perfect_and_degenerate_agreement() -> None:
    assert calibrate([1, 2, 3], [1, 2, 3]).kappa == 1.0
    same = calibrate(["C", "C"], ["C", "C"])
    assert same.kappa == 1.0 and same.weighted_kappa == 1.0
    assert calibrate([True, False], [False, True]).kappa == pytest.approx(-1.0)


def test_errors() -> None:
    with pytest.raises(UserError, match="3 judge labels but 2 human labels"):
        calibrate([1, 2, 3], [1, 2])
    with pytest.raises(UserError, match="no item has both"):
        calibrate({"a": 1}, {"b": 1})
    with pytest.raises(UserError, match="label sets as mappings or both as sequences"):
        calibrate({"a": 1}, [1])
    with pytest.raises(UserError, match=r"not in `labels`"):
        calibrate(["x"], ["y"], labels=["x"])


def _brute_kappa(judge: list[int], human: list[int], weight) -> float:
    """Kappa as 1 - observed / expected disagreement, the expectation taken over every
    (human item, judge item) pair: the chance model of independent raters."""
    n = len(judge)
    observed = sum(weight(h, j) for h, j in zip(human, judge, strict=True)) / n
    expected = sum(weight(h, j) for h in human for j in judge) / (n * n)
    if expected == 0:
        return 1.0 if observed == 0 else 0.0
    return 1 - observed / expected


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=30),
)
def test_kappas_match_brute_force(pairs) -> None:
    judge = [j for j, _ in pairs]
    human = [h for _, h in pairs]
    result = calibrate(judge, human)
    assert result.kappa == pytest.approx(_brute_kappa(judge, human, lambda a, b: float(a != b)))
    k = len(result.labels)
    if k > 1:
        index = {label: i for i, label in enumerate(result.labels)}

        def linear(a: int, b: int) -> float:
            return abs(index[a] - index[b]) / (k - 1)

        assert result.weighted_kappa == pytest.approx(_brute_kappa(judge, human, linear))
    assert sum(map(sum, result.confusion)) == len(pairs)
    assert result.agreement == pytest.approx(sum(a == b for a, b in pairs) / len(pairs))
