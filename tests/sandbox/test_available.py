"""The kernel sandbox starts on the machines `make test` prepares (it installs
bubblewrap): elsewhere the sandbox tests skip and say why, but in CI (`CI` set) a sandbox
that cannot start fails here, so the hostile-code battery is never skipped unnoticed."""

from __future__ import annotations

import os

import pytest

from palaestra.sandbox import isolation_available, isolation_problem


def test_the_sandbox_starts_where_make_test_installed_it() -> None:
    problem = isolation_problem()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"sandbox unavailable in CI, so its battery would skip: {problem}")
        pytest.skip(f"no sandbox here: {problem}")
    assert isolation_available()
