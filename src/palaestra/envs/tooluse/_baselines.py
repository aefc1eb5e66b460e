"""The non-LLM baselines of the tool-use environments: the ground-truth operator (for
agent `agent`) and the scripted customer as an operator (for agent `user`).

The ground-truth operator knows the task list because it regenerates it from the
environment's parameters (same `db_seed` and `num_tasks`, same tasks); it reads nothing
of the environment but its observations, in which `data["task_id"]` names the task. It
issues the task's ground-truth calls one per turn, then replies with a text holding every
required output, so it scores 1 on every task: an upper bound and a check that each task
is solvable.

`ScriptedUserOperator` plays the customer from what its observations carry (the
instruction, the agent's message, whether the agent has called a tool) with the rules
of `ScriptedUser`, so that `user="agent"` with this baseline behaves exactly like
`user="scripted"`.

Both satisfy the `Operator` protocol structurally. Progress is kept per episode id, so
one instance can serve concurrent episodes.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable

from palaestra.core import Action, Context, Observation, Operator, ToolCall, UserError
from palaestra.envs.tooluse._domain import Domain, Task
from palaestra.envs.tooluse._env import AGENT, USER, ToolUseParams
from palaestra.envs.tooluse._user import ScriptedUser


class GroundTruthOperator:
    """Replays the ground truth of the task named in the first observation."""

    def __init__(self, tasks: Iterable[Task]) -> None:
        self._tasks = {task.id: task for task in tasks}
        self._next: dict[str, int] = {}
        """Per episode id: index of the next ground-truth call."""

    def describe(self) -> str:
        """One-line description for the log."""
        return "ground-truth"

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
            arguments = copy.deepcopy(call.arguments)
            return Action(
                tool_calls=[ToolCall(id=f"call_{index}", name=call.name, arguments=arguments)]
            )
        self._next.pop(ctx.episode_id, None)
        return Action(text=final_reply(task))


class ScriptedUserOperator:
    """The customer of `ScriptedUser`, as the operator of agent `user`."""

    def __init__(self, *, patience: int = 5) -> None:
        ScriptedUser("", patience=patience)  # validates patience now
        self.patience = patience
        self._users: dict[str, ScriptedUser] = {}
        """Per episode id: the customer of that episode."""

    def describe(self) -> str:
        """One-line description for the log."""
        return "scripted-user"

    async def act(self, observation: Observation, ctx: Context) -> Action:
        data = observation.data
        instruction = data.get("instruction")
        if not isinstance(instruction, str):
            raise UserError(
                "the scripted user needs observation.data['instruction'] (the customer's "
                f"request); got {instruction!r}: is this the 'user' agent of a tool-use "
                "environment with user='agent'?"
            )
        user = self._users.get(ctx.episode_id)
        if data.get("user_turn") == 0 or user is None:
            user = self._users[ctx.episode_id] = ScriptedUser(instruction, patience=self.patience)
            return Action(text=user.opening())
        turn = user.respond(
            str(data.get("agent_message", "")), agent_has_acted=bool(data.get("agent_has_acted"))
        )
        if turn.stop:
            self._users.pop(ctx.episode_id, None)
        return Action(text=turn.text)


def final_reply(task: Task) -> str:
    """The closing reply: the outcome, with every required output, asking nothing."""
    if not task.outputs:
        return "Your request has been taken care of. Thank you for contacting us."
    return "Here is what you asked for: " + "; ".join(task.outputs) + ". Thank you."


def ground_truth_baseline(domain: Domain) -> Callable[[ToolUseParams, str], Operator]:
    """The registry's `baseline(params, agent)` for `domain`: the ground-truth operator
    for `agent`, the scripted customer for `user`. The task list of each
    `(db_seed, num_tasks)` is generated once and shared (operators only read it)."""

    @functools.lru_cache(maxsize=8)
    def tasks(db_seed: int, num_tasks: int) -> tuple[Task, ...]:
        return tuple(domain.build_tasks(db_seed, num_tasks))

    def baseline(params: ToolUseParams, agent: str) -> Operator:
        if agent == USER:
            return ScriptedUserOperator()
        if agent == AGENT:
            return GroundTruthOperator(tasks(params.db_seed, params.num_tasks))
        raise UserError(
            f"tooluse.{domain.name} has no agent {agent!r}; its agents are {AGENT!r} and "
            f"(with user='agent') {USER!r}"
        )

    return baseline
