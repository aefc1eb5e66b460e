"""The suite's guard rails (tests/conftest.py): a per-test time limit near a minute, and
tests that ask for longer are marked so that `make test-fast` leaves them out."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFTEST = (Path(__file__).parent / "conftest.py").read_text(encoding="utf-8")


def test_the_suite_limit_is_near_a_minute() -> None:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    assert 30 <= int(options["ini_options"]["timeout"]) <= 90


def _suite(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makeconftest(CONFTEST)
    pytester.makeini("[pytest]\ntimeout = 60\nmarkers =\n    slow: slow\n")
    pytester.makepyfile(test_sample=body)
    return pytester.runpytest_subprocess("--collect-only", "-q")


def test_a_long_test_without_a_mark_is_refused(pytester: pytest.Pytester) -> None:
    result = _suite(
        pytester,
        "import pytest\n\n@pytest.mark.timeout(200)\ndef test_long():\n    pass\n",
    )
    assert result.ret != 0
    result.stderr.fnmatch_lines(
        ["*must also be marked*", "*test_sample.py::test_long (timeout 200 s)*"]
    )


def test_a_long_test_marked_slow_is_collected(pytester: pytest.Pytester) -> None:
    result = _suite(
        pytester,
        "import pytest\n\n@pytest.mark.slow\n@pytest.mark.timeout(200)\n"
        "def test_long():\n    pass\n\n@pytest.mark.timeout(30)\ndef test_short():\n    pass\n",
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*test_long*", "*test_short*"])
