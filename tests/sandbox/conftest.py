"""Shared pieces of the sandbox tests: a started workspace per test, and the host-side
checks every hostile case ends with (this process alive, its process tree back to what
it was before the call)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from palaestra.sandbox import CommandLimits, Workspace, isolation_problem

NO_BWRAP = isolation_problem()
"""Why the kernel sandbox cannot start here (None: it can)."""

needs_bwrap = pytest.mark.skipif(NO_BWRAP is not None, reason=f"no sandbox: {NO_BWRAP}")

TIGHT = CommandLimits(cpu_seconds=2, wall_seconds=5, memory_mb=256, max_processes=8)
"""Limits of the hostile cases: enough for a shell pipeline, little for a bomb."""


@pytest.fixture
async def workspace() -> AsyncIterator[Workspace]:
    """A started bubblewrap workspace with `TIGHT` limits, 16 MiB and 500 files."""
    if NO_BWRAP is not None:
        pytest.skip(f"no sandbox: {NO_BWRAP}")
    async with Workspace(limits=TIGHT, disk_mb=16, max_files=500) as started:
        yield started


def descendants(root: int | None = None) -> set[int]:
    """Pids of every process below `root` (this process by default), from /proc."""
    root = os.getpid() if root is None else root
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name (2nd field) may hold spaces and parentheses: split after it
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    found: set[int] = set()
    frontier = [root]
    while frontier:
        current = frontier.pop()
        children = [pid for pid, parent in parents.items() if parent == current]
        found.update(children)
        frontier += children
    return found


def settle_to(baseline: set[int], *, timeout_s: float = 3.0) -> set[int]:
    """This process's descendants once they are back to `baseline` (or the timeout has
    passed: killed processes take a moment to be reaped)."""
    deadline = time.monotonic() + timeout_s
    while True:
        now = descendants()
        if now <= baseline or time.monotonic() > deadline:
            return now - baseline
        time.sleep(0.05)


def processes_with(argument: str) -> list[int]:
    """Pids of the host's processes whose command line contains `argument`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and argument.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found
