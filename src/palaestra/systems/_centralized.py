"""`Centralized`: an orchestrator delegates sub-tasks to named workers it calls as tools.

This is the orchestrator → workers pattern of AgentOrchestra and PartnerMAS (a planner
hands sub-tasks to specialists), and, with ``mode="holistic"``, MAS-Orchestra's
orchestrator that emits its whole delegation plan in one function-calling turn.

At each environment step, `act(observation, ctx)`:

1. gives the observation to the orchestrator (an `LLMOperator`, acting in ``ctx`` itself:
   its model calls are recorded under the system's agent). Besides its own tools and the
   environment's, it has one tool per worker, ``delegate_to_<worker>(task: str)``,
   described with ``descriptions[worker]``, else the worker's ``description`` attribute,
   else a generic line naming the worker.
2. A delegate call runs the worker on ``task``: a `message` event from the orchestrator
   to ``{agent}/{worker}`` holding the task, the worker's turn in that child context,
   and a `message` back holding its reply, which is also the call's `tool_result`
   (`tool_call` / `tool_result` are recorded by the orchestrator's tool loop as usual).
   Workers see only the task text, never the environment's tools; a worker keeps its
   conversation across the delegations of an episode, and delegations to the same
   worker run one at a time, in call order.
3. At most `max_delegations` delegate calls run per step; later ones return a tool
   error the orchestrator can read ("delegation limit reached ...").
4. The orchestrator's final answer is the system's action: its text, or its calls to
   the environment's tools, passed through unchanged.

Modes:

- ``"iterative"`` (default): the orchestrator delegates as it goes, one model reply at
  a time, seeing each result before deciding the next (bounded by its
  `max_tool_rounds`). Several delegate calls in one reply run one after the other.
- ``"holistic"``: the orchestrator's system prompt asks it to emit the whole plan in
  one reply. The delegate calls of the first reply of the step that delegates at all
  form the plan and run concurrently (their `tool_call` events first, in call order,
  then each worker's messages and turn in call order, then the `tool_result` events in
  call order, so the log does not depend on which worker finished first). The
  orchestrator then gets every result and gives the final answer; delegate calls in
  any later reply of the step are refused with a tool error.

A worker may itself be a system (nesting): its internal agents are then named
``{agent}/{worker}/{member}``. Workers may use different models from the orchestrator
and from each other (heterogeneous assignment).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from typing import Any, Literal

from palaestra.core import Action, Context, Observation, Operator, UserError
from palaestra.models import Model, ModelRequest, ModelResponse
from palaestra.operators import LLMOperator
from palaestra.systems._base import (
    action_text,
    describe_member,
    fork_members,
    open_consult,
    reply,
)
from palaestra.tools import Tool, ToolOutcome

DELEGATE_PREFIX = "delegate_to_"
"""Worker ``w`` is offered to the orchestrator as the tool ``delegate_to_w``."""

_WORKER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,52}$")  # tool names: at most 64 characters

HOLISTIC_NOTE = (
    "Delegation plan: in your first reply, call the delegate_to_<worker> tools once for "
    "every sub-task you need, all in that one message; they run in parallel. You then "
    "get all their results and must give the final answer; later delegations are refused."
)
"""Appended to the orchestrator's system prompt in holistic mode."""


class _CallCounter:
    """A transparent model wrapper counting the orchestrator's model calls in a step,
    so holistic mode can tell which reply made the plan."""

    def __init__(self, inner: Model):
        self.inner = inner
        self.calls = 0

    @property
    def name(self) -> str:
        return self.inner.name

    async def generate(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        return await self.inner.generate(request)


async def _delegate_signature(task: str) -> str:
    """Delegate a sub-task.

    Args:
        task: The sub-task, stated completely: the worker sees nothing else.
    """
    raise RuntimeError("a delegate tool runs through its system")  # see _DelegateTool.call


_TEMPLATE = Tool(_delegate_signature)
"""Built once: every delegate tool shares its argument schema (building one is slow)."""


class _DelegateTool(Tool):
    """``delegate_to_<worker>(task)``: runs the worker through its system.

    Framework failures inside the worker (a model error, the token budget) propagate
    and end the episode, rather than becoming a tool error for the orchestrator."""

    def __init__(self, system: Centralized, worker: str, description: str):
        # Same schema as the template, so no second pydantic model is built per fork.
        self.__dict__.update(_TEMPLATE.__dict__)
        self.name = DELEGATE_PREFIX + worker
        self.description = description
        self._system = system
        self._worker = worker

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutcome:
        task = arguments.get("task")
        if set(arguments) != {"task"} or not isinstance(task, str):
            return await super().call(arguments)  # the model-facing argument error
        return await self._system._delegate(self._worker, task)


class Centralized:
    """An orchestrator `LLMOperator` that delegates sub-tasks to named workers as tools.

    `workers` maps names (letters, digits, ``_`` and ``-``) to operators or systems.
    `descriptions` optionally describes workers to the orchestrator (the delegate
    tools' descriptions). See the module docstring for the step's semantics.
    """

    def __init__(
        self,
        orchestrator: LLMOperator,
        workers: Mapping[str, Operator],
        *,
        mode: Literal["iterative", "holistic"] = "iterative",
        max_delegations: int = 8,
        descriptions: Mapping[str, str] | None = None,
    ):
        if not isinstance(orchestrator, LLMOperator):
            raise UserError(
                "Centralized: the orchestrator must be an LLMOperator (it calls its "
                f"workers as tools), got {type(orchestrator).__name__}"
            )
        if not isinstance(workers, Mapping) or not workers:
            raise UserError("Centralized: `workers` must map at least one name to an operator")
        for name, worker in workers.items():
            if not isinstance(name, str) or not _WORKER_NAME.match(name):
                raise UserError(
                    f"Centralized: worker name {name!r} is not valid; use 1-52 letters, "
                    "digits, '_' or '-' (it becomes the tool name delegate_to_<name>)"
                )
            if not isinstance(worker, Operator):
                raise UserError(
                    f"Centralized: worker {name!r} is a {type(worker).__name__}, "
                    "not an operator (no `act` method)"
                )
        if mode not in ("iterative", "holistic"):
            raise UserError(
                f"Centralized: unknown mode {mode!r}; valid modes: 'iterative', 'holistic'"
            )
        if isinstance(max_delegations, bool) or not isinstance(max_delegations, int):
            raise UserError(f"Centralized: max_delegations must be an int, got {max_delegations!r}")
        if max_delegations < 1:
            raise UserError(f"Centralized: max_delegations must be >= 1, got {max_delegations}")
        unknown = sorted(set(descriptions or {}) - set(workers))
        if unknown:
            raise UserError(
                f"Centralized: descriptions given for unknown workers {unknown}; "
                f"workers: {sorted(workers)}"
            )
        clash = sorted(
            DELEGATE_PREFIX + n for n in workers if DELEGATE_PREFIX + n in orchestrator.tools
        )
        if clash:
            raise UserError(
                f"Centralized: the orchestrator already has tools named {clash}; "
                "rename the workers or those tools"
            )
        self.mode = mode
        self.max_delegations = max_delegations
        self.descriptions = dict(descriptions or {})
        self._prototype = orchestrator
        self.workers: dict[str, Operator] = dict(workers)
        tools = [
            _DelegateTool(self, name, self._describe_worker(name, worker))
            for name, worker in self.workers.items()
        ]
        self.orchestrator = orchestrator.with_tools(tools, concurrent=mode == "holistic")
        self._counter: _CallCounter | None = None
        if mode == "holistic":
            self.orchestrator.system_prompt = f"{orchestrator.system_prompt}\n\n{HOLISTIC_NOTE}"
            self._counter = _CallCounter(self.orchestrator.model)
            self.orchestrator.model = self._counter
        self._locks = {name: asyncio.Lock() for name in self.workers}
        self._ctx: Context | None = None
        self._delegations = 0
        self._plan_call: int | None = None

    def _describe_worker(self, name: str, worker: Operator) -> str:
        text = self.descriptions.get(name) or getattr(worker, "description", None)
        if isinstance(text, str) and text.strip():
            return f"Delegate a sub-task to worker '{name}': {text.strip()}"
        return (
            f"Delegate a sub-task to worker '{name}' ({describe_member(worker)}); "
            "returns the worker's answer."
        )

    def fork(self) -> Centralized:
        """A fresh system for one episode: a new orchestrator conversation and forked
        workers."""
        return Centralized(
            self._prototype,
            fork_members(self.workers),
            mode=self.mode,
            max_delegations=self.max_delegations,
            descriptions=self.descriptions,
        )

    def describe(self) -> str:
        """One line for `episode_start.operators`: mode, orchestrator and workers."""
        workers = ", ".join(f"{n}={describe_member(w)}" for n, w in self.workers.items())
        return (
            f"centralized[{self.mode}](orchestrator={describe_member(self._prototype)}; {workers})"
        )

    async def act(self, observation: Observation, ctx: Context) -> Action:
        self._ctx = ctx
        self._delegations = 0
        self._plan_call = None
        if self._counter is not None:
            self._counter.calls = 0
        return await self.orchestrator.act(observation, ctx)

    async def _delegate(self, worker: str, task: str) -> ToolOutcome:
        ctx = self._ctx
        if ctx is None:
            raise RuntimeError("Centralized: a delegate tool was called outside `act`")
        if self._counter is not None:  # holistic: only the plan's reply may delegate
            if self._plan_call is None:
                self._plan_call = self._counter.calls
            elif self._counter.calls != self._plan_call:
                return ToolOutcome(
                    "Error: holistic mode: the delegation plan of this step has already "
                    "run. Do not delegate again; give your final answer from the results "
                    "you have.",
                    is_error=True,
                )
        if self._delegations >= self.max_delegations:
            return ToolOutcome(
                f"Error: delegation limit reached: at most {self.max_delegations} "
                f"delegations per step, and all were used. Do not delegate again; give "
                "your final answer from the results you have.",
                is_error=True,
            )
        self._delegations += 1
        # Record the message and open the worker's context now, before waiting for the
        # worker: the log's order is then the call order, whatever finishes first.
        observation, child = open_consult(ctx, worker, task)
        async with self._locks[worker]:
            action = await self.workers[worker].act(observation, child)
        reply(ctx, child, action)
        text = action_text(action)
        return ToolOutcome(text or f"(worker '{worker}' gave an empty answer)")
