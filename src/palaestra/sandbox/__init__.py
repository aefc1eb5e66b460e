"""The one place agent-written code runs: bubblewrap namespaces, a non-root uid, a
size-capped workspace, kernel limits (docs/sandbox.md states the threat model).

- `Workspace`: a sandboxed directory an episode holds across calls; `run`, `shell` and
  `run_python` start each command in a fresh bubblewrap sandbox (new user, mount, PID,
  network, IPC and UTS namespaces; uid 1000 inside, mapped to no privilege outside; the
  interpreter and ``/usr`` read-only; the workspace on a tmpfs capped in bytes and
  files); the host reads and writes its files without following links
  (`read_text`, `write_text`, `list_files`...) and records `manifest()` at the end.
- `Sandbox`: one command in a fresh workspace, destroyed after it (``code.python``'s
  hidden tests, scorers that execute output).
- `Limits` / `ExecResult`: what a command may use and what came out of it.

Where the kernel sandbox cannot start, `SandboxUnavailable` says why and how to enable
it; ``isolation="none"`` is the explicit, logged opt-out.
"""

from palaestra.sandbox._files import FileEntry, Manifest, WorkspaceFileError
from palaestra.sandbox._holder import CALL_DIR, DATA, SANDBOX_UID, WORKSPACE
from palaestra.sandbox._limits import ExecResult, KilledBy, Limits
from palaestra.sandbox._probe import (
    ISOLATIONS,
    Isolation,
    SandboxUnavailable,
    isolation_available,
    isolation_problem,
    require_isolation,
)
from palaestra.sandbox._sandbox import Sandbox, run_python
from palaestra.sandbox._workspace import NO_ISOLATION_WARNING, Workspace

__all__ = [
    "CALL_DIR",
    "DATA",
    "ISOLATIONS",
    "NO_ISOLATION_WARNING",
    "SANDBOX_UID",
    "WORKSPACE",
    "ExecResult",
    "FileEntry",
    "Isolation",
    "KilledBy",
    "Limits",
    "Manifest",
    "Sandbox",
    "SandboxUnavailable",
    "Workspace",
    "WorkspaceFileError",
    "isolation_available",
    "isolation_problem",
    "require_isolation",
    "run_python",
]
