"""A served environment's events reach the client's log: `code.python` behind
`palaestra serve-env` records its ``isolation: none`` warning and its workspace's
manifest whether it ends the episode itself or the client's runtime ends it
(``POST /end``); a server cannot slip the runtime's own kinds into the log."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from palaestra.core import Event, Message, ToolCall, WorkspaceManifest
from palaestra.envs.code import build_task
from palaestra.envs.remote import EnvServer, HttpEnvironment
from palaestra.envs.remote._wire import load_events
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.operators import LLMOperator
from palaestra.runtime import EpisodeLimits, EpisodeSpec, run_episode
from palaestra.runtime._recorder import row_event

NOTE = "kept\n"
PARAMS = {"num_tasks": 1, "isolation": "none"}


@pytest.fixture(scope="module")
def code_server() -> Iterator[EnvServer]:
    with EnvServer("code.python", PARAMS) as server:
        yield server


async def _play(server: EnvServer, limits: EpisodeLimits, *, submit: bool) -> list[Event]:
    env = HttpEnvironment(server.url, env="code.python")
    task = build_task(0, 0)

    def reply(request: ModelRequest) -> Message:
        turn = sum(1 for m in request.messages if m.role == "assistant")
        if turn == 0:
            code = f"open('note.txt', 'w').write({NOTE!r})"
            call = ToolCall(id="w", name="run_python", arguments={"code": code})
        elif submit:
            call = ToolCall(id="s", name="submit", arguments={"code": task.reference})
        else:
            call = ToolCall(id=f"p{turn}", name="run_python", arguments={"code": "print(1)"})
        return Message(role="assistant", tool_calls=[call])

    operator = LLMOperator(ScriptedModel(fn=reply))
    events: list[Event] = []
    spec = EpisodeSpec(episode_id="j/t/0", job="j", env_id="remote.http", task=task.id, seed=0)
    outcome = await run_episode(
        spec,
        env,
        lambda agent: operator,
        limits=limits,
        sink=lambda rows: events.extend(row_event(row) for row in rows),
    )
    assert outcome.outcome != "error", outcome.error
    await env.aclose()
    return events


def _manifest(events: list[Event]) -> Event:
    assert [e.kind for e in events if e.agent == "env"][:2] == ["episode_start", "governance"]
    (manifest,) = [e for e in events if e.kind == "workspace"]
    payload = manifest.payload
    assert isinstance(payload, WorkspaceManifest)
    entry = payload.file("note.txt")
    assert entry is not None and entry.sha256 == hashlib.sha256(NOTE.encode()).hexdigest()
    return manifest


async def test_an_episode_the_served_environment_ends(code_server: EnvServer) -> None:
    events = await _play(code_server, EpisodeLimits(), submit=True)
    manifest = _manifest(events)
    last_step = [e for e in events if e.kind == "env_step"][-1]
    assert manifest.parent == last_step.seq  # came back with the step's response
    assert (await HttpEnvironment(code_server.url).health())["instances"] == 0


async def test_an_episode_the_clients_runtime_ends(code_server: EnvServer) -> None:
    events = await _play(code_server, EpisodeLimits(max_steps=2), submit=False)
    assert events[-1].payload.reason == "max_steps"  # type: ignore[attr-defined]
    manifest = _manifest(events)
    assert manifest.parent is None  # POST /end, from the runtime's end_episode


def test_a_server_cannot_report_the_runtimes_own_kinds() -> None:
    assert load_events(None) == []
    good = [{"kind": "workspace", "payload": {"total_files": 0}}]
    assert load_events(good) == [WorkspaceManifest()]
    for bad in (
        [{"kind": "episode_end", "payload": {"outcome": "success", "reason": "done"}}],
        [{"kind": "score", "payload": {"value": 1, "success": True}}],
        ["workspace"],
        {"kind": "workspace"},
    ):
        with pytest.raises(ValueError):
            load_events(bad)
    with pytest.raises(ValueError):  # a payload that does not validate
        load_events([{"kind": "workspace", "payload": {"files": "all of them"}}])
