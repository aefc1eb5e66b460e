"""Registration of `code.workspace`."""

from __future__ import annotations

from palaestra.envs._registry import EnvSpec, register
from palaestra.envs.code._workspace_baseline import workspace_baseline
from palaestra.envs.code._workspace_env import WorkspaceEnv, WorkspaceParams

register(
    EnvSpec(
        id="code.workspace",
        factory=WorkspaceEnv,
        params=WorkspaceParams,
        description=(
            "code.python's tasks as a small repository (TASK.md, solution.py, "
            "test_solution.py) in a persistent bubblewrap workspace, worked on with a "
            "coding agent's tools (read_file, write_file, edit_file, list_files, shell, "
            "run_python, run_tests) and a submit tool; score = fraction of hidden tests "
            "the solution.py left in the workspace passes, run in a fresh sandbox."
        ),
        baseline=workspace_baseline,
    )
)
