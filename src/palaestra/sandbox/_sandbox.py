"""`Sandbox`: one command in a fresh `Workspace`, destroyed after it.

For code that needs no state between runs: ``code.python``'s hidden tests, scorers that
execute an answer. A workspace that lives across calls is a `Workspace`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from palaestra.sandbox._limits import CommandLimits, ExecResult
from palaestra.sandbox._probe import Isolation, require_isolation, validate_isolation
from palaestra.sandbox._workspace import Workspace


class Sandbox:
    """Runs each command in a workspace of its own (`Workspace`'s arguments apply to
    each), so nothing carries over from one run to the next.

    Constructing it with ``isolation="bwrap"`` (the default) checks that the kernel
    sandbox can start here and raises `SandboxUnavailable` (why, and how to enable it)
    where it cannot: untrusted code is never run with less than asked for.
    """

    def __init__(
        self,
        limits: CommandLimits | None = None,
        *,
        isolation: Isolation = "bwrap",
        disk_mb: int = 64,
        max_files: int = 10_000,
        python_paths: Sequence[str] = (),
    ) -> None:
        self.isolation: Isolation = validate_isolation(isolation)
        if self.isolation == "bwrap":
            require_isolation()
        self.limits = limits if limits is not None else CommandLimits()
        self.disk_mb = disk_mb
        self.max_files = max_files
        self.python_paths = list(python_paths)

    @property
    def isolated(self) -> bool:
        """Whether runs are in the kernel sandbox (False only with isolation none)."""
        return self.isolation == "bwrap"

    def workspace(self, *, data: str | None = None) -> Workspace:
        """A new (not yet started) workspace with this sandbox's settings."""
        return Workspace(
            limits=self.limits,
            disk_mb=self.disk_mb,
            max_files=self.max_files,
            data=data,
            python_paths=self.python_paths,
            isolation=self.isolation,
        )

    async def run_python(
        self,
        code: str,
        *,
        limits: CommandLimits | None = None,
        files: Mapping[str, str] | None = None,
        stdin: bytes | str | None = None,
    ) -> ExecResult:
        """`Workspace.run_python` in a fresh workspace."""
        async with self.workspace() as workspace:
            return await workspace.run_python(code, limits=limits, files=files, stdin=stdin)

    async def run(
        self,
        argv: Sequence[str],
        *,
        limits: CommandLimits | None = None,
        stdin: bytes | str | None = None,
    ) -> ExecResult:
        """`Workspace.run` in a fresh workspace."""
        async with self.workspace() as workspace:
            return await workspace.run(argv, limits=limits, stdin=stdin)


async def run_python(code: str, *, limits: CommandLimits | None = None) -> ExecResult:
    """Run `code` in a default `Sandbox` (bubblewrap; `SandboxUnavailable` without it)."""
    return await Sandbox(limits).run_python(code)
