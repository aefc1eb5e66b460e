"""The ground-truth operator: the non-LLM baseline of the tool-use environments.

It knows the task list because it regenerates it from the environment's parameters (same
`db_seed` and `num_tasks`, same tasks); it reads nothing of the environment but its
observations, in which `data["task_id"]` names the task. It issues the task's ground-truth
calls one per turn, then replies with a text holding every required output, so it scores
1 on every task: an upper bound and a check that each task is solvable.

It satisfies the `Operator` protocol structurally. Progress is kept per episode id, so one
instance can serve concurrent episodes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from palaestra.core import Action, Context, Observation, ToolCall, UserError
from palaestra.envs.tooluse._domain import Domain, Task
from palaestra.envs.tooluse._env import ToolUseParams


class GroundTruthOperator:
    """Replays the ground truth of the task named in the first observation."""

    def __init__(self, tasks: Iterable[Task]) -> None:
        self._tasks = {task.id: task for task in tasks}
        self._next: dict[str, int] = {}
        """Per episode id: index of the next ground-truth call."""

    async def act(self, observation: Observation, ctx: Context) -> Action:
        task_id = observation.data.get("task_id")
        task = self._tasks.get(task_id) if isinstance(task_id, str) else None
        if task is None:
            raise UserError(
                f"the ground-truth operator needs observation.data['task_id'] naming one of "
                f"its {len(self._tasks)} tasks; got {task_id!r} (are the environment and "
                f"the operator built from the same parameters?)"
            )
        if observation.data.get("turn") == 0:
            self._next[ctx.episode_id] = 0
        index = self._next.get(ctx.episode_id, 0)
        if index < len(task.actions):
            call = task.actions[index]
            self._next[ctx.episode_id] = index + 1
            return Action(
                tool_calls=[
                    ToolCall(id=f"call_{index}", name=call.name, arguments=dict(call.arguments))
                ]
            )
        self._next.pop(ctx.episode_id, None)
        return Action(text=final_reply(task))


def final_reply(task: Task) -> str:
    """The closing reply: the outcome, with every required output, asking nothing."""
    if not task.outputs:
        return "Your request has been taken care of. Thank you for contacting us."
    return "Here is what you asked for: " + "; ".join(task.outputs) + ". Thank you."


def ground_truth_baseline(domain: Domain) -> Callable[[ToolUseParams, str], GroundTruthOperator]:
    """The registry's `baseline(params, agent)` for `domain`."""

    def baseline(params: ToolUseParams, agent: str) -> GroundTruthOperator:
        return GroundTruthOperator(domain.build_tasks(params.db_seed, params.num_tasks))

    return baseline
