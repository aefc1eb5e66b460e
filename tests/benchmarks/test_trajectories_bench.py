"""Smoke run of benchmarks/trajectories.py at a tiny size: the workload's turns all become
trajectories joined into one segment each (the script exits otherwise), and it prints the
per-turn costs it promises."""

from __future__ import annotations

import pytest

from tests.benchmarks.test_benchmarks_smoke import NUMBER, number, run_script

pytestmark = pytest.mark.slow


def test_trajectories_bench_prints_per_turn_costs() -> None:
    out = run_script(
        "trajectories.py", "--episodes", "6", "--agents", "2", "--steps", "3", "--repeat", "1"
    )
    assert "= 36 model turns" in out and "in 12 segments" in out
    assert number(rf"read \(Store.events\): {NUMBER} us per turn", out) > 0
    assert number(rf"trajectories: {NUMBER} us per turn", out) > 0
    assert number(rf"ratio {NUMBER} x read", out) > 0
    assert number(rf"batch \(grpo \+ samples\): {NUMBER} us per turn", out) > 0
