"""Shared pieces of the `code.python` tests: sandboxes in both isolation modes, and a
check that a run left no process behind."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from palaestra.envs.code import CommandLimits, Sandbox
from palaestra.sandbox import isolation_problem

NO_BWRAP = isolation_problem()
"""Why the kernel sandbox cannot start here (None: it can)."""

BWRAP = pytest.param(
    "bwrap", marks=pytest.mark.skipif(NO_BWRAP is not None, reason=f"no sandbox: {NO_BWRAP}")
)
MODES = [BWRAP, "none"]
"""Isolation modes to test: the kernel sandbox (where it can start) and none."""


@pytest.fixture(params=MODES)
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    """A sandbox with tight limits, once with bubblewrap (where available), once without."""
    return Sandbox(CommandLimits(cpu_seconds=1, wall_seconds=3), isolation=request.param)


@pytest.fixture
def isolated() -> Sandbox:
    """A bubblewrap sandbox with tight limits (skips where it cannot start)."""
    if NO_BWRAP is not None:
        pytest.skip(f"no sandbox: {NO_BWRAP}")
    return Sandbox(CommandLimits(cpu_seconds=1, wall_seconds=3))


def processes_in(directory: str, *, settle_s: float = 2.0) -> list[int]:
    """Pids of the processes whose working directory is `directory` (or was, if it has
    been removed since), once none are left or `settle_s` has passed (a killed process
    takes a moment to go)."""
    deadline = time.monotonic() + settle_s
    while True:
        found = _processes_in(directory)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _processes_in(directory: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if cwd in (directory, f"{directory} (deleted)"):
            found.append(int(entry.name))
    return found
