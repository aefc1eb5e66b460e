"""`Recursive`: ROMA's recursive decomposition with four roles.

At each environment step, `act(observation, ctx)` solves the observation's text as the
root task, in the child context ``{agent}/root``. Solving a task at depth ``d`` (the
root is depth 0) goes:

1. **Atomize.** If ``d == max_depth`` the task is atomic, without asking. Else the
   atomizer is asked whether it is; it answers ``{"atomic": true|false}`` or a reply
   starting with yes/no (an answer that says neither counts as atomic).
2. **Execute** an atomic task: the executor's answer is the task's result.
3. **Plan** a composite one: the planner answers a JSON array of sub-tasks
   ``[{"id": "a", "task": "...", "deps": []}, ...]`` (ids: 1-32 letters, digits, ``_``
   or ``-``, unique, none of the role names; `deps` name other ids). A plan that cannot
   be used (no JSON array, a bad item, an unknown or duplicate id, a dependency cycle)
   is re-asked once with the problem; a second failure is recorded as a `message` from
   the task's node to whoever gave it the task, saying why, and the task is executed
   as atomic.
4. **Run the sub-tasks**, each solved recursively at depth ``d + 1`` in its own child
   context named by its id. They run in waves: wave k holds the sub-tasks whose
   dependencies are all in earlier waves; the sub-tasks of a wave run concurrently and
   appear in the log in plan order. A dependent sub-task therefore starts after its
   dependencies have finished, and its text carries their results.
5. **Aggregate**: the aggregator merges the sub-results into the task's result.

Every exchange is a `message` event (the node to a role or a sub-task node, and the
reply back), so agent names show the tree: ``agent/root/atomizer``,
``agent/root/planner``, ``agent/root/a/executor``, ``agent/root/b/a/executor``...
Roles are forked for every use (no conversation leaks between nodes or steps), except
that a re-asked planner keeps the conversation of its first attempt.

The system's action is the root's result: at the root, the executor (atomic root) or
the aggregator (composite root) also sees the environment's tools, and its action —
text or environment tool calls — is passed through unchanged. Deeper roles see text
only.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from palaestra.core import Action, Context, MessageEvent, Observation, Operator, UserError
from palaestra.systems._base import (
    action_text,
    describe_member,
    fork_member,
    open_consult,
    reply,
)
from palaestra.systems._json_reply import NoJSON, find_json, parse_yes_no, validation_problems

ROLES = ("atomizer", "planner", "executor", "aggregator")
_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

ATOMIZE_PROMPT = (
    "Task:\n{task}\n\n"
    "Can this task be solved directly, in one step (atomic), or should it be split into "
    'sub-tasks? Reply with JSON: {{"atomic": true}} or {{"atomic": false}}.'
)
PLAN_FORMAT = (
    "Split the task into sub-tasks. Reply with a JSON array, one object per sub-task: "
    '{"id": a short name (letters, digits, "_" or "-"), "task": what to do, stated '
    'completely, "deps": the ids of the sub-tasks whose results it needs}. Sub-tasks '
    "that do not depend on each other run in parallel."
)
AGGREGATE_PROMPT = (
    "Task:\n{task}\n\nResults of its sub-tasks:\n{results}\n\n"
    "Combine these results into the answer to the task. Reply with the answer only."
)


class SubTask(BaseModel):
    """One item of a plan."""

    model_config = ConfigDict(extra="ignore")

    id: str
    task: str
    deps: list[str] = []

    @field_validator("id", mode="before")
    @classmethod
    def _number_id(cls, value: Any) -> Any:
        # Planners often number their sub-tasks: 1 means "1".
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("deps", mode="before")
    @classmethod
    def _number_deps(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [cls._number_id(item) for item in value]
        return value


@dataclass(frozen=True)
class Plan:
    """A usable plan: its sub-tasks in plan order, grouped in dependency waves."""

    subtasks: list[SubTask]
    waves: list[list[SubTask]]


def read_plan(text: str) -> tuple[Plan | None, str]:
    """The plan in a planner's reply, or None and what is wrong with it (for the model)."""
    try:
        raw = find_json(text, list)
    except NoJSON:
        try:
            found = find_json(text, dict)
        except NoJSON:
            return None, "no JSON array of sub-tasks found in the reply"
        raw = found.get("subtasks")
        if not isinstance(raw, list):
            return None, "no JSON array of sub-tasks found in the reply"
    if not raw:
        return None, "the plan has no sub-tasks"
    subtasks: list[SubTask] = []
    for index, item in enumerate(raw):
        try:
            subtasks.append(SubTask.model_validate(item))
        except ValidationError as exc:
            return None, f"sub-task {index}: " + "; ".join(validation_problems(exc))
    ids = [s.id for s in subtasks]
    for sub in subtasks:
        if not _ID.match(sub.id) or sub.id in ROLES:
            return None, (
                f"sub-task id {sub.id!r} is not valid: use 1-32 letters, digits, '_' or '-', "
                f"and none of {', '.join(ROLES)}"
            )
        if ids.count(sub.id) > 1:
            return None, f"sub-task id {sub.id!r} is used twice"
        unknown = [dep for dep in sub.deps if dep not in ids or dep == sub.id]
        if unknown:
            return None, (
                f"sub-task {sub.id!r} depends on {unknown}, which are not other sub-tasks "
                f"of the plan (ids: {', '.join(ids)})"
            )
    waves: list[list[SubTask]] = []
    done: set[str] = set()
    left = list(subtasks)
    while left:
        wave = [s for s in left if all(dep in done for dep in s.deps)]
        if not wave:
            cycle = ", ".join(s.id for s in left)
            return None, f"the dependencies form a cycle among sub-tasks {cycle}"
        waves.append(wave)
        done.update(s.id for s in wave)
        left = [s for s in left if s.id not in done]
    return Plan(subtasks, waves), ""


def _check_role(member: object, role: str) -> Operator:
    if not isinstance(member, Operator):
        raise UserError(
            f"Recursive: {role} must be an operator (with an `act` method), "
            f"got {type(member).__name__}"
        )
    return member


class Recursive:
    """ROMA-style recursive decomposition: atomizer, planner, executor, aggregator.

    `max_depth` (>= 0) bounds the recursion: tasks at that depth are executed without
    asking the atomizer (0 makes the system a single executor). See the module
    docstring for the step's semantics.
    """

    def __init__(
        self,
        *,
        atomizer: Operator,
        planner: Operator,
        executor: Operator,
        aggregator: Operator,
        max_depth: int = 2,
    ):
        self.atomizer = _check_role(atomizer, "atomizer")
        self.planner = _check_role(planner, "planner")
        self.executor = _check_role(executor, "executor")
        self.aggregator = _check_role(aggregator, "aggregator")
        if isinstance(max_depth, bool) or not isinstance(max_depth, int) or max_depth < 0:
            raise UserError(f"Recursive: max_depth must be an int >= 0, got {max_depth!r}")
        self.max_depth = max_depth

    def fork(self) -> Recursive:
        """A fresh system for one episode (roles are forked for each use anyway)."""
        return Recursive(
            atomizer=fork_member(self.atomizer),
            planner=fork_member(self.planner),
            executor=fork_member(self.executor),
            aggregator=fork_member(self.aggregator),
            max_depth=self.max_depth,
        )

    def describe(self) -> str:
        """One line for `episode_start.operators`: depth bound and roles."""
        roles = ", ".join(f"{role}={describe_member(getattr(self, role))}" for role in ROLES)
        return f"recursive(max_depth={self.max_depth}; {roles})"

    async def act(self, observation: Observation, ctx: Context) -> Action:
        base = observation.model_copy(update={"messages": []})
        _, root = open_consult(ctx, "root", observation.text)
        action = await self._solve(observation.text, root, 0, base)
        reply(ctx, root, action)
        return action

    async def _ask(
        self, node: Context, role: str, member: Operator, text: str, base: Observation | None
    ) -> Action:
        observation, child = open_consult(node, role, text, base=base)
        action = await member.act(observation, child)
        reply(node, child, action)
        return action

    async def _solve(
        self, task: str, node: Context, depth: int, base: Observation | None
    ) -> Action:
        """The result of `task` at `depth`, solved in the node context `node`; `base`
        (the environment's observation) only at the root."""
        if depth < self.max_depth:
            answer = await self._ask(
                node, "atomizer", fork_member(self.atomizer), ATOMIZE_PROMPT.format(task=task), None
            )
            if parse_yes_no(action_text(answer), "atomic") is False:
                plan = await self._plan(node, task)
                if plan is not None:
                    results = await self._run(plan, task, node, depth)
                    lines = "\n".join(
                        f"- [{sub.id}] {sub.task}: {results[sub.id]}" for sub in plan.subtasks
                    )
                    text = AGGREGATE_PROMPT.format(task=task, results=lines)
                    return await self._ask(
                        node, "aggregator", fork_member(self.aggregator), text, base
                    )
        return await self._ask(node, "executor", fork_member(self.executor), task, base)

    async def _plan(self, node: Context, task: str) -> Plan | None:
        planner = fork_member(self.planner)
        text = f"Task:\n{task}\n\n{PLAN_FORMAT}"
        problem = ""
        for attempt in range(2):
            if attempt:
                text = f"Your plan could not be used: {problem}.\n\nTask:\n{task}\n\n{PLAN_FORMAT}"
            answer = await self._ask(node, "planner", planner, text, None)
            plan, problem = read_plan(action_text(answer))
            if plan is not None:
                return plan
        caller = node.agent.rsplit("/", 1)[0]
        node.emit(
            MessageEvent(
                sender=node.agent,
                recipients=[caller],
                content=(
                    f"The planner's plan could not be used twice ({problem}); "
                    "solving the task as atomic."
                ),
            ),
            parent=node.turn_event,
        )
        return None

    async def _run(self, plan: Plan, task: str, node: Context, depth: int) -> dict[str, str]:
        """Solve the plan's sub-tasks wave by wave; their results by id."""
        results: dict[str, str] = {}
        for wave in plan.waves:
            opened = []
            for sub in wave:  # messages and child contexts in plan order, before any await
                text = _subtask_text(sub, task, results)
                _, child = open_consult(node, sub.id, text)
                opened.append((sub, text, child))
            outcomes = await asyncio.gather(
                *(self._solve(text, child, depth + 1, None) for _, text, child in opened),
                return_exceptions=True,
            )
            for (sub, _, child), outcome in zip(opened, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    raise outcome
                reply(node, child, outcome)
                results[sub.id] = action_text(outcome) or "(no result)"
        return results


def _subtask_text(sub: SubTask, parent: str, results: dict[str, str]) -> str:
    """What a sub-task node is given: its task, the task it is part of, and the results
    of the sub-tasks it depends on."""
    parts = [sub.task, f"(This is part of the task: {_first_line(parent)})"]
    if sub.deps:
        done = "\n".join(f"- [{dep}]: {results[dep]}" for dep in sub.deps)
        parts.append(f"Results of the sub-tasks it depends on:\n{done}")
    return "\n\n".join(parts)


def _first_line(text: str, limit: int = 200) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"
