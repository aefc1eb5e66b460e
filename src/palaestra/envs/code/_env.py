"""`CodeEnv` (`code.python`): one agent writes a Python function, testing it with a
sandboxed `run_python` tool, and submits it to be run against hidden tests.

Episode protocol (one agent, named `agent`):

- `reset(seed, task)` returns the task: its statement, the signature of ``solve``, two
  examples and the rules of the tools, in `text` and as `messages` (system, user);
  `tools` holds the specs of `run_python` and `submit`; `data` holds `task_id`,
  `family`, `turn` (0), `source` (``"task"``), `signature` and `examples` (``args``,
  ``expected``). `seed` only picks the task when `task` is None (``tasks()[seed % len]``).
- `step({"agent": action})`, one agent turn:
  - each of ``action.tool_calls``, in order: ``run_python(code)`` runs `code` in the
    sandbox and answers with its exit code, stdout, stderr and the limit that stopped
    it, if any; ``submit(code)`` runs `code` against the hidden tests and ends the
    episode (`terminated`); calls after it in the same action are not run. Results come
    back as `tool` messages (with `tool_call_id`), in `text`, and in
    ``data["tool_results"]`` (``id``, ``name``, ``content``, ``error``, ``exit_code``,
    ``killed_by``). A malformed call (unknown tool, missing or non-string ``code``,
    arguments that were not JSON) answers ``Error: ...`` and runs nothing.
  - an action without tool calls answers ``Error: ...`` (the agent must use the tools).
  - after `max_turns` turns without a submission, the episode is `truncated`.
  - ``rewards["agent"]`` is the episode's score on its final step, 0 before.
- `score()`: the fraction of hidden tests the submission passed (0 without one);
  `success` when it passed all. Metrics: `tests_passed` (that fraction), `submitted`,
  `runs` (calls of run_python) and `failed_runs` (those that did not exit with 0).

The episode holds one `palaestra.sandbox.Workspace` (through an `EpisodeWorkspace`,
started by the first ``run_python``): files a call writes are there for the next one.
At the episode's end (its last step, or `end_episode` when the runtime ends it: the
step limit, a budget, an error), that workspace's manifest (files, sizes, SHA-256;
capped; `palaestra.core.WorkspaceManifest`, empty if no code ran) is queued for
`drain_events`, which the runtime records as a ``workspace`` event, so scorers can
grade the files left and replay compares them; the workspace is destroyed then (and by
`aclose`). Hidden tests run in a fresh sandbox of their own, never in the agent's
workspace.

With ``isolation: none`` (an explicit opt-in: nothing is contained) the episode's log
gets a `governance` event (``decision: allow``, ``rule: sandbox.isolation_none``) right
after ``episode_start``, through `drain_events`, and the process logs a warning once.

Nothing a snippet does raises here: it is an observation. Wall-clock durations are kept
out of observations and `info`, so a replay with the same actions gives the same steps.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from palaestra.core import ToolCall, ToolSpec
from palaestra.envs.code._task_env import CodeTaskEnv, SandboxLimitsMixin, TaskListParams
from palaestra.envs.code._tasks import CodeTask, verify
from palaestra.sandbox import EpisodeWorkspace, Sandbox, Workspace

MANIFEST_FILES = 200
"""Files listed at most in the workspace manifest recorded at an episode's end."""
MANIFEST_BYTES = 16 << 20
"""Bytes hashed at most for that manifest."""

_CODE = {"type": "string", "description": "Python 3 source code."}
TOOLS = [
    ToolSpec(
        name="run_python",
        description=(
            "Run a Python 3 program in a sandbox (standard library only, no network; its "
            "working directory is your workspace, whose files persist between runs) and "
            "see its exit code, stdout and stderr. Print what you want to see."
        ),
        parameters={
            "type": "object",
            "properties": {"code": _CODE},
            "required": ["code"],
            "additionalProperties": False,
        },
    ),
    ToolSpec(
        name="submit",
        description=(
            "Submit your final code, which must define the function `solve`. It is run "
            "against hidden tests (the score is the fraction passed) and ends the episode."
        ),
        parameters={
            "type": "object",
            "properties": {"code": _CODE},
            "required": ["code"],
            "additionalProperties": False,
        },
    ),
]
"""The environment tools an agent of `code.python` may call at every turn."""


class CodeParams(SandboxLimitsMixin, TaskListParams):
    """Parameters of `code.python`."""

    max_turns: int = Field(
        default=10, ge=1, le=1000, description="Agent turns before the episode is truncated."
    )
    cpu_seconds: int = Field(
        default=2, ge=1, le=600, description="CPU seconds per run (and for the hidden tests)."
    )
    memory_mb: int = Field(default=256, ge=32, le=65536, description="Memory per process, MiB.")
    wall_seconds: float = Field(
        default=5.0, gt=0, le=600, description="Wall-clock seconds per run before it is killed."
    )
    max_output_bytes: int = Field(
        default=4000,
        ge=100,
        le=1_000_000,
        description="Bytes of stdout and of stderr shown per run; more ends the run.",
    )
    max_processes: int = Field(
        default=1, ge=1, le=64, description="Processes a snippet may run, itself included."
    )
    disk_mb: int = Field(
        default=64, ge=1, le=65536, description="Size cap of the episode's workspace, MiB."
    )
    isolation: Literal["bwrap", "none"] = Field(
        default="bwrap",
        description="bwrap: the kernel sandbox (refused with a clear error where it cannot "
        "start); none: a plain subprocess that contains nothing (explicit opt-in, recorded "
        "in the log).",
    )


class CodeEnv(CodeTaskEnv[CodeParams]):
    """Generated Python tasks, a sandbox to try code in, hidden tests to score it."""

    ENV_ID: ClassVar[str] = "code.python"
    COUNTS: ClassVar[tuple[str, ...]] = ("runs", "failed_runs")
    NO_TOOL_CALL: ClassVar[str] = (
        "Error: no tool was called. Call run_python(code) to try code, or "
        "submit(code) to submit your solution."
    )

    def __init__(self, params: CodeParams | None = None, *, sandbox: Sandbox | None = None):
        super().__init__(params if params is not None else CodeParams(), sandbox)

    def _episode_workspace(self) -> EpisodeWorkspace:
        # its commands are this environment's own run_python, so no workspace tools
        return EpisodeWorkspace(
            self.sandbox.workspace,
            include=(),
            manifest_files=MANIFEST_FILES,
            manifest_bytes=MANIFEST_BYTES,
        )

    def instructions(self) -> str:
        """The rules of the episode: the tools, the limits, the turns."""
        limits = self.limits
        return (
            "You solve a programming task in Python 3 with two tools.\n"
            "- run_python(code): runs a program in a sandbox (standard library only, no "
            "network; files you write persist between runs; limits: "
            f"{limits.cpu_seconds} s CPU, "
            f"{limits.memory_mb} MiB memory, {limits.wall_seconds:g} s wall clock, "
            f"{limits.max_output_bytes} bytes of output) and shows its exit code, stdout "
            "and stderr. Print what you want to see.\n"
            "- submit(code): submits your final code, which must define `solve`. It runs "
            "against hidden tests under the same limits; the score is the fraction passed. "
            "Submitting ends the episode.\n"
            f"You have {self.params.max_turns} turns."
        )

    async def _open(self, task: CodeTask) -> Workspace:
        return await self.episode.open(start=False)  # started by the first run_python

    def _task_data(self, task: CodeTask) -> dict[str, Any]:
        return {"examples": [e.model_dump(mode="json") for e in task.examples]}

    def _specs(self) -> list[ToolSpec]:
        return list(TOOLS)

    async def _run_calls(self, calls: list[ToolCall]) -> list[dict[str, Any]]:
        assert self._task is not None
        results: list[dict[str, Any]] = []
        for call in calls:
            entry: dict[str, Any] = {"id": call.id, "name": call.name, "error": False}
            entry.update(exit_code=None, killed_by=None)
            problem = _malformed(call)
            if problem:
                entry.update(content=f"Error: {problem}", error=True)
            elif call.name == "run_python":
                assert self.episode.workspace is not None
                result = await self.episode.workspace.run_python(
                    call.arguments["code"], limits=self.limits
                )
                self._counts["runs"] += 1
                self._counts["failed_runs"] += not result.ok
                entry.update(
                    content=result.render(), exit_code=result.exit_code, killed_by=result.killed_by
                )
            else:
                self._verdict = await verify(
                    self.sandbox, self._task, call.arguments["code"], self.limits
                )
                entry.update(content=self._verdict.render())
            results.append(entry)
            if self._verdict is not None:
                break
        return results

    def _tool_info(self, results: list[dict[str, Any]]) -> dict[str, Any]:
        return {"killed_by": [r["killed_by"] for r in results if r["killed_by"]]}


def _malformed(call: ToolCall) -> str:
    """What is wrong with `call` ('' when it can run), worded for the model."""
    names = [spec.name for spec in TOOLS]
    if call.name not in names:
        return f"unknown tool {call.name!r}; available tools: {', '.join(names)}"
    arguments = call.arguments
    if "__raw__" in arguments:
        raw = str(arguments["__raw__"])[:200]
        return (
            f"the arguments of {call.name} were not valid JSON ({raw!r}); pass an object "
            'like {"code": "print(1)"}'
        )
    extra = sorted(set(arguments) - {"code"})
    if "code" not in arguments:
        return f"{call.name} needs the argument 'code' (Python source, a string)"
    if not isinstance(arguments["code"], str):
        kind = type(arguments["code"]).__name__
        return f"{call.name}: 'code' must be a string of Python source, got {kind}"
    if extra:
        return f"{call.name} takes only 'code'; unexpected: {', '.join(extra)}"
    return ""
