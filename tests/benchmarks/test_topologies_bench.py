"""Smoke run of benchmarks/topologies.py at tiny sizes: it starts, every topology's
episodes succeed (the script exits otherwise), and it prints the figures it promises,
with the model calls per step each topology must make."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.benchmarks.test_benchmarks_smoke import BENCHMARKS, NUMBER, ROOT, number, run_script

pytestmark = pytest.mark.slow

CALLS_PER_STEP = {
    "bare llm operator": 1,
    "single": 1,
    "independent": 3,  # three voters
    "centralized": 4,  # orchestrator twice (plan, final) + two workers
    "decentralized": 6,  # three peers x two rounds
    "hybrid": 6,  # coordinator twice + two workers x two rounds
    "recursive": 5,  # atomizer, planner, two executors, aggregator
    "pipeline": 3,  # three stages
}


def test_topologies_prints_costs_per_call_and_per_step() -> None:
    out = run_script(
        "topologies.py", "--episodes", "3", "--steps", "2", "--concurrency", "2", "--repeat", "1"
    )
    assert "workload: 3 episodes x 2 steps" in out
    for label, calls in CALLS_PER_STEP.items():
        line = rf"(?m)^{label}: {NUMBER} us per model call \({NUMBER} calls per step\)"
        assert number(line, out) > 0
        assert number(rf"(?m)^{label}: .*\({NUMBER} calls per step\)", out) == calls
        ratio = number(rf"(?m)^{label}: .*ratio {NUMBER} x bare per step", out)
        assert ratio > 0
        assert number(rf"(?m)^{label}: .*; {NUMBER} events per model call", out) > 1
        if calls > 1:
            assert re.search(rf"(?m)^{label}: .* us per added model call", out)
    assert number(r"(?m)^bare llm operator: .*ratio (\S+) x bare", out) == 1.0


def test_only_rejects_unknown_variants() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "topologies.py"), "--only", "star"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2 and "unknown variants ['star']" in done.stderr
