"""Smoke run of `benchmarks/exports.py` at a tiny size: it starts, finishes (its imports
check the trailer) and prints the figures it promises. The figures are not asserted
against targets: timings on a shared machine are not a test."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_exports_benchmark_prints_its_figures() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "exports.py"), "--episodes", "3",
         "--repeat", "1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )  # fmt: skip
    assert done.returncode == 0, f"exports.py failed:\n{done.stdout}\n{done.stderr}"
    out = done.stdout
    assert re.search(r"run: 3 episodes, [0-9,]+ events, [0-9.]+ MB as JSONL", out), out
    for label in (
        r"export, trailer \+ atomic write: [0-9.]+ ms",
        r"export, plain open\(\): [0-9.]+ ms",
        r"export ratio: [0-9.]+ x plain",
        r"import, trailer checked: [0-9.]+ ms",
        r"SHA-256 of the file alone: [0-9.]+ ms \([0-9.]+% of the import\)",
    ):
        assert re.search(label, out), f"no {label!r} in:\n{out}"
