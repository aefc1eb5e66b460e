"""The `workspace` event in the rest of the system: `palaestra replay` re-runs a
`code.python` episode to the same manifest (and the same log hash), and shows a final
file whose content differs; a scorer grades the files left (`workspace_files`); the
OpenTelemetry export carries it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from palaestra.core import Message, ToolCall
from palaestra.envs.code import build_task
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.runtime import Experiment, Job, LLMOperatorConfig, arun
from palaestra.store import Store, export_otel
from palaestra.studies._replay import replay_episode
from tests.envs.code.conftest import NO_BWRAP

pytestmark = pytest.mark.skipif(NO_BWRAP is not None, reason=f"no sandbox: {NO_BWRAP}")

NOTE = "left by the agent\n"
NOTE_SHA = hashlib.sha256(NOTE.encode()).hexdigest()


def _agent(codes: list[str], *, submit: bool) -> ScriptedModel:
    """A model that runs `codes` with run_python, one a turn, then submits (or idles)."""
    task = build_task(0, 0)

    def reply(request: ModelRequest) -> Message:
        turn = sum(1 for m in request.messages if m.role == "assistant")
        if turn < len(codes):
            call = ToolCall(id=f"r{turn}", name="run_python", arguments={"code": codes[turn]})
        elif submit:
            call = ToolCall(id="s", name="submit", arguments={"code": task.reference})
        else:
            call = ToolCall(id=f"i{turn}", name="run_python", arguments={"code": "print(1)"})
        return Message(role="assistant", tool_calls=[call])

    return ScriptedModel(fn=reply)


async def _run(tmp_path: Path, codes: list[str], **job: Any) -> tuple[Path, str, str]:
    submit = job.pop("submit", True)
    experiment = Experiment(
        name="code-replay",
        jobs=[
            Job(
                env="code.python",
                params={"num_tasks": 1},
                operator=LLMOperatorConfig(model="default"),
                **job,
            )
        ],
    )
    store = tmp_path / "runs.db"
    models = {"default": _agent(codes, submit=submit)}
    result = await arun(experiment, store=store, models=models)
    (row,) = result.episodes
    assert row.outcome != "error", row
    return store, result.run_id, row.episode_id


WRITE = f"open('note.txt', 'w').write({NOTE!r})"


@pytest.mark.parametrize("ended_by", ["env", "max_steps"])
async def test_a_replay_of_a_code_episode_is_identical(tmp_path: Path, ended_by: str) -> None:
    job: dict[str, Any] = {} if ended_by == "env" else {"max_steps": 2, "submit": False}
    store, run_id, episode_id = await _run(tmp_path, [WRITE], **job)
    with Store(store) as opened:
        events = opened.events(run_id, episode_id)
        (manifest,) = [e for e in events if e.kind == "workspace"]
        assert manifest.payload.file("note.txt").sha256 == NOTE_SHA  # type: ignore[attr-defined]
        report = await replay_episode(opened, run_id, episode_id)
    assert report.equal, report.describe()
    assert report.replayed_hash == report.recorded_hash


async def test_a_replay_shows_a_final_file_whose_content_differs(tmp_path: Path) -> None:
    # the program prints nothing: only the file it leaves differs from run to run
    secret = "import os\nopen('key.bin', 'wb').write(os.urandom(16))"
    store, run_id, episode_id = await _run(tmp_path, [WRITE, secret])
    with Store(store) as opened:
        events = opened.events(run_id, episode_id)
        (manifest,) = [e for e in events if e.kind == "workspace"]
        report = await replay_episode(opened, run_id, episode_id)
    assert not report.equal and report.first_difference == manifest.seq
    assert report.expected is not None and report.got is not None
    assert report.expected["kind"] == report.got["kind"] == "workspace"
    recorded, replayed = report.expected["payload"]["files"], report.got["payload"]["files"]
    assert [f["path"] for f in recorded] == [f["path"] for f in replayed] == ["key.bin", "note.txt"]
    assert recorded[0]["sha256"] != replayed[0]["sha256"]  # key.bin's content
    assert recorded[1] == replayed[1]  # note.txt's is the same
    assert f"DIFFERS at seq {manifest.seq}" in report.describe()


async def test_a_scorer_grades_the_files_left(tmp_path: Path) -> None:
    scorers = [
        {
            "use": "workspace_files",
            "name": "files_ok",
            "target": {"note.txt": NOTE_SHA, "scratch.txt": False},
        },
        {  # the same function named as a python scorer
            "python": "palaestra.eval:workspace_files",
            "name": "files_wrong",
            "target": {"note.txt": {"size": 1}, "solution.py": True, "scratch.txt": False},
        },
    ]
    # ended by the step limit: the manifest comes from the runtime's end of the episode
    store, run_id, episode_id = await _run(
        tmp_path, [WRITE], max_steps=2, submit=False, scorers=scorers
    )
    with Store(store) as opened:
        events = opened.events(run_id, episode_id)
    scores = {e.payload.scorer: e for e in events if e.kind == "score"}  # type: ignore[attr-defined]
    (manifest,) = [e for e in events if e.kind == "workspace"]
    assert manifest.seq < scores["files_ok"].seq
    ok = scores["files_ok"].payload
    assert (ok.value, ok.success) == (1.0, True), ok.explanation  # type: ignore[attr-defined]
    wrong = scores["files_wrong"].payload
    assert (wrong.value, wrong.success) == (pytest.approx(1 / 3), False)  # type: ignore[attr-defined]
    assert wrong.explanation == (  # type: ignore[attr-defined]
        "1/3 file expectations met; note.txt: size is 18, expected 1; solution.py: no such file"
    )


async def test_exports_carry_the_manifest(tmp_path: Path) -> None:
    store, run_id, episode_id = await _run(tmp_path, [WRITE], max_steps=2, submit=False)
    exporter = InMemorySpanExporter()
    with Store(store) as opened:
        export_otel(opened, run_id, exporter=exporter)
    (root,) = [s for s in exporter.get_finished_spans() if s.parent is None]
    (event,) = [e for e in root.events if e.name == "palaestra.workspace"]
    assert event.attributes is not None
    assert (event.attributes["palaestra.total_files"], event.attributes["palaestra.truncated"]) == (
        1,
        False,
    )
    files = json.loads(str(event.attributes["palaestra.files"]))  # objects: as JSON text
    assert [(f["path"], f["sha256"]) for f in files] == [("note.txt", NOTE_SHA)]
