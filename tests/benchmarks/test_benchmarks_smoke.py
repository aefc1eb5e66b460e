"""Smoke runs of the runtime benchmarks at tiny sizes: they start, finish, and print the
figures they promise (parsed here, so a broken or silent benchmark fails CI).

The figures themselves are not asserted against targets: timings on a shared CI machine
are not a test. `make bench` runs the benchmarks at full size.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"

pytestmark = pytest.mark.slow

NUMBER = r"([0-9][0-9,]*(?:\.[0-9]+)?)"


def run_script(name: str, *args: str) -> str:
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
    )
    assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def number(pattern: str, text: str) -> float:
    found = re.search(pattern, text)
    assert found, f"no line matching {pattern!r} in:\n{text}"
    return float(found.group(1).replace(",", ""))


def test_overhead_prints_per_call_costs_and_ratios() -> None:
    out = run_script(
        "overhead.py", "--episodes", "4", "--agents", "3", "--steps", "2", "--concurrency", "2",
        "--repeat", "1",
    )  # fmt: skip
    assert "= 24 model calls" in out
    assert number(rf"bare asyncio \(same environment and model.*\): {NUMBER} us per", out) > 0
    assert number(rf"under the runner's GC settings: {NUMBER} us per model call", out) > 0
    assert number(rf"no environment: {NUMBER} us per model call", out) > 0
    for keep in ("False", "True"):
        line = rf"palaestra \(keep_history={keep}\): {NUMBER} us per model call"
        assert number(line, out) > 0
        assert number(rf"keep_history={keep}\).*ratio {NUMBER} x bare", out) > 0
        # Per call: observation, model_request, model_response, action (4), plus per step
        # env_step (1/3 per call) and per episode start, score, end (3/6 per call).
        events = number(rf"recorded \(keep_history={keep}\): {NUMBER} events per model", out)
        assert events == pytest.approx(4 + 1 / 3 + 3 / 6, abs=0.01)
        assert number(rf"keep_history={keep}\): .*store {NUMBER} KiB per episode", out) > 0
    # The hand-written recorder writes as many events as palaestra does (the same log).
    assert number(rf"hand-written recorder .*: {NUMBER} us per model call", out) > 0
    hand = number(rf"hand-written recorder .*\({NUMBER} events per call\)", out)
    assert hand == pytest.approx(4 + 1 / 3 + 3 / 6, abs=0.01)
    assert number(rf"keep_history=False\).*, {NUMBER} x the hand-written recorder", out) > 0


def test_overhead_profile_lists_top_functions() -> None:
    args = ["--profile", "2", "--agents", "2", "--steps", "2", "--top", "40"]
    out = run_script("overhead.py", *args)
    assert number(rf"under cProfile, of which GC {NUMBER}", out) >= 0
    assert "--- top 40 by cumulative ---" in out
    assert "--- top 40 by tottime ---" in out
    cumulative = out.split("--- top 40 by cumulative ---")[1].split("--- top 40 by")[0]
    assert "_episode.py" in cumulative  # the episode loop shows up: palaestra was profiled


def test_concurrency_prints_throughput_against_ideal() -> None:
    out = run_script(
        "concurrency.py", "--n", "4", "--episodes", "8", "--calls", "2", "--delay", "0.02"
    )
    assert number(rf"ideal {NUMBER} model calls/s", out) == pytest.approx(200)
    for label in ("bare asyncio streams", "bare PooledTransport", "palaestra"):
        line = rf"(?m)^{label}: {NUMBER} model calls/s"
        rate = number(line, out)
        assert 0 < rate <= 200 * 1.05, f"{label}: {rate} calls/s beats the ideal"
        assert number(rf"(?m)^{label}: .*ratio {NUMBER} of ideal", out) > 0
        assert number(rf"(?m)^{label}: .*server peak in flight {NUMBER}", out) <= 4
