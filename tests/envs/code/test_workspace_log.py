"""`code.python` and its episode's workspace: files persist across `run_python` calls,
the episode's end queues the workspace's manifest for the log, the workspace is
destroyed at the end, and `isolation: none` is recorded in the episode's log (through
the real runtime)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from palaestra.core import Action, FileEntry, ToolCall, WorkspaceManifest
from palaestra.envs import make
from palaestra.envs.code import AGENT, CodeEnv
from palaestra.runtime import Experiment, Job, arun
from palaestra.sandbox._workspace import NO_ISOLATION_WARNING
from palaestra.store import Store
from tests.envs.code.conftest import NO_BWRAP


def _call(name: str, call_id: str, code: str) -> ToolCall:
    return ToolCall(id=call_id, name=name, arguments={"code": code})


@pytest.mark.skipif(NO_BWRAP is not None, reason=f"no sandbox: {NO_BWRAP}")
async def test_files_persist_within_an_episode_and_the_manifest_ends_it() -> None:
    env = make("code.python", num_tasks=1, max_turns=3)
    assert isinstance(env, CodeEnv)
    task = env.task(env.tasks()[0])
    await env.reset(0, task.id)
    write = _call("run_python", "w", "open('notes.txt', 'w').write('kept')")
    read = _call("run_python", "r", "print(open('notes.txt').read())")
    first = await env.step({AGENT: Action(tool_calls=[write, read])})
    assert first.observations[AGENT].messages[1].content == "exit code: 0\nstdout:\nkept"
    assert "workspace" not in first.info and not first.terminated
    workspace = env.episode.workspace
    assert workspace is not None and workspace.started
    last = await env.step({AGENT: Action(tool_calls=[_call("submit", "s", task.reference)])})
    assert last.terminated and env.score().success and "workspace" not in last.info
    assert env.drain_events() == [
        WorkspaceManifest(
            files=[
                FileEntry(
                    path="notes.txt",
                    kind="file",
                    size=4,
                    sha256=hashlib.sha256(b"kept").hexdigest(),
                )
            ],
            total_files=1,
            total_bytes=4,
        )
    ]
    assert not workspace.started and env.episode.workspace is None  # destroyed
    await env.reset(0, task.id)  # a new episode starts with an empty workspace
    fresh = _call("run_python", "f", "import os\nprint(os.listdir('.'))")
    step = await env.step({AGENT: Action(tool_calls=[fresh])})
    assert step.observations[AGENT].messages[0].content == "exit code: 0\nstdout:\n[]"
    await env.aclose()


@pytest.mark.parametrize("faults", [None, [{"at": "env", "fault": "delay", "schedule": [0]}]])
async def test_isolation_none_is_recorded_in_the_log(tmp_path: Path, faults: object) -> None:
    # with faults, the fault wrapper must hand the environment's own events on too
    extra = {} if faults is None else {"faults": faults}
    job = Job(env="code.python", params={"num_tasks": 1, "isolation": "none"}, **extra)
    experiment = Experiment(name="code-unisolated", jobs=[job])
    result = await arun(experiment, store=tmp_path / "runs.db")
    (row,) = result.episodes
    assert row.outcome == "success", row
    with Store(tmp_path / "runs.db") as store:
        events = store.events(result.run_id, row.episode_id)
    governance = [e for e in events if e.kind == "governance"]
    assert len(governance) == 1 and governance[0].agent == "env"
    assert events[governance[0].seq - 1].kind == "episode_start"
    payload = governance[0].payload
    assert (payload.decision, payload.rule, payload.target) == (
        "allow",
        "sandbox.isolation_none",
        "code.python",
    )
    assert payload.detail == {"isolation": "none", "warning": NO_ISOLATION_WARNING}
    last_step = [e for e in events if e.kind == "env_step"][-1]
    assert events[last_step.seq + 1].kind == "workspace"  # no code ran: an empty one
    assert events[last_step.seq + 1].payload == WorkspaceManifest()
