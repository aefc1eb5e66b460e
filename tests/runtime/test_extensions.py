"""The extension seam: an outside `RunExtension`, registered from this test module, runs
in an experiment loaded from YAML, adds its metric to every episode, reaches the replay
through the job's plan, and is switched per job by the job-over-experiment rule."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import palaestra
from palaestra.core import Encoded, Payload, ScoreEvent, UserError
from palaestra.runtime import (
    EXTENSIONS,
    EpisodeRun,
    Experiment,
    RunExtension,
    register_extension,
)
from palaestra.store import Store
from palaestra.studies import replay_episode
from palaestra.tools import tool


@tool
def note(text: str) -> str:
    """Write a note down."""
    return "noted"


class CountToolCalls(RunExtension):
    """Counts the episode's calls of the agents' own tools (the `tool_call` events) and
    records the count as a metric of a `score` event named `tool_calls`."""

    def __init__(self, metric: str = "tool_calls"):
        self.metric = metric

    def on_episode_start(self, episode: EpisodeRun) -> None:
        episode.state[self] = 0

    def on_event(
        self,
        episode: EpisodeRun,
        seq: int,
        step: int,
        agent: str,
        payload: Payload | Encoded,
        parent: int | None,
        when: float,
    ) -> None:
        if payload.kind == "tool_call":
            episode.state[self] += 1

    async def on_episode_end(self, episode: EpisodeRun) -> None:
        count = float(episode.state[self])
        episode.recorder.emit(
            episode.step,
            "env",
            ScoreEvent(value=1.0, success=True, metrics={self.metric: count}, scorer="tool_calls"),
        )


register_extension("test.count_tools", CountToolCalls)

EXPERIMENT = """\
name: extension
models:
  counter:
    spec: scripted
    replies:
      - {calls: [{name: note, arguments: {text: a}}, {name: note, arguments: {text: b}}],
         when: "Counter is 0"}
      - DONE
extensions:
  - {use: test.count_tools, options: {metric: calls}}
jobs:
  - label: counted
    env: test.counter
    operator: {kind: llm, model: counter, tools: ['tests.runtime.test_extensions:note']}
    tasks: 2
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _metric(store: Store, run_id: str, episode_id: str) -> dict[str, float]:
    (score,) = [
        e.payload
        for e in store.events(run_id, episode_id)
        if e.kind == "score" and getattr(e.payload, "scorer", "") == "tool_calls"
    ]
    assert isinstance(score, ScoreEvent)
    return score.metrics


def test_an_outside_extension_runs_from_yaml_and_in_replay(tmp_path, db_path):
    result = palaestra.run(_write(tmp_path, EXPERIMENT), store=db_path)
    assert len(result.episodes) == 2
    with Store(db_path) as store:
        for row in result.episodes:
            events = store.events(result.run_id, row.episode_id)
            calls = sum(e.kind == "tool_call" for e in events)
            assert calls == 2
            assert _metric(store, result.run_id, row.episode_id) == {"calls": float(calls)}
            # the score comes before episode_end, and the replay records it again
            assert events[-1].kind == "episode_end"
            report = asyncio.run(replay_episode(store, result.run_id, row.episode_id))
            assert report.equal, report.describe()
            assert report.replayed_hash == row.hash


def test_an_extension_by_reference_and_a_job_entry_replacing_it(tmp_path, db_path):
    text = EXPERIMENT.replace(
        "use: test.count_tools,", "use: 'tests.runtime.test_extensions:CountToolCalls',"
    ).replace(
        "    tasks: 2\n",
        "    tasks: 1\n"
        "    extensions:\n"
        "      - {use: test.count_tools, name: 'tests.runtime.test_extensions:CountToolCalls',"
        " options: {metric: job_calls}}\n",
    )
    result = palaestra.run(_write(tmp_path, text), store=db_path)
    (row,) = result.episodes
    with Store(db_path) as store:
        assert set(_metric(store, result.run_id, row.episode_id)) == {"job_calls"}


def test_an_unknown_extension_is_an_error_naming_it(tmp_path, db_path):
    text = EXPERIMENT.replace("use: test.count_tools,", "use: test.count_tool,")
    with pytest.raises(UserError, match="test.count_tool"):
        palaestra.run(_write(tmp_path, text), store=db_path)


def test_an_extension_that_is_not_one_is_refused() -> None:
    with pytest.raises(UserError, match="neither a RunExtension subclass"):
        register_extension("test.not_one", dict)  # type: ignore[arg-type]
    assert EXTENSIONS.find("test.not_one") is None


def test_identity_hooks_change_nothing(db_path):
    """A job with an extension that overrides nothing records the same log as without."""
    register_extension("test.nothing", RunExtension)
    experiment: dict[str, Any] = {
        "name": "same",
        "jobs": [{"env": "graph.coloring", "params": {"n": 4}, "tasks": 1}],
    }
    plain = palaestra.run(Experiment.model_validate(experiment), store=db_path)
    experiment["extensions"] = [{"use": "test.nothing"}]
    extended = palaestra.run(Experiment.model_validate(experiment), store=db_path)
    assert [e.hash for e in plain.episodes] == [e.hash for e in extended.episodes]
