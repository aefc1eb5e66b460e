"""The `mas.controlled` generator: ids, determinism, one axis = one structure, exact
answers checked against a re-computation from the steps' own wording."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from palaestra.core import UserError
from palaestra.envs.mas import Axes, MasTask, Structure, generate, measure, solve
from palaestra.envs.mas._task import apply, parse_task_id, reveal_turn


@st.composite
def axes(draw: st.DrawFn, max_depth: int = 8, max_breadth: int = 8) -> Axes:
    breadth = draw(st.integers(1, max_breadth))
    return Axes(
        depth=draw(st.integers(1, max_depth)),
        horizon=draw(st.integers(1, 8)),
        breadth=breadth,
        parallel=draw(st.integers(1, breadth)),
        robustness=draw(st.integers(0, 100)) / 100,
        seed=draw(st.integers(0, 10_000)),
    )


def expected_structure(a: Axes) -> Structure:
    """What the axes promise, written from the definitions."""
    keys = a.breadth * a.depth
    return Structure(
        depth=a.depth,
        horizon=a.horizon,
        breadth=a.breadth,
        parallel=a.parallel,
        components=a.parallel,
        longest_chain=math.ceil(a.breadth / a.parallel),
        max_in_degree=int(a.breadth > a.parallel),
        keys=keys,
        attacked=math.floor(a.robustness * keys + 0.5),
    )


# Which measures each axis may move; every other measure must stay put.
MOVES = {
    "depth": {"depth", "keys", "attacked"},
    "horizon": {"horizon"},
    "breadth": {"breadth", "longest_chain", "max_in_degree", "keys", "attacked"},
    "parallel": {"parallel", "components", "longest_chain", "max_in_degree"},
    "robustness": {"attacked"},
}


# -- ids ----------------------------------------------------------------------------------


def test_id_format_and_hand_checked_structure():
    a = parse_task_id("d3-h2-b4-p2-r0.2-s7")
    assert a == Axes(depth=3, horizon=2, breadth=4, parallel=2, robustness=0.2, seed=7)
    assert a.id == "d3-h2-b4-p2-r0.2-s7"
    assert parse_task_id("d1-h1-b1-p1-r0.00-s0").id == "d1-h1-b1-p1-r0-s0"
    assert parse_task_id("d1-h1-b1-p1-r1.0-s0").id == "d1-h1-b1-p1-r1-s0"
    task = generate(a)
    assert [s.name for s in task.subproblems] == ["Q1", "Q2", "Q3", "Q4"]
    assert [s.depends_on for s in task.subproblems] == [None, None, "Q1", "Q2"]
    assert [s.start is None for s in task.subproblems] == [False, False, True, True]
    # d=3, h=2: step 1 at turn 0, steps 2 and 3 at turn 1
    assert [step.reveal_turn for step in task.subproblems[0].steps] == [0, 1, 1]
    assert len(task.attacked_keys) == round(0.2 * 12)  # 2.4 -> 2


@given(axes())
def test_id_round_trips(a: Axes):
    assert parse_task_id(a.id) == a


@pytest.mark.parametrize(
    ("task_id", "message"),
    [
        ("d3-h2-b4", "expected d{depth}-h{horizon}-b{breadth}-p{parallel}-r{robustness}-s{seed}"),
        ("D3-h2-b4-p2-r0-s0", "e.g. 'd3-h2-b4-p2-r0.2-s7'"),
        ("d0-h2-b4-p2-r0-s0", "depth must be between 1 and 32, got 0"),
        ("d33-h2-b4-p2-r0-s0", "depth must be between 1 and 32, got 33"),
        ("d3-h0-b4-p2-r0-s0", "horizon must be between 1 and 32, got 0"),
        ("d3-h2-b17-p2-r0-s0", "breadth must be between 1 and 16, got 17"),
        ("d3-h2-b4-p5-r0-s0", "parallel must be between 1 and breadth (4), got 5"),
        ("d3-h2-b4-p0-r0-s0", "parallel must be between 1 and breadth (4), got 0"),
        ("d3-h2-b4-p2-r1.5-s0", "robustness must be between 0 and 1, got 1.5"),
        ("d3-h2-b4-p2-r0.125-s0", "robustness must have at most two decimals, got 0.125"),
    ],
)
def test_bad_ids_are_user_errors_naming_the_problem(task_id: str, message: str):
    with pytest.raises(UserError, match=re.escape(message)):
        parse_task_id(task_id)


def test_bad_axes_built_in_python_are_user_errors():
    with pytest.raises(UserError, match="parallel must be between 1 and breadth"):
        Axes(depth=3, horizon=2, breadth=2, parallel=3, robustness=0.0)
    with pytest.raises(UserError, match="seed must be >= 0"):
        Axes(depth=3, horizon=2, breadth=2, parallel=1, robustness=0.0, seed=-1)


# -- determinism --------------------------------------------------------------------------


@settings(max_examples=30)
@given(axes())
def test_same_id_same_task(a: Axes):
    first = generate(a)
    generate.cache_clear()
    again = generate(parse_task_id(a.id))
    assert again == first and again is not first


def test_seeds_give_different_tasks():
    tasks = [generate(parse_task_id(f"d4-h2-b3-p2-r0.5-s{s}")) for s in range(5)]
    assert len({tuple(t.answers.values()) for t in tasks}) == 5
    assert len({t.subproblems[0].steps for t in tasks}) == 5


# -- each axis changes only its own structure ---------------------------------------------


@given(axes())
def test_measured_structure_is_what_the_axes_promise(a: Axes):
    assert measure(generate(a)) == expected_structure(a)


@settings(max_examples=60)
@given(axes(), st.sampled_from(sorted(MOVES)), st.data())
def test_varying_one_axis_moves_only_its_measures(a: Axes, axis: str, data: st.DataObject):
    if axis == "robustness":
        value: float = data.draw(st.integers(0, 100)) / 100
    elif axis == "parallel":
        value = data.draw(st.integers(1, a.breadth))
    elif axis == "breadth":
        value = data.draw(st.integers(a.parallel, 10))
    else:
        value = data.draw(st.integers(1, 10))
    b = dataclasses.replace(a, **{axis: value})
    before = dataclasses.asdict(measure(generate(a)))
    after = dataclasses.asdict(measure(generate(b)))
    for name in before:
        if name not in MOVES[axis]:
            assert before[name] == after[name], (axis, name)
    assert after == dataclasses.asdict(expected_structure(b))


def _chains(task: MasTask) -> list[tuple[object, ...]]:
    return [
        (s.name, s.start, s.depends_on, [(t.op, t.key, t.value) for t in s.steps], s.answer)
        for s in task.subproblems
    ]


@given(axes(), st.integers(1, 10))
def test_horizon_changes_only_the_reveal_schedule(a: Axes, horizon: int):
    other = generate(dataclasses.replace(a, horizon=horizon))
    task = generate(a)
    assert _chains(other) == _chains(task)
    assert other.records == task.records


@given(axes(), st.integers(0, 100))
def test_robustness_adds_noise_to_the_same_chains(a: Axes, percent: int):
    low, high = sorted([a.robustness, percent / 100])
    weak = generate(dataclasses.replace(a, robustness=low))
    strong = generate(dataclasses.replace(a, robustness=high))
    assert _chains(weak) == _chains(strong)
    assert set(weak.attacked_keys) <= set(strong.attacked_keys)
    for key, records in strong.records:
        verified = [r for r in records if r.verified]
        assert len(verified) == 1 and len(records) == 1 + (key in strong.attacked_keys)
        assert verified == [r for r in weak.records_of(key) if r.verified]
        assert all(r.value != verified[0].value for r in records if not r.verified)


@given(st.integers(1, 32), st.integers(1, 32))
def test_reveal_schedule_ends_at_the_horizon(depth: int, horizon: int):
    turns = [reveal_turn(k, depth, horizon) for k in range(depth)]
    assert turns == sorted(turns) and turns[0] >= 0 and turns[-1] == horizon - 1
    assert len(set(turns)) == min(depth, horizon)  # no empty turn when depth >= horizon


# -- exact answers ------------------------------------------------------------------------

_STEP_RE = re.compile(
    r"^(add|subtract|multiply by|replace the number by its remainder after division by) "
    r"the value of (K\d+)$"
)
_OPS = {
    "add": lambda x, v: x + v,
    "subtract": lambda x, v: x - v,
    "multiply by": lambda x, v: x * v,
    "replace the number by its remainder after division by": lambda x, v: x % v,
}


def brute_force(task: MasTask) -> dict[str, int]:
    """Answers re-computed from the wording of the steps and the verified records."""
    out: dict[str, int] = {}
    for sub in task.subproblems:
        x = out[sub.depends_on] if sub.depends_on else sub.start
        assert x is not None
        for step in sub.steps:
            match = _STEP_RE.match(step.text)
            assert match, step.text
            (value,) = [r.value for r in task.records_of(match.group(2)) if r.verified]
            x = _OPS[match.group(1)](x, value)
            assert 2 <= x <= 999  # the running value never leaves its range
        out[sub.name] = x
    return out


@settings(max_examples=80)
@given(axes(max_depth=16, max_breadth=10))
def test_answers_match_a_brute_force_recomputation(a: Axes):
    task = generate(a)
    assert brute_force(task) == task.answers == solve(task)


def test_hand_checked_chain():
    task = generate(parse_task_id("d2-h1-b2-p1-r0-s3"))
    q1, q2 = task.subproblems
    x = q1.start
    assert x is not None
    for step in q1.steps:
        x = apply(step.op, x, step.value)
    assert x == q1.answer
    y = q1.answer
    for step in q2.steps:
        y = apply(step.op, y, step.value)
    assert (q2.depends_on, y) == ("Q1", q2.answer)
    assert apply("mod", 17, 5) == 2 and apply("subtract", 3, 5) == -2


@given(axes())
def test_trusting_the_first_record_is_right_without_noise(a: Axes):
    task = generate(dataclasses.replace(a, robustness=0.0))
    assert solve(task, "first") == task.answers
