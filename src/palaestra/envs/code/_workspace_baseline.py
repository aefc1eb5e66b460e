"""The baseline of `code.workspace`: an oracle that works the way a coding agent does, with
the workspace tools, and submits the task's reference solution.

Like `code.python`'s baseline it regenerates the task list from the environment's
parameters and reads each task's reference from its blueprint; of the environment it
reads only its observations (``data["task_id"]``, ``data["turn"]`` and the tools
offered). Its turns:

0. ``list_files()`` and ``read_file("TASK.md")``;
1. ``edit_file`` on ``solution.py`` (the starting stub replaced by the reference; with
   ``write_file`` where edit_file is not offered) and ``run_tests()``;
2. ``run_python`` on the first example (the workspace's module imported), then
   ``submit()``.

Calls to tools the environment does not offer are left out (a turn with none left is
skipped). It scores 1 on every task: an upper bound, and a check that each tool works
within the environment's limits. It keeps no state between turns, so one instance serves
concurrent episodes.
"""

from __future__ import annotations

from typing import Any

from palaestra.core import Action, Context, Observation, ToolCall
from palaestra.envs.code._baseline import OracleBaseline
from palaestra.envs.code._tasks import CodeTask, TaskSet
from palaestra.envs.code._workspace_env import SOLUTION, WorkspaceParams, stub


class WorkspaceBaseline(OracleBaseline):
    """Reads the task, writes the reference with edit_file, tests it, submits it."""

    NAME = "code.workspace"

    async def act(self, observation: Observation, ctx: Context) -> Action:
        task = self.observed_task(observation)
        offered = {spec.name for spec in observation.tools}
        turn = observation.data.get("turn")
        first = min(turn, 2) if isinstance(turn, int) and turn >= 0 else 2
        for step in range(first, 3):  # a step whose tools are not offered is skipped
            wanted = [(n, a) for n, a in _plan(task, step, offered) if n in offered]
            if wanted:
                break
        calls = [
            ToolCall(id=f"call_{turn}_{index}", name=name, arguments=arguments)
            for index, (name, arguments) in enumerate(wanted)
        ]
        return Action(tool_calls=calls)


def _plan(task: CodeTask, turn: int, offered: set[str]) -> list[tuple[str, dict[str, Any]]]:
    if turn == 0:
        return [("list_files", {}), ("read_file", {"path": "TASK.md"})]
    if turn == 1:
        if "edit_file" in offered:
            edit = {"path": SOLUTION, "old_string": stub(task), "new_string": task.reference}
            return [("edit_file", edit), ("run_tests", {})]
        return [("write_file", {"path": SOLUTION, "content": task.reference}), ("run_tests", {})]
    example = task.examples[0]
    code = f"from solution import solve\nprint(repr({example.call()}))\n"
    return [("run_python", {"code": code}), ("submit", {})]


def workspace_baseline(params: WorkspaceParams, agent: str) -> WorkspaceBaseline:
    """The registry's `baseline(params, agent)` for `code.workspace`."""
    return WorkspaceBaseline(TaskSet(params.task_seed, params.num_tasks))
