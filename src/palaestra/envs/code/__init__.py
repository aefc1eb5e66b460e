"""Python coding with execution-verified tasks (rStar2-Agent / R2E-Gym style): an agent
writes a function, tries code with a sandboxed `run_python` tool and submits; the score is
the fraction of hidden tests its code passes, run in the same sandbox.

Importing this package registers `code.python` (params: `num_tasks`, `task_seed`,
`max_turns`, the sandbox limits and `isolation`) with its oracle baseline, and
`code.workspace`: the same tasks as a small repository in a persistent workspace, worked
on with the workspace tools of `palaestra.sandbox` (read_file, edit_file, shell,
run_tests...) and graded on the ``solution.py`` left there. Code runs in
`palaestra.sandbox` (bubblewrap); `Sandbox`, `CommandLimits`, `ExecResult` and `run_python` are
re-exported here from there.
"""

from palaestra.envs.code import (
    _suite,  # noqa: F401  (registers code.python)
    _workspace_suite,  # noqa: F401  (registers code.workspace)
)
from palaestra.envs.code._baseline import CodeBaseline, code_baseline
from palaestra.envs.code._blueprint import EXAMPLES, TESTS, Blueprint, Family
from palaestra.envs.code._env import TOOLS, CodeEnv, CodeParams
from palaestra.envs.code._task_env import AGENT
from palaestra.envs.code._tasks import (
    FAMILIES,
    CodeTask,
    Example,
    SubmissionResult,
    TaskSet,
    build_task,
    judge,
    task_id,
    verify,
)
from palaestra.envs.code._workspace_baseline import WorkspaceBaseline, workspace_baseline
from palaestra.envs.code._workspace_env import WorkspaceEnv, WorkspaceParams
from palaestra.sandbox import CommandLimits, ExecResult, Isolation, KilledBy, Sandbox, run_python

__all__ = [
    "AGENT",
    "EXAMPLES",
    "FAMILIES",
    "TESTS",
    "TOOLS",
    "Blueprint",
    "CodeBaseline",
    "CodeEnv",
    "CodeParams",
    "CodeTask",
    "CommandLimits",
    "Example",
    "ExecResult",
    "Family",
    "Isolation",
    "KilledBy",
    "Sandbox",
    "SubmissionResult",
    "TaskSet",
    "WorkspaceBaseline",
    "WorkspaceEnv",
    "WorkspaceParams",
    "build_task",
    "code_baseline",
    "judge",
    "run_python",
    "task_id",
    "verify",
    "workspace_baseline",
]
