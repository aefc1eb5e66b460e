"""Smoke run of `benchmarks/sandbox.py` at a tiny size: it starts, finishes, checks every
output, and prints the table it promises (parsed here, so a broken or silent benchmark
fails CI). The figures are not asserted against targets: timings on a shared machine are
not a test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from palaestra.sandbox import isolation_problem

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        isolation_problem() is not None, reason=f"no sandbox: {isolation_problem()}"
    ),
]

NUMBER = r"([0-9][0-9,]*(?:\.[0-9]+)?)"


def test_sandbox_benchmark_prints_rates_ratios_and_start_cost() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "sandbox.py"), "--calls", "4",
         "--concurrency", "2", "--repeat", "1", "--starts", "2"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )  # fmt: skip
    assert done.returncode == 0, f"sandbox.py failed:\n{done.stdout}\n{done.stderr}"
    out = done.stdout
    assert "workload: 4 calls of print('ok'), sequential and 2 in flight" in out
    labels = [
        "bare python -I -S -c",
        "workspace, bwrap",
        "sandbox, bwrap (fresh workspace)",
        "workspace, isolation none",
    ]
    rates = {}
    for label in labels:
        row = re.search(rf"(?m)^{re.escape(label)}:\s+" + r"\s+".join([NUMBER] * 5) + "$", out)
        assert row, f"no row for {label!r} in:\n{out}"
        seq, ms, conc, seq_ratio, conc_ratio = (float(g.replace(",", "")) for g in row.groups())
        assert seq > 0 and conc > 0 and seq_ratio > 0 and conc_ratio > 0
        assert ms == pytest.approx(1000 / seq, rel=0.01, abs=0.01)
        rates[label] = seq_ratio
    assert rates["bare python -I -S -c"] == 1.0  # the baseline's ratio to itself
    for isolation in ("bwrap", "none"):
        start = re.search(rf"(?m)^  isolation {isolation}: {NUMBER} ms$", out)
        assert start and float(start.group(1)) > 0, out
