"""Smoke run of benchmarks/config_loader.py at a small size: it refuses the three hostile
files (naming the limit) and prints the loader's time against PyYAML's with ratios."""

from __future__ import annotations

import pytest

from tests.benchmarks.test_benchmarks_smoke import NUMBER, number, run_script

pytestmark = pytest.mark.slow


def test_config_loader_prints_refusals_and_ratios() -> None:
    out = run_script("config_loader.py", "--jobs", "20", "--comments-mib", "0.1", "--repeat", "1")
    for name, limit in (
        ("alias bomb 9x9", "597,871 nodes with aliases expanded"),
        ("nesting 1,000", "nesting too deep"),
        ("50 MB of comments", "52,428,800 bytes"),
    ):
        assert number(rf"refused {name}: {NUMBER} ms", out) >= 0
        assert number(rf"refused {name}: .*peak {NUMBER} MB", out) < 5
        assert f"({limit}" in out
    for name in ("0.1 MiB of comments", "experiment of 20 jobs"):
        assert number(rf"{name}.*: load_yaml {NUMBER} ms", out) > 0
        assert number(rf"{name}.*ratio {NUMBER} x safe_load", out) > 0
        assert number(rf"{name}.*, {NUMBER} x CSafeLoader", out) > 0
