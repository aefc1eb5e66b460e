"""Smoke run of `benchmarks/episode_end.py` at a tiny size: it finishes, checks every
manifest, and prints a manifest and a teardown time for each workspace shape (parsed
here). The figures are not asserted against targets: timings on a shared machine are
not a test."""

from __future__ import annotations

import pytest

from palaestra.sandbox import isolation_problem
from tests.benchmarks.test_benchmarks_smoke import NUMBER, number, run_script

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        isolation_problem() is not None, reason=f"no sandbox: {isolation_problem()}"
    ),
]


def test_episode_end_prints_manifest_and_teardown_times() -> None:
    out = run_script("episode_end.py", "--repeat", "1")
    assert "medians of 1 workspaces per shape" in out
    for shape in ("3 files of 1 KB", "200 files of 80 KB", "2,000 files of 1 KB"):
        assert number(rf"(?m)^{shape} .*: manifest {NUMBER} ms", out) >= 0
        assert number(rf"(?m)^{shape} .*teardown {NUMBER} ms", out) >= 0
