"""`benchmarks/viewer.py` at a tiny size: it builds its store, times every endpoint and
prints the ratio to raw sqlite3 (the figures themselves are not asserted: timings on a
shared CI machine are not a test; `make bench` runs it at one million events)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_viewer_benchmark_prints_every_endpoint() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "viewer.py"),
         "--events", "20000", "--long-events", "2000", "--repeat", "1"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    built = re.search(r"store: ([0-9,]+) events in ([0-9,]+) episodes of 4 runs", out)
    assert built, out
    assert 19_000 <= int(built.group(1).replace(",", "")) <= 20_000
    for name in (
        "runs: first page",
        "episodes: first page",
        "episodes: filter",
        "events: an episode's first page",
        "events: page after seq",
        "event: one",
    ):
        line = next((line for line in out.splitlines() if line.startswith(name)), None)
        assert line, f"no line for {name!r} in:\n{out}"
        figures = [float(x) for x in re.findall(r"[0-9]+\.[0-9]+", line[36:])]
        assert len(figures) == 4 and all(x > 0 for x in figures), line  # api, reader, raw, ratio
