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

from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from palaestra.core import ToolCall, ToolSpec
from palaestra.envs.code._task_env import CodeTaskEnv, SandboxLimitsMixin, TaskListParams
from palaestra.envs.code._tasks import CodeTask, SubmissionResult, verify
from palaestra.sandbox import (
    TOOL_NAMES,
    EpisodeWorkspace,
    Sandbox,
    Workspace,
    WorkspaceFileError,
    pytest_paths,
)

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


class WorkspaceParams(SandboxLimitsMixin, TaskListParams):
    """Parameters of `code.workspace`."""

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


class WorkspaceEnv(CodeTaskEnv[WorkspaceParams]):
    """`code.python`'s tasks in a persistent workspace with coding tools (module doc)."""

    ENV_ID: ClassVar[str] = "code.workspace"
    COUNTS: ClassVar[tuple[str, ...]] = ("tool_calls", "tool_errors")
    NO_TOOL_CALL: ClassVar[str] = (
        "Error: no tool was called. Use the tools to work on solution.py, and "
        "submit() when it is done."
    )

    def __init__(self, params: WorkspaceParams | None = None, *, sandbox: Sandbox | None = None):
        super().__init__(params if params is not None else WorkspaceParams(), sandbox)
        if "run_tests" in self.params.tools:
            pytest_paths()  # staged once per process, here rather than in the event loop

    def _episode_workspace(self) -> EpisodeWorkspace:
        return EpisodeWorkspace(self._new_workspace, include=self.params.tools, limits=self.limits)

    def _new_workspace(self) -> Workspace:
        paths = pytest_paths() if "run_tests" in self.params.tools else []
        return Workspace(
            limits=self.limits,
            disk_mb=self.params.disk_mb,
            python_paths=paths,
            isolation=self.params.isolation,
        )

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

    async def _open(self, task: CodeTask) -> Workspace:
        return await self.episode.open(task_files(task))

    def _task_data(self, task: CodeTask) -> dict[str, Any]:
        return {"files": sorted(task_files(task))}

    def _specs(self) -> list[ToolSpec]:
        return [*self.episode.specs, SUBMIT]

    async def _run_calls(self, calls: list[ToolCall]) -> list[dict[str, Any]]:
        ran = [await self._run(call, index) for index, call in enumerate(calls)]
        return [r for r in ran if r is not None]

    async def _run(self, call: ToolCall, index: int) -> dict[str, Any] | None:
        """One tool call's result entry (None once the episode was submitted)."""
        if self._verdict is not None:
            return None
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
        return entry

    def _tally(self, info: dict[str, Any]) -> None:
        # every call answered counts, and every error (a turn without calls is one)
        self._counts["tool_calls"] += info["tool_calls"]
        self._counts["tool_errors"] += info["tool_errors"]

    async def _grade(self) -> SubmissionResult:
        """Run the workspace's ``solution.py`` against the hidden tests."""
        assert self._task is not None and self.episode.workspace is not None
        total = len(self._task.tests)
        try:
            data = self.episode.workspace.read_bytes(SOLUTION, max_bytes=SOLUTION_BYTES)
            code = data.decode("utf-8")
        except (WorkspaceFileError, UnicodeDecodeError) as exc:
            reason = str(exc) if isinstance(exc, WorkspaceFileError) else "it is not UTF-8"
            problem = f"{SOLUTION} could not be read: {reason}"
            return SubmissionResult(0, total, problem=problem, loaded=False)
        return await verify(self.sandbox, self._task, code, self.limits)
