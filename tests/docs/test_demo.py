"""`make demo`'s experiment, end to end, on the embedded model (slow: a real LLM)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)  # builds and runs the embedded model end to end
@pytest.mark.slow
@pytest.mark.llm
def test_demo_runs_end_to_end(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "palaestra",
            "run",
            str(ROOT / "examples" / "demo.yaml"),
            "--store",
            str(tmp_path / "demo.db"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for label in (
        "coloring-ws8-baseline",
        "store-baseline",
        "coloring-n4-smollm2",
        "store-smollm2",
    ):
        assert label in out
    baseline_row = next(line for line in out.splitlines() if "store-baseline" in line)
    assert "100%" in baseline_row
    llm_row = next(line for line in out.splitlines() if "coloring-n4-smollm2" in line)
    tokens = int(llm_row.split("│")[9].strip().replace(",", ""))
    assert tokens > 0
    assert "--model openai:" in out
