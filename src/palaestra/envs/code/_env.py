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

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

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
from palaestra.sandbox import EpisodeWorkspace, Limits, Sandbox, isolation_event

AGENT = "agent"
"""Name of the one agent of `code.python`."""
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


class CodeParams(BaseModel):
    """Parameters of `code.python`."""

    model_config = ConfigDict(extra="forbid")
    num_tasks: int = Field(default=100, ge=1, le=10_000, description="How many tasks to generate.")
    task_seed: int = Field(default=0, ge=0, description="Seed of the generated tasks.")
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

    def limits(self) -> Limits:
        """The sandbox limits these parameters describe."""
        return Limits(
            cpu_seconds=self.cpu_seconds,
            memory_mb=self.memory_mb,
            wall_seconds=self.wall_seconds,
            max_output_bytes=self.max_output_bytes,
            max_processes=self.max_processes,
        )


class CodeEnv:
    """Generated Python tasks, a sandbox to try code in, hidden tests to score it."""

    def __init__(self, params: CodeParams | None = None, *, sandbox: Sandbox | None = None):
        self.params = params if params is not None else CodeParams()
        """The validated parameters (what the registry's baseline is built from)."""
        self.limits = self.params.limits()
        self.sandbox = sandbox or Sandbox(
            self.limits, isolation=self.params.isolation, disk_mb=self.params.disk_mb
        )
        self.episode = EpisodeWorkspace(
            self.sandbox.workspace,
            include=(),
            manifest_files=MANIFEST_FILES,
            manifest_bytes=MANIFEST_BYTES,
        )
        """The episode's workspace (its commands are this environment's own
        ``run_python``, so no workspace tools)."""
        self._events: list[Payload] = []
        self._tasks = TaskSet(self.params.task_seed, self.params.num_tasks)
        self._task: CodeTask | None = None
        self._verdict: Verdict | None = None
        self._turn = 0
        self._runs = 0
        self._failed_runs = 0
        self._done = True

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
                f"unknown task {task_id!r} for code.python (task_seed="
                f"{self.params.task_seed}, num_tasks={self.params.num_tasks}); valid "
                f"tasks: {shown}"
            )
        return task

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

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        chosen = self.task(self._tasks.ids[seed % len(self._tasks)] if task is None else task)
        self._task = chosen
        self._verdict = None
        workspace = await self.episode.open(start=False)
        event = isolation_event(workspace, "code.python")
        self._events = [event] if event is not None else []
        self._turn = self._runs = self._failed_runs = 0
        self._done = False
        instructions, prompt = self.instructions(), chosen.prompt()
        data = {
            **self._data("task"),
            "family": chosen.family,
            "signature": chosen.signature,
            "examples": [e.model_dump(mode="json") for e in chosen.examples],
        }
        return {
            AGENT: Observation(
                text=f"{instructions}\n\n{prompt}",
                data=data,
                tools=list(TOOLS),
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
        action = actions[AGENT]
        self._turn += 1
        if action.tool_calls:
            observation, info = await self._run_tools(action.tool_calls)
        else:
            text = (
                "Error: no tool was called. Call run_python(code) to try code, or "
                "submit(code) to submit your solution."
            )
            observation = Observation(
                text=text,
                data=self._data("env", error=text),
                tools=list(TOOLS),
                messages=[Message(role="user", content=text)],
            )
            info = {"source": "env", "tool_calls": 0, "tool_errors": 1}
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

    async def _run_tools(self, calls: list[ToolCall]) -> tuple[Observation, dict[str, Any]]:
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
                self._runs += 1
                self._failed_runs += not result.ok
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
        text = "\n\n".join(f"[{r['name']} ({r['id']})]\n{r['content']}" for r in results)
        observation = Observation(
            text=text,
            data=self._data("tool", tool_results=results),
            tools=list(TOOLS),
            messages=[
                Message(role="tool", content=r["content"], name=r["name"], tool_call_id=r["id"])
                for r in results
            ],
        )
        info = {
            "source": "tool",
            "tool_calls": len(results),
            "tool_errors": sum(r["error"] for r in results),
            "killed_by": [r["killed_by"] for r in results if r["killed_by"]],
            "submitted": self._verdict is not None,
        }
        return observation, info

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
            "runs": float(self._runs),
            "failed_runs": float(self._failed_runs),
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
