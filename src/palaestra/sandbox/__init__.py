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
- `CommandLimits` / `ExecResult`: what a command may use and what came out of it.

Tools on a workspace (docs/sandbox.md, "Tools on a workspace"):

- `workspace_tools(workspace)`: ``read_file``, ``write_file``, ``edit_file``,
  ``list_files``, ``shell``, ``run_python`` and ``run_tests`` as palaestra `Tool` objects
  bound to one workspace (bounded outputs; the model's mistakes are tool errors);
- `EpisodeWorkspace`: a workspace and those tools for one episode of an environment,
  offered as environment tools; its manifest (`Manifest`, the core
  `WorkspaceManifest`) recorded as a ``workspace`` event at the episode's end;
- `run_tests` / `TestRun`: pytest in the sandbox with a result per test; `pytest_paths`
  makes pytest importable there (read-only), without the host's site-packages.

Where the kernel sandbox cannot start, `SandboxUnavailable` says why and how to enable
it; ``isolation="none"`` is the explicit, logged opt-out.
"""

from palaestra.sandbox._episode import EpisodeWorkspace, isolation_event
from palaestra.sandbox._files import FileEntry, Manifest, WorkspaceFileError
from palaestra.sandbox._holder import DATA, WORKSPACE
from palaestra.sandbox._limits import CommandLimits, ExecResult, KilledBy
from palaestra.sandbox._probe import (
    ISOLATIONS,
    Isolation,
    SandboxUnavailable,
    isolation_available,
    isolation_problem,
    require_isolation,
)
from palaestra.sandbox._pytest_run import TestCase, TestRun, pytest_paths, run_tests
from palaestra.sandbox._sandbox import Sandbox, run_python
from palaestra.sandbox._tools import TOOL_NAMES, workspace_tools
from palaestra.sandbox._workspace import Workspace

__all__ = [
    "DATA",
    "ISOLATIONS",
    "TOOL_NAMES",
    "WORKSPACE",
    "CommandLimits",
    "EpisodeWorkspace",
    "ExecResult",
    "FileEntry",
    "Isolation",
    "KilledBy",
    "Manifest",
    "Sandbox",
    "SandboxUnavailable",
    "TestCase",
    "TestRun",
    "Workspace",
    "WorkspaceFileError",
    "isolation_available",
    "isolation_event",
    "isolation_problem",
    "pytest_paths",
    "require_isolation",
    "run_python",
    "run_tests",
    "workspace_tools",
]
