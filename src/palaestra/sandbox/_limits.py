"""What a sandboxed command may use (`CommandLimits`) and what came out of it (`ExecResult`)."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

KilledBy = Literal["cpu", "memory", "wall", "output", "file_size", "disk", "processes", "signal"]
"""Which limit ended a run:

- ``cpu``: the CPU-time limit (``RLIMIT_CPU``: the kernel sent ``SIGXCPU``);
- ``memory``: the address-space limit (``RLIMIT_AS``: an uncaught `MemoryError`);
- ``wall``: the wall-clock timeout (the host killed the whole sandbox);
- ``output``: stdout or stderr went past ``max_output_bytes`` (the host killed it);
- ``file_size``: a file went past ``max_file_mb`` (``RLIMIT_FSIZE``);
- ``disk``: the workspace is full (its tmpfs's size or file-count cap: ``ENOSPC``);
- ``processes``: a process could not be started (``RLIMIT_NPROC``);
- ``signal``: another signal killed it (e.g. ``SIGSEGV``, or the kernel's OOM killer).
"""


class CommandLimits(BaseModel):
    """Resource limits of one sandboxed command (every field has a safe default).

    The kernel enforces each: ``setrlimit`` (soft = hard) for CPU, address space, file
    size, open files and processes; the host for the wall clock and the output caps. The
    workspace's disk and file-count caps belong to the `Workspace` (they are its
    tmpfs's), not to a command.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    cpu_seconds: int = Field(
        default=2, ge=1, le=600, description="CPU seconds (RLIMIT_CPU) per process."
    )
    memory_mb: int = Field(
        default=256, ge=32, le=65536, description="Address space in MiB (RLIMIT_AS) per process."
    )
    wall_seconds: float = Field(
        default=5.0, gt=0, le=600, description="Wall-clock seconds before the run is killed."
    )
    max_output_bytes: int = Field(
        default=16_000,
        ge=1,
        le=10_000_000,
        description="Bytes kept of stdout and of stderr (each); more ends the run.",
    )
    max_processes: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Processes (and threads) the command may run, itself included (1: no "
        "fork). RLIMIT_NPROC of the sandbox's own user, counted per sandbox; not applied "
        "with isolation none (it would count all of the host user's processes).",
    )
    max_file_mb: int = Field(
        default=16, ge=1, le=4096, description="Largest file the snippet may write, in MiB."
    )
    max_open_files: int = Field(
        default=64, ge=16, le=4096, description="Open file descriptors (RLIMIT_NOFILE)."
    )


@dataclass(frozen=True)
class ExecResult:
    """The outcome of one sandboxed run."""

    stdout: str
    """What the snippet printed (at most ``max_output_bytes``, decoded as UTF-8)."""
    stderr: str
    """Its error output: tracebacks, limit messages (same cap)."""
    exit_code: int | None
    """Exit status of the snippet's process; None when it was killed by a signal."""
    signal: int | None
    """The signal that killed it, if one did (our wall-clock kill included)."""
    timed_out: bool
    """The wall-clock limit ran out (then ``killed_by == "wall"``)."""
    killed_by: KilledBy | None
    """Which limit ended the run, if one did."""
    stdout_truncated: bool
    """stdout went past the cap; the rest was discarded."""
    stderr_truncated: bool
    """stderr went past the cap; the rest was discarded."""
    duration_s: float
    """Wall-clock seconds from start to the end of the run (not recorded in logs)."""
    limits: CommandLimits
    """The limits the run had."""
    isolated: bool
    """Whether it ran isolated by the kernel (bubblewrap: user, mount, PID, network, IPC
    and UTS namespaces); False only under the explicit ``isolation="none"``."""

    @property
    def ok(self) -> bool:
        """It ran to the end and exited with status 0."""
        return self.exit_code == 0 and self.killed_by is None

    @property
    def truncated(self) -> bool:
        """stdout or stderr was cut."""
        return self.stdout_truncated or self.stderr_truncated

    def limit_message(self) -> str:
        """One sentence on the limit that ended the run ('' when none did)."""
        limits = self.limits
        messages = {
            "cpu": f"killed: CPU time limit of {limits.cpu_seconds} s exceeded",
            "memory": f"stopped: memory limit of {limits.memory_mb} MiB exceeded (MemoryError)",
            "wall": f"killed: wall-clock limit of {limits.wall_seconds:g} s exceeded",
            "output": (
                f"killed: output went past {limits.max_output_bytes} bytes; "
                "print less (the rest was discarded)"
            ),
            "file_size": f"stopped: a file went past the {limits.max_file_mb} MiB limit",
            "disk": "stopped: the workspace is full (its disk or file-count limit)",
            "processes": (f"stopped: process limit reached (max_processes={limits.max_processes})"),
            "signal": f"killed by signal {_signal_name(self.signal)}",
        }
        return messages[self.killed_by] if self.killed_by else ""

    def render(self) -> str:
        """The result as a model reads it: exit status, limit, stdout, stderr."""
        if self.exit_code is not None:
            status = f"exit code: {self.exit_code}"
        else:
            status = f"exit code: none (killed by {_signal_name(self.signal)})"
        lines = [status]
        if self.killed_by:
            lines.append(self.limit_message())
        for name, text, cut in (
            ("stdout", self.stdout, self.stdout_truncated),
            ("stderr", self.stderr, self.stderr_truncated),
        ):
            if text or cut:
                lines.append(f"{name}:\n{text.rstrip(chr(10))}")
                if cut:
                    lines.append(f"[{name} truncated at {self.limits.max_output_bytes} bytes]")
        if len(lines) == 1 and self.exit_code == 0:
            lines.append("(no output)")
        return "\n".join(lines)


def _signal_name(number: int | None) -> str:
    if number is None:
        return "unknown signal"
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
