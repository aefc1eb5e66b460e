"""Smoke run of benchmarks/hostile_input.py at a tiny size: it prints the guard's cost per
request and the escaping's cost per text, with ratios, and escapes only the hostile text."""

from __future__ import annotations

import pytest

from tests.benchmarks.test_benchmarks_smoke import NUMBER, number, run_script

pytestmark = pytest.mark.slow


def test_hostile_input_prints_guard_and_escaping_costs() -> None:
    out = run_script("hostile_input.py", "--requests", "200", "--chars", "2000", "--repeat", "1")
    assert number(rf"bare ASGI app: {NUMBER} us per request", out) > 0
    assert number(rf"with the guard .*: {NUMBER} us per request", out) > 0
    assert number(rf"with the guard .*ratio {NUMBER} x bare", out) > 0
    for name in ("ascii", "scripts", "hostile"):
        assert number(rf"printable {name}: {NUMBER} ms per 2,000 chars", out) >= 0
        assert number(rf"printable {name}: .*ratio {NUMBER} x translate", out) > 0
    assert number(rf"printable ascii: .*\({NUMBER} characters of escapes", out) == 0
    assert number(rf"printable hostile: .*\({NUMBER} characters of escapes", out) > 0
