"""`WorkspaceEnv` (`code.workspace`): the tasks of `code.python` as a small repository in
a persistent sandboxed workspace, worked on with a coding agent's tools, and graded on
the file the agent leaves (artifact-level grading).

Episode protocol (one agent, named `agent`):

- `reset(seed, task)` starts a fresh `palaestra.sandbox.Workspace` holding ``TASK.md``
  (the statement), ``solution.py`` (the signature of ``solve`` and a body that raises)
  and ``test_solution.py`` (the visible examples as pytest tests). The observation
  gives the task and the rules; `tools` lists the workspace tools of the ``tools``
  parameter (`palaestra.sandbox.TOOL_NAMES`: read_file, write_file, edit_file,
  list_files, shell, run_python, run_tests) and ``submit``; `data` holds `task_id`,
  `family`, `turn` (0), `source` (``"task"``), `files` and `signature`.
- `step({"agent": action})`, one agent turn: each of ``action.tool_calls`` runs in order
  (at most `MAX_CALLS` a turn) and answers as a `tool` message; the workspace persists
  across calls and turns. ``submit()`` reads ``solution.py`` from the workspace and runs
  it against the hidden tests in a fresh sandbox (never the agent's workspace, whose
  tests the agent controls), then ends the episode; calls after it are not run. Results
  are also in ``data["tool_results"]`` (``id``, ``name``, ``content``, ``error``). An
  action without tool calls answers ``Error: ...``. After `max_turns` turns without a
  submission, the episode is truncated.
- At the episode's end (its last step, or `end_episode` when the runtime ends it: the
  step limit, a budget, an error), the workspace's manifest (files, sizes, SHA-256,
  capped; `palaestra.core.WorkspaceManifest`) is queued for `drain_events`, which the
  runtime records as a ``workspace`` event, and the workspace is destroyed (see
  `palaestra.sandbox.EpisodeWorkspace`).
- `score()`: the fraction of hidden tests ``solution.py`` passed when submitted (0
  without a submission); `success` when it passed all. Metrics: `tests_passed`,
  `submitted`, `tool_calls` and `tool_errors`.

Outputs are bounded and free of wall-clock figures, so the same actions give the same
observations (replay, `check_env`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from palaestra.core import (
    Action,
    Message,
    Observation,
    Payload,
    ToolCall,
    ToolSpec,
    UserError,
)
from palaestra.envs._protocol import Score, Step
from palaestra.envs.code._tasks import CodeTask, TaskSet, Verdict, verify
from palaestra.sandbox import (
    TOOL_NAMES,
    EpisodeWorkspace,
    Limits,
    Sandbox,
    Workspace,
    WorkspaceFileError,
    isolation_event,
    pytest_paths,
)

AGENT = "agent"
MAX_CALLS = 20
"""Tool calls run at most per turn; the others are answered with an error."""
SOLUTION = "solution.py"
"""The file graded at submission."""
SOLUTION_BYTES = 1 << 20
"""The largest ``solution.py`` graded."""
SUBMIT = ToolSpec(
    name="submit",
    description=(
        "Submit solution.py as it is in your workspace: it is run against hidden tests "
        "(the score is the fraction passed) and the episode ends."
    ),
    parameters={"type": "object", "properties": {}, "additionalProperties": False},
)


class WorkspaceParams(BaseModel):
    """Parameters of `code.workspace`."""

    model_config = ConfigDict(extra="forbid")
    num_tasks: int = Field(default=100, ge=1, le=10_000, description="How many tasks to generate.")
    task_seed: int = Field(default=0, ge=0, description="Seed of the generated tasks.")
    max_turns: int = Field(
        default=20, ge=1, le=1000, description="Agent turns before the episode is truncated."
    )
    tools: list[str] = Field(
        default_factory=lambda: list(TOOL_NAMES),
        description="Workspace tools offered (besides submit): " + ", ".join(TOOL_NAMES) + ".",
    )
    cpu_seconds: int = Field(default=5, ge=1, le=600, description="CPU seconds per command.")
    memory_mb: int = Field(default=512, ge=64, le=65536, description="Memory per process, MiB.")
    wall_seconds: float = Field(
        default=20.0, gt=0, le=600, description="Wall-clock seconds per command."
    )
    max_output_bytes: int = Field(
        default=8000, ge=100, le=1_000_000, description="Bytes of stdout and of stderr kept."
    )
    max_processes: int = Field(
        default=16, ge=1, le=64, description="Processes a command may run, itself included."
    )
    disk_mb: int = Field(default=64, ge=1, le=65536, description="Size cap of the workspace, MiB.")
    isolation: Literal["bwrap", "none"] = Field(
        default="bwrap",
        description="bwrap: the kernel sandbox (refused with a clear error where it cannot "
        "start); none: plain subprocesses that contain nothing (explicit opt-in, recorded "
        "in the log).",
    )

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(TOOL_NAMES))
        if unknown or len(set(value)) != len(value) or not value:
            raise ValueError(
                f"tools must be distinct names among {', '.join(TOOL_NAMES)}; got {value}"
            )
        return value

    def limits(self) -> Limits:
        return Limits(
            cpu_seconds=self.cpu_seconds,
            memory_mb=self.memory_mb,
            wall_seconds=self.wall_seconds,
            max_output_bytes=self.max_output_bytes,
            max_processes=self.max_processes,
        )


def stub(task: CodeTask) -> str:
    """The ``solution.py`` an episode starts with."""
    return f'{task.signature}\n    raise NotImplementedError("write solve")\n'


def task_files(task: CodeTask) -> dict[str, str]:
    """The files of a fresh workspace for `task`."""
    tests = ["from solution import solve", ""]
    for number, example in enumerate(task.examples, 1):
        tests += ["", f"def test_example_{number}():"]
        tests += [f"    assert {example.call()} == {example.expected!r}", ""]
    return {
        "TASK.md": task.prompt() + "\n",
        SOLUTION: stub(task),
        "test_solution.py": "\n".join(tests),
    }


class WorkspaceEnv:
    """`code.python`'s tasks in a persistent workspace with coding tools (module doc)."""

    def __init__(self, params: WorkspaceParams | None = None, *, sandbox: Sandbox | None = None):
        self.params = params if params is not None else WorkspaceParams()
        self.limits = self.params.limits()
        self.sandbox = sandbox or Sandbox(
            self.limits, isolation=self.params.isolation, disk_mb=self.params.disk_mb
        )
        """Where the hidden tests run (a fresh workspace each time)."""
        self.episode = EpisodeWorkspace(
            self._new_workspace, include=self.params.tools, limits=self.limits
        )
        if "run_tests" in self.params.tools:
            pytest_paths()  # staged once per process, here rather than in the event loop
        self._tasks = TaskSet(self.params.task_seed, self.params.num_tasks)
        self._task: CodeTask | None = None
        self._verdict: Verdict | None = None
        self._events: list[Payload] = []
        self._turn = self._calls = self._errors = 0
        self._done = True

    def _new_workspace(self) -> Workspace:
        paths = pytest_paths() if "run_tests" in self.params.tools else []
        return Workspace(
            limits=self.limits,
            disk_mb=self.params.disk_mb,
            python_paths=paths,
            isolation=self.params.isolation,
        )

    @property
    def agents(self) -> list[str]:
        return [AGENT]

    def tasks(self) -> list[str]:
        return list(self._tasks.ids)

    def task(self, task_id: str) -> CodeTask:
        """The task `task_id`, or a `UserError`."""
        task = self._tasks.get(task_id)
        if task is None:
            shown = ", ".join(self._tasks.ids[:6]) + (", ..." if len(self._tasks) > 6 else "")
            raise UserError(
                f"unknown task {task_id!r} for code.workspace (task_seed="
                f"{self.params.task_seed}, num_tasks={self.params.num_tasks}); valid "
                f"tasks: {shown}"
            )
        return task

    def instructions(self) -> str:
        limits = self.limits
        return (
            "You solve a programming task in a Linux workspace (a sandbox with no network; "
            "Python 3 with its standard library). Your workspace holds TASK.md (the task), "
            "solution.py (write the function `solve` there) and test_solution.py (the "
            "examples as pytest tests). Use the tools to read, edit and run files and "
            "tests; files persist between calls. Each command may use "
            f"{limits.cpu_seconds} s of CPU and {limits.wall_seconds:g} s of wall clock. "
            "When solution.py is right, call submit(): it is run against hidden tests and "
            f"the episode ends. You have {self.params.max_turns} turns."
        )

    def _specs(self) -> list[ToolSpec]:
        return [*self.episode.specs, SUBMIT]

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        chosen = self.task(self._tasks.ids[seed % len(self._tasks)] if task is None else task)
        self._task, self._verdict = chosen, None
        files = task_files(chosen)
        workspace = await self.episode.open(files)
        event = isolation_event(workspace, "code.workspace")
        self._events = [event] if event is not None else []
        self._turn = self._calls = self._errors = 0
        self._done = False
        prompt = chosen.prompt()
        data = {
            **self._data("task"),
            "family": chosen.family,
            "signature": chosen.signature,
            "files": sorted(files),
        }
        return {
            AGENT: Observation(
                text=f"{self.instructions()}\n\n{prompt}",
                data=data,
                tools=self._specs(),
                messages=[
                    Message(role="system", content=self.instructions()),
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
            ran = [await self._run(call, index) for index, call in enumerate(calls)]
            results = [r for r in ran if r is not None]
            text = "\n\n".join(f"[{r['name']} ({r['id']})]\n{r['content']}" for r in results)
            observation = Observation(
                text=text,
                data=self._data("tool", tool_results=results),
                tools=self._specs(),
                messages=[
                    Message(role="tool", content=r["content"], name=r["name"], tool_call_id=r["id"])
                    for r in results
                ],
            )
            info = {
                "source": "tool",
                "tool_calls": len(results),
                "tool_errors": sum(r["error"] for r in results),
                "submitted": self._verdict is not None,
            }
        else:
            text = (
                "Error: no tool was called. Use the tools to work on solution.py, and "
                "submit() when it is done."
            )
            observation = Observation(
                text=text,
                data=self._data("env", error=text),
                tools=self._specs(),
                messages=[Message(role="user", content=text)],
            )
            info = {"source": "env", "tool_calls": 0, "tool_errors": 1}
            self._errors += 1
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

    async def _run(self, call: ToolCall, index: int) -> dict[str, Any] | None:
        """One tool call's result entry (None once the episode was submitted)."""
        if self._verdict is not None:
            return None
        self._calls += 1
        entry: dict[str, Any] = {"id": call.id, "name": call.name, "error": False}
        if index >= MAX_CALLS:
            text = f"Error: at most {MAX_CALLS} tool calls run per turn; this one was not run"
            entry.update(content=text, error=True)
        elif call.name not in self.episode.names | {"submit"}:
            names = ", ".join(spec.name for spec in self._specs())
            text = f"Error: unknown tool {call.name!r}; available tools: {names}"
            entry.update(content=text, error=True)
        elif call.name == "submit":
            self._verdict = await self._grade()
            entry.update(content=self._verdict.render())
        else:
            outcome = await self.episode.call(call)
            entry.update(content=outcome.content, error=outcome.is_error)
        self._errors += entry["error"]
        return entry

    async def _grade(self) -> Verdict:
        """Run the workspace's ``solution.py`` against the hidden tests."""
        assert self._task is not None and self.episode.workspace is not None
        total = len(self._task.tests)
        try:
            data = self.episode.workspace.read_bytes(SOLUTION, max_bytes=SOLUTION_BYTES)
            code = data.decode("utf-8")
        except (WorkspaceFileError, UnicodeDecodeError) as exc:
            reason = str(exc) if isinstance(exc, WorkspaceFileError) else "it is not UTF-8"
            problem = f"{SOLUTION} could not be read: {reason}"
            return Verdict(0, total, problem=problem, loaded=False)
        return await verify(self.sandbox, self._task, code, self.limits)

    def drain_events(self) -> list[Payload]:
        """Events for the log: the ``isolation: none`` warning (after episode_start) and
        the workspace's manifest (at the episode's end)."""
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
            "tool_calls": float(self._calls),
            "tool_errors": float(self._errors),
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
