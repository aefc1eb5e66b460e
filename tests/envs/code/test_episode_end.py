"""Episodes of `code.python` and `code.workspace` ended every way the runtime ends them
(the environment's own end, `max_steps`, a token budget, a wall-time budget, a model
error) record the workspace's manifest once, as a `workspace` event, and leave no
workspace behind: its holder process is gone and its directory removed, before the
runtime closes the environment."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from palaestra.core import Event, Message, ModelError, ToolCall, Usage, WorkspaceManifest
from palaestra.envs import make
from palaestra.envs.code import CodeEnv, WorkspaceEnv, build_task
from palaestra.models import ModelRequest, ModelResponse, ScriptedModel
from palaestra.operators import LLMOperator
from palaestra.runtime import EpisodeLimits, EpisodeOutcome, EpisodeSpec, run_episode
from palaestra.runtime._recorder import row_event
from palaestra.sandbox import Workspace
from tests.envs.code.conftest import MODES, NO_BWRAP

needs_bwrap = pytest.mark.skipif(NO_BWRAP is not None, reason=f"no sandbox: {NO_BWRAP}")

NOTE = b"left by the agent"


def _children() -> set[int]:
    """Pids of this process's child processes (a workspace's holder is one)."""
    me, found = str(os.getpid()), set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat[stat.rindex(")") + 2 :].split()[1] == me:
            found.add(int(entry.name))
    return found


def _call(name: str, **arguments: object) -> ToolCall:
    return ToolCall(id=f"c-{name}", name=name, arguments=arguments)


# What the agent does, per environment: write the note, then an idle command, a command
# that sleeps past any wall-time budget, and the submission.
MOVES: dict[str, dict[str, ToolCall]] = {
    "code.python": {
        "write": _call("run_python", code=f"open('note.txt', 'wb').write({NOTE!r})"),
        "idle": _call("run_python", code="print('still here')"),
        "sleep": _call("run_python", code="import time\ntime.sleep(120)"),
        "submit": _call("submit", code=build_task(0, 0).reference),
    },
    "code.workspace": {
        "write": _call("write_file", path="note.txt", content=NOTE.decode()),
        "idle": _call("list_files"),
        "sleep": _call("shell", command="sleep 120"),
        "submit": _call("submit"),
    },
}
START_FILES = {"code.python": [], "code.workspace": ["TASK.md", "solution.py", "test_solution.py"]}


@dataclass
class Played:
    outcome: EpisodeOutcome
    events: list[Event]
    env: Any
    workspaces: list[Workspace] = field(default_factory=list)
    """Every workspace seen started during the episode."""
    holders: set[int] = field(default_factory=set)
    """Their holder processes' pids (isolated workspaces)."""


async def _play(
    env_id: str,
    isolation: str,
    plan: list[str | Callable[[], Any]],
    limits: EpisodeLimits,
    **params: Any,
) -> Played:
    env = make(env_id, num_tasks=1, isolation=isolation, wall_seconds=60.0, **params)
    assert isinstance(env, CodeEnv | WorkspaceEnv)
    events: list[Event] = []
    played = Played(outcome=None, events=events, env=env)  # type: ignore[arg-type]

    def reply(request: ModelRequest) -> Any:
        workspace = env.episode.workspace
        if workspace is not None and workspace.started and workspace not in played.workspaces:
            played.workspaces.append(workspace)
            if workspace._holder is not None:
                played.holders.add(workspace._holder.pid)
        turn = sum(1 for m in request.messages if m.role == "assistant")
        move = plan[min(turn, len(plan) - 1)]
        if callable(move):
            return move()
        return Message(role="assistant", tool_calls=[MOVES[env_id][move]])

    spec = EpisodeSpec(episode_id="j/t/0", job="j", env_id=env_id, task=env.tasks()[0], seed=0)
    operator = LLMOperator(ScriptedModel(fn=reply))
    played.outcome = await run_episode(
        spec,
        env,
        lambda agent: operator,
        limits=limits,
        sink=lambda rows: events.extend(row_event(row) for row in rows),
    )
    return played


def _check(played: Played, env_id: str, *, note: bool = True) -> WorkspaceManifest:
    """One manifest, listing the note; the workspace destroyed, its holder gone."""
    manifests = [e for e in played.events if e.kind == "workspace"]
    assert len(manifests) == 1 and manifests[0].agent == "env"
    manifest = manifests[0].payload
    assert isinstance(manifest, WorkspaceManifest)
    paths = sorted(START_FILES[env_id] + (["note.txt"] if note else []))
    assert [f.path for f in manifest.files] == paths and not manifest.truncated
    if note:
        entry = manifest.file("note.txt")
        assert entry is not None and entry.sha256 == hashlib.sha256(NOTE).hexdigest()
    kinds = [e.kind for e in played.events]
    assert kinds.index("workspace") < kinds.index("score") == len(kinds) - 2
    # destroyed by the episode's end itself (the environment is not closed here)
    assert played.env.episode.workspace is None and played.workspaces
    for workspace in played.workspaces:
        assert not workspace.started
        layout = workspace._layout
        assert layout is not None and not os.path.exists(layout.base)
    assert len(played.holders) == sum(w.isolated for w in played.workspaces)
    for pid in played.holders:
        assert not os.path.exists(f"/proc/{pid}"), f"holder {pid} outlived its episode"
    assert not played.holders & _children()
    return manifest


ENVS = ["code.python", "code.workspace"]


@pytest.mark.parametrize("isolation", MODES)
@pytest.mark.parametrize("env_id", ENVS)
async def test_the_environments_own_end_records_the_files(env_id: str, isolation: str) -> None:
    played = await _play(env_id, isolation, ["write", "submit"], EpisodeLimits())
    assert played.outcome.reason == "done" and played.outcome.outcome != "error"
    _check(played, env_id)
    last_step = [e for e in played.events if e.kind == "env_step"][-1]
    (manifest,) = [e for e in played.events if e.kind == "workspace"]
    assert manifest.parent == last_step.seq  # recorded with the step that ended it
    await played.env.aclose()


@pytest.mark.parametrize("isolation", MODES)
@pytest.mark.parametrize("env_id", ENVS)
async def test_max_steps(env_id: str, isolation: str) -> None:
    played = await _play(env_id, isolation, ["write", "idle"], EpisodeLimits(max_steps=2))
    assert (played.outcome.reason, played.outcome.steps) == ("max_steps", 2)
    _check(played, env_id)
    (manifest,) = [e for e in played.events if e.kind == "workspace"]
    assert manifest.parent is None and manifest.step == 2  # recorded by the runtime's call
    await played.env.aclose()


@needs_bwrap
@pytest.mark.parametrize("env_id", ENVS)
async def test_a_token_budget(env_id: str) -> None:
    def costly() -> ModelResponse:
        message = Message(role="assistant", tool_calls=[MOVES[env_id]["idle"]])
        return ModelResponse(message=message, usage=Usage(output_tokens=600))

    plan: list[str | Callable[[], Any]] = ["write", costly]
    played = await _play(env_id, "bwrap", plan, EpisodeLimits(max_tokens=500))
    assert played.outcome.reason == "budget" and "token budget" in (played.outcome.error or "")
    _check(played, env_id)
    await played.env.aclose()


@needs_bwrap
@pytest.mark.parametrize("env_id", ENVS)
async def test_a_wall_time_budget_cuts_a_running_command(env_id: str) -> None:
    played = await _play(env_id, "bwrap", ["write", "sleep"], EpisodeLimits(max_wall_s=3.0))
    assert played.outcome.reason == "budget"
    assert "wall-time budget" in (played.outcome.error or "")
    _check(played, env_id)
    await played.env.aclose()


@needs_bwrap
@pytest.mark.parametrize("env_id", ENVS)
async def test_a_model_error(env_id: str) -> None:
    def gone() -> Any:
        raise ModelError("the provider is gone")

    played = await _play(env_id, "bwrap", ["write", gone], EpisodeLimits())
    assert played.outcome.reason == "error" and "provider is gone" in (played.outcome.error or "")
    _check(played, env_id)
    await played.env.aclose()


@needs_bwrap
async def test_an_episode_ended_before_any_code_ran_records_an_empty_workspace() -> None:
    def gone() -> Any:
        raise ModelError("the provider is gone")

    played = await _play("code.python", "bwrap", [gone], EpisodeLimits())
    assert played.outcome.reason == "error" and not played.workspaces
    (manifest,) = [e for e in played.events if e.kind == "workspace"]
    assert manifest.payload == WorkspaceManifest()  # never started: held nothing
    assert played.env.episode.workspace is None
