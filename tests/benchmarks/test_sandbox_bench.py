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

from palaestra.envs.code import namespaces_available

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

NUMBER = r"([0-9][0-9,]*(?:\.[0-9]+)?)"


def test_sandbox_benchmark_prints_rates_and_ratios() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "sandbox.py"), "--calls", "4",
         "--concurrency", "2", "--repeat", "1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )  # fmt: skip
    assert done.returncode == 0, f"sandbox.py failed:\n{done.stdout}\n{done.stderr}"
    out = done.stdout
    assert "workload: 4 calls of print('ok'), sequential and 2 in flight" in out
    labels = ["bare python -c", "bare python -I -S -c", "sandbox, no namespaces"]
    if namespaces_available():
        labels += ["sandbox, namespaces", "sandbox, namespaces, no hook"]
    for label in labels:
        row = re.search(rf"(?m)^{re.escape(label)}:\s+" + r"\s+".join([NUMBER] * 5) + "$", out)
        assert row, f"no row for {label!r} in:\n{out}"
        seq, ms, conc, seq_ratio, conc_ratio = (float(g.replace(",", "")) for g in row.groups())
        assert seq > 0 and conc > 0 and seq_ratio > 0 and conc_ratio > 0
        assert ms == pytest.approx(1000 / seq, rel=0.01, abs=0.01)
    first = re.search(rf"(?m)^bare python -c:\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}\s+{NUMBER}", out)
    assert first and float(first.group(4)) == 1.0  # the baseline's ratio to itself
