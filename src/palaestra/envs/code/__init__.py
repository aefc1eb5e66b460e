"""Python coding with execution-verified tasks (rStar2-Agent / R2E-Gym style): an agent
writes a function, tries code with a sandboxed `run_python` tool and submits; the score is
the fraction of hidden tests its code passes, run in the same sandbox.

Importing this package registers `code.python` (params: `num_tasks`, `task_seed`,
`max_turns`, and the sandbox limits) with its oracle baseline. The sandbox is usable on
its own: ``await Sandbox().run_python("print(1)")`` (see `Sandbox` for what it contains,
and how).
"""

from palaestra.envs.code import _suite  # noqa: F401  (registers code.python)
from palaestra.envs.code._baseline import CodeBaseline, code_baseline
from palaestra.envs.code._blueprint import EXAMPLES, TESTS, Blueprint, Family
from palaestra.envs.code._env import AGENT, TOOLS, CodeEnv, CodeParams
from palaestra.envs.code._limits import ExecResult, KilledBy, Limits
from palaestra.envs.code._sandbox import (
    UNSHARE_FLAGS,
    Isolation,
    Sandbox,
    namespaces_available,
    run_python,
)
from palaestra.envs.code._tasks import (
    FAMILIES,
    CodeTask,
    Example,
    TaskSet,
    Verdict,
    build_task,
    judge,
    task_id,
    verify,
)

__all__ = [
    "AGENT",
    "EXAMPLES",
    "FAMILIES",
    "TESTS",
    "TOOLS",
    "UNSHARE_FLAGS",
    "Blueprint",
    "CodeBaseline",
    "CodeEnv",
    "CodeParams",
    "CodeTask",
    "Example",
    "ExecResult",
    "Family",
    "Isolation",
    "KilledBy",
    "Limits",
    "Sandbox",
    "TaskSet",
    "Verdict",
    "build_task",
    "code_baseline",
    "judge",
    "namespaces_available",
    "run_python",
    "task_id",
    "verify",
]
