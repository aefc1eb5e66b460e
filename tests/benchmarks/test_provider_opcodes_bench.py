"""Smoke run of benchmarks/provider_opcodes.py at a tiny size: it counts the provider's
Python work per call against the local server, and the re-sent call (which the script
checks is recorded as a `resent` attempt) costs more than a plain one."""

from __future__ import annotations

import pytest

from tests.benchmarks.test_benchmarks_smoke import NUMBER, number, run_script

pytestmark = pytest.mark.slow


def test_provider_opcodes_prints_counts_per_call() -> None:
    out = run_script("provider_opcodes.py", "--calls", "3")
    ours = number(rf"(?m)^ +{NUMBER} +palaestra in all$", out)
    everything = number(rf"(?m)^ +{NUMBER} +all Python code", out)
    resent = number(rf"re-sent: {NUMBER} in all", out)
    assert 0 < ours < everything < resent
    assert number(rf"(?m)^ +{NUMBER} +palaestra/models/_transport.py$", out) > 0
