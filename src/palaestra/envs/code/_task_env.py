"""`CodeTaskEnv`: the episode plumbing `code.python` and `code.workspace` share, so each
keeps only what differs (its tools, how they run, its workspace and its instructions).

Both give one agent (`AGENT`) a task of a `TaskSet`, an `EpisodeWorkspace` to work in
and a ``submit`` that grades code against the task's hidden tests in a fresh sandbox.
The shared part, written once here:

- the task list and `task` (an unknown id is a `UserError` naming the valid ones);
- `reset`: picks the task (``tasks()[seed % len]`` when none is named), opens the
  workspace, queues the ``isolation: none`` governance event for `drain_events`, and
  returns the instructions and the task (``data``: ``task_id``, ``turn``, ``source``,
  ``family``, ``signature``, then what the environment adds);
- `step`: one agent turn, the tool results as `tool` messages (and in
  ``data["tool_results"]``), an ``Error: ...`` for a turn without tool calls, `terminated`
  at a submission, `truncated` after ``max_turns``, the score as the final reward;
- `end_episode`, `drain_events` and `aclose` (the workspace's manifest queued once per
  episode, then the workspace destroyed);
- `score`: the fraction of hidden tests passed; metrics ``tests_passed``, ``submitted``
  and the environment's counters (`COUNTS`).

Both parameter models start with `TaskListParams` (``num_tasks``, ``task_seed``) and get
their ``limits()`` from `SandboxLimitsMixin`.

The order of keys in observations, `info` and metrics is part of the recorded log (its
hashes), so it is fixed here for both environments.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from palaestra.core import Action, Message, Observation, Payload, ToolCall, ToolSpec, UserError
from palaestra.envs._protocol import Score, Step
from palaestra.envs._tool_results import tool_counts, tool_results_observation
from palaestra.envs.code._tasks import CodeTask, SubmissionResult, TaskSet
from palaestra.sandbox import CommandLimits, EpisodeWorkspace, Sandbox, Workspace, isolation_event

AGENT = "agent"
"""Name of the one agent of `code.python` and `code.workspace`."""


class TaskListParams(BaseModel):
    """The first parameters of both environments: which generated tasks (`TaskSet`)."""

    model_config = ConfigDict(extra="forbid")
    num_tasks: int = Field(default=100, ge=1, le=10_000, description="How many tasks to generate.")
    task_seed: int = Field(default=0, ge=0, description="Seed of the generated tasks.")


class _LimitFields(Protocol):
    cpu_seconds: int
    memory_mb: int
    wall_seconds: float
    max_output_bytes: int
    max_processes: int


class SandboxLimitsMixin:
    """``limits()`` for a parameter model that has the sandbox's limit fields."""

    def limits(self: _LimitFields) -> CommandLimits:
        """The sandbox limits these parameters describe."""
        return CommandLimits(
            cpu_seconds=self.cpu_seconds,
            memory_mb=self.memory_mb,
            wall_seconds=self.wall_seconds,
            max_output_bytes=self.max_output_bytes,
            max_processes=self.max_processes,
        )


class TaskParams(Protocol):
    """What `CodeTaskEnv` reads of its parameters."""

    num_tasks: int
    task_seed: int
    max_turns: int
    disk_mb: int
    isolation: Literal["bwrap", "none"]

    def limits(self) -> CommandLimits: ...


P = TypeVar("P", bound=TaskParams)


class CodeTaskEnv(ABC, Generic[P]):
    """One agent, a code task, a workspace for the episode, hidden tests at submission
    (module doc). A subclass names itself (`ENV_ID`), its counters (`COUNTS`) and its
    answer to a turn without tool calls (`NO_TOOL_CALL`), and provides its workspace,
    tools and instructions."""

    ENV_ID: ClassVar[str]
    """The registry id, in error messages and the isolation event."""
    COUNTS: ClassVar[tuple[str, ...]]
    """The counters of an episode, reported (in this order) in the score's metrics."""
    NO_TOOL_CALL: ClassVar[str]
    """The answer to a turn without tool calls."""

    def __init__(self, params: P, sandbox: Sandbox | None) -> None:
        self.params = params
        """The validated parameters (what the registry's baseline is built from)."""
        self.limits = params.limits()
        self.sandbox = sandbox or Sandbox(
            self.limits, isolation=params.isolation, disk_mb=params.disk_mb
        )
        """Where the hidden tests run (a fresh workspace each time)."""
        self.episode = self._episode_workspace()
        """The episode's workspace (and its tools, if the environment offers them)."""
        self._tasks = TaskSet(params.task_seed, params.num_tasks)
        self._task: CodeTask | None = None
        self._verdict: SubmissionResult | None = None
        self._events: list[Payload] = []
        self._turn = 0
        self._counts = dict.fromkeys(self.COUNTS, 0)
        self._done = True

    # -- what a subclass provides ----------------------------------------------------------

    @abstractmethod
    def _episode_workspace(self) -> EpisodeWorkspace:
        """The `EpisodeWorkspace` of this environment's episodes (made once)."""

    @abstractmethod
    async def _open(self, task: CodeTask) -> Workspace:
        """Open the episode's workspace for `task` (in `reset`)."""

    @abstractmethod
    def _task_data(self, task: CodeTask) -> dict[str, Any]:
        """What the first observation's ``data`` holds besides the shared keys."""

    @abstractmethod
    def _specs(self) -> list[ToolSpec]:
        """The tools offered at every turn."""

    @abstractmethod
    async def _run_calls(self, calls: list[ToolCall]) -> list[dict[str, Any]]:
        """Run a turn's tool calls; one result entry (``id``, ``name``, ``content``,
        ``error``, ...) per call run. Sets ``_verdict`` at a submission."""

    @abstractmethod
    def instructions(self) -> str:
        """The rules of the episode: the tools, the limits, the turns."""

    def _tool_info(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        """Extra `info` of a turn with tool calls (after ``tool_errors``)."""
        return {}

    def _tally(self, info: dict[str, Any]) -> None:
        """Update the episode's counters after a turn (its `info`); counters updated while
        the calls run need nothing here."""

    # -- the shared protocol ---------------------------------------------------------------

    @property
    def agents(self) -> list[str]:
        return [AGENT]

    def tasks(self) -> list[str]:
        return list(self._tasks.ids)

    def task(self, task_id: str) -> CodeTask:
        """The task `task_id` (with its hidden tests), or a `UserError`."""
        task = self._tasks.get(task_id)
        if task is None:
            shown = ", ".join(self._tasks.ids[:6]) + (", ..." if len(self._tasks) > 6 else "")
            raise UserError(
                f"unknown task {task_id!r} for {self.ENV_ID} (task_seed="
                f"{self.params.task_seed}, num_tasks={self.params.num_tasks}); valid "
                f"tasks: {shown}"
            )
        return task

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        chosen = self.task(self._tasks.ids[seed % len(self._tasks)] if task is None else task)
        self._task, self._verdict = chosen, None
        workspace = await self._open(chosen)
        event = isolation_event(workspace, self.ENV_ID)
        self._events = [event] if event is not None else []
        self._turn = 0
        self._counts = dict.fromkeys(self.COUNTS, 0)
        self._done = False
        instructions, prompt = self.instructions(), chosen.prompt()
        data = {
            **self._data("task"),
            "family": chosen.family,
            "signature": chosen.signature,
            **self._task_data(chosen),
        }
        return {
            AGENT: Observation(
                text=f"{instructions}\n\n{prompt}",
                data=data,
                tools=self._specs(),
                messages=[
                    Message(role="system", content=instructions),
                    Message(role="user", content=prompt),
                ],
            )
        }

    def _data(self, source: str, **extra: Any) -> dict[str, Any]:
        assert self._task is not None
        return {"task_id": self._task.id, "turn": self._turn, "source": source, **extra}

    async def step(self, actions: dict[str, Action]) -> Step:
        if self._done or self._task is None:
            raise UserError("the episode is over (or not started): call reset() first")
        if set(actions) != {AGENT}:
            raise UserError(f"expected exactly one action, for {AGENT!r}; got {sorted(actions)}")
        self._turn += 1
        calls = actions[AGENT].tool_calls
        info: dict[str, Any]
        if calls:
            results = await self._run_calls(calls)
            observation = tool_results_observation(
                results, data=self._data("tool", tool_results=results), tools=self._specs()
            )
            info = {
                **tool_counts(results),
                **self._tool_info(results),
                "submitted": self._verdict is not None,
            }
        else:
            text = self.NO_TOOL_CALL
            observation = Observation(
                text=text,
                data=self._data("env", error=text),
                tools=self._specs(),
                messages=[Message(role="user", content=text)],
            )
            info = {"source": "env", "tool_calls": 0, "tool_errors": 1}
        self._tally(info)
        terminated = self._verdict is not None
        truncated = not terminated and self._turn >= self.params.max_turns
        self._done = terminated or truncated
        if self._done:
            await self.end_episode()
        return Step(
            observations={AGENT: observation},
            rewards={AGENT: self.score().value if self._done else 0.0},
            terminated=terminated,
            truncated=truncated,
            info=info,
        )

    def drain_events(self) -> list[Payload]:
        """Events for the log since the last call: the ``isolation: none`` warning
        (after episode_start) and the workspace's manifest (at the episode's end)."""
        events, self._events = self._events, []
        return events

    async def end_episode(self) -> None:
        """End the episode's workspace: its manifest queued for `drain_events` (once per
        episode), then the workspace destroyed. Called on the last step and by the
        runtime after every episode (a no-op the second time)."""
        self._done = True
        manifest = self.episode.take_manifest()
        if manifest is not None:
            self._events.append(manifest)
        await self.episode.aclose()

    async def aclose(self) -> None:
        """Destroy the episode's workspace, if one is still open (the runtime calls this
        when it is done with the environment)."""
        await self.episode.aclose()

    def score(self) -> Score:
        metrics = {
            "tests_passed": 0.0,
            "submitted": 0.0,
            **{name: float(count) for name, count in self._counts.items()},
        }
        if self._task is None:
            return Score(0.0, False, metrics, "not started")
        if self._verdict is None:
            return Score(0.0, False, metrics, "no submission: 0 hidden tests passed")
        verdict = self._verdict
        metrics.update(tests_passed=verdict.fraction, submitted=1.0)
        explanation = f"{verdict.passed}/{verdict.total} hidden tests passed"
        if verdict.problem:
            explanation += f"; {verdict.problem}"
        elif verdict.failures:
            explanation += f"; first failure: {verdict.failures[0]}"
        return Score(verdict.fraction, verdict.passed == verdict.total, metrics, explanation)
