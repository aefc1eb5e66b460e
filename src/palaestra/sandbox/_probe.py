"""Whether the kernel isolation can start here, and why not (`isolation_problem`).

There is no silent downgrade: where bubblewrap or user namespaces are missing, running
agent code is refused with `SandboxUnavailable`, whose message says what failed and how
to enable it. `isolation="none"` is the only way to run without the kernel's boundary,
and it is an explicit choice.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
from typing import Literal

from palaestra.core import UserError

Isolation = Literal["bwrap", "none"]
"""How agent code runs: ``bwrap`` (the default): in a bubblewrap sandbox (new user, mount,
PID, network, IPC and UTS namespaces, a non-root uid, a size-capped workspace);
``none``: a plain subprocess with resource limits only, on the host's file system and
network. ``none`` contains nothing a hostile program does and is an explicit opt-in."""

ISOLATIONS: tuple[Isolation, ...] = ("bwrap", "none")

PROGRAMS = ("bwrap", "unshare", "nsenter", "mount")
"""Programs the isolation needs: bubblewrap (Debian's ``bubblewrap``) and util-linux's
``unshare``, ``nsenter`` and ``mount`` (the workspace's tmpfs is mounted by a holder
process in a private mount namespace)."""

HOW_TO_ENABLE = (
    "install bubblewrap (Debian/Ubuntu: `apt-get install bubblewrap`; `make install` does "
    "it), and allow unprivileged user namespaces: `sysctl -w user.max_user_namespaces=15000`"
    ", on Debian kernels `sysctl -w kernel.unprivileged_userns_clone=1`, on Ubuntu 24.04 "
    "`sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`; inside Docker run the "
    "container with `--security-opt seccomp=unconfined --security-opt apparmor=unconfined`"
    " (or `--privileged`). Or opt out explicitly with isolation: none, which contains "
    "nothing (docs/sandbox.md)"
)


class SandboxUnavailable(UserError):
    """The kernel isolation cannot start on this machine; agent code was not run."""


def validate_isolation(isolation: str) -> Isolation:
    """`isolation` as an `Isolation`, or a `UserError` naming the valid choices."""
    if isolation not in ISOLATIONS:
        raise UserError(
            f"unknown isolation {isolation!r}; valid choices: {', '.join(ISOLATIONS)} "
            "(bwrap: the kernel sandbox; none: no isolation, an explicit opt-in)"
        )
    return isolation


def static_problem() -> str | None:
    """What is missing before anything is tried (None: nothing obvious)."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux namespaces; this is {sys.platform}"
    missing = [name for name in PROGRAMS if shutil.which(name) is None]
    if missing:
        return f"missing program(s): {', '.join(missing)}"
    try:
        with open("/proc/sys/user/max_user_namespaces", encoding="ascii") as file:
            if int(file.read().strip() or "0") == 0:
                return "user namespaces are disabled (user.max_user_namespaces = 0)"
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/sys/kernel/unprivileged_userns_clone", encoding="ascii") as file:
            if file.read().strip() == "0" and os.geteuid() != 0:
                return "unprivileged user namespaces are disabled (unprivileged_userns_clone = 0)"
    except OSError:
        pass
    return None


def unavailable(problem: str) -> SandboxUnavailable:
    """The error for `problem`, with how to enable the isolation."""
    return SandboxUnavailable(
        f"cannot run agent code isolated: {problem.strip()}. To enable it: {HOW_TO_ENABLE}"
    )


@functools.cache
def isolation_problem() -> str | None:
    """Why the bubblewrap sandbox cannot start here (None when it can), found by starting
    a workspace and running ``true`` in it (once per process)."""
    problem = static_problem()
    if problem is not None:
        return problem
    from palaestra.sandbox._holder import probe_run

    return probe_run()


def isolation_available() -> bool:
    """Whether agent code can run in the bubblewrap sandbox on this machine."""
    return isolation_problem() is None


def require_isolation() -> None:
    """Raise `SandboxUnavailable` (why, and how to enable it) unless the sandbox works."""
    problem = isolation_problem()
    if problem is not None:
        raise unavailable(problem)
