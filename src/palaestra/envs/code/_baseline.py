"""The oracle baseline of `code.python`: it submits the task's reference solution.

It is an *oracle*, like the ground-truth operator of the tool-use environments: it
regenerates the task list from the environment's parameters (same `task_seed` and
`num_tasks`, same tasks) and reads each task's reference solution from that blueprint;
of the environment it reads only its observations, in which ``data["task_id"]`` names
the task. On the first turn it runs the reference on the first visible example with
`run_python` (so every episode exercises the sandbox), then it submits the reference.
It scores 1 on every task: an upper bound, and a check that every task is solvable
within the limits.

It satisfies the `Operator` protocol structurally and keeps no state between turns (the
observation's ``turn`` says which one it is), so one instance serves concurrent episodes.
`OracleBaseline` holds what it shares with `code.workspace`'s baseline: the task list
and the task an observation names.
"""

from __future__ import annotations

from palaestra.core import Action, Context, Observation, ToolCall, UserError
from palaestra.envs.code._env import CodeParams
from palaestra.envs.code._tasks import CodeTask, TaskSet


class OracleBaseline:
    """What the oracle baselines of `code.python` and `code.workspace` share: the task
    list regenerated from the environment's parameters, and the task an observation is
    about (``data["task_id"]``)."""

    NAME = "code"
    """How its errors name it."""

    def __init__(self, tasks: TaskSet) -> None:
        self.tasks = tasks

    def observed_task(self, observation: Observation) -> CodeTask:
        """The task `observation` names, or a `UserError` (the environment and the
        baseline were built from different parameters, or it is another environment)."""
        task_id = observation.data.get("task_id")
        task = self.tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            raise UserError(
                f"the {self.NAME} baseline needs observation.data['task_id'] naming one of "
                f"its {len(self.tasks)} tasks; got {task_id!r} (are the environment and the "
                "operator built from the same parameters?)"
            )
        return task


class CodeBaseline(OracleBaseline):
    """Tries the reference solution on an example, then submits it."""

    async def act(self, observation: Observation, ctx: Context) -> Action:
        task = self.observed_task(observation)
        if observation.data.get("turn") == 0:
            example = task.examples[0]
            code = f"{task.reference}\n\nprint(repr({example.call()}))\n"
            return Action(
                tool_calls=[ToolCall(id="call_run", name="run_python", arguments={"code": code})]
            )
        return Action(
            tool_calls=[
                ToolCall(id="call_submit", name="submit", arguments={"code": task.reference})
            ]
        )


def code_baseline(params: CodeParams, agent: str) -> CodeBaseline:
    """The registry's `baseline(params, agent)` for `code.python`."""
    return CodeBaseline(TaskSet(params.task_seed, params.num_tasks))
