"""Smoke run of benchmarks/assurance.py at a tiny size: every variant's episodes succeed
(the script exits otherwise) and it prints a per-event cost and ratio for each, with the
verdict and governance events each variant must add."""

from __future__ import annotations

import pytest

from tests.benchmarks.test_benchmarks_smoke import NUMBER, number, run_script

pytestmark = pytest.mark.slow


def test_assurance_prints_cost_per_event_and_ratio() -> None:
    out = run_script("assurance.py", "--episodes", "3", "--steps", "2", "--repeat", "1")
    assert "workload: 3 episodes x 2 agents x 2 steps" in out
    # 2 agents x 2 steps: 4 tool calls decided; 8 contracts, one verdict each
    added = {"plain": 0, "contracts": 8, "governance": 4, "both": 12}
    for variant, events in added.items():
        assert number(rf"(?m)^{variant} +{NUMBER} us per event", out) > 0
        assert number(rf"(?m)^{variant} .*ratio {NUMBER} x plain", out) > 0
        assert number(rf"(?m)^{variant} .*\(\+{NUMBER} verdict", out) == events
    assert number(r"(?m)^plain .*ratio (\d+\.\d+) x plain", out) == 1.0
