"""Deterministic replay: a recorded run re-runs identically from its own log, and a log
that was changed is caught at the first differing event."""

from __future__ import annotations

import asyncio
import sqlite3

import palaestra
from palaestra.models import ScriptedModel
from palaestra.runtime import Experiment, Job, LLMOperatorConfig
from palaestra.store import Store
from palaestra.studies._replay import replay_episode


def _reply(request):
    last = request.messages[-1].content or ""
    if "Counter is 0" in last or "Counter is 1." in last:
        return ScriptedModel.call("add", n=1)
    if "Counter is 2." in last:
        return ScriptedModel.call("add", n=1)
    return "DONE"


def _run(db_path):
    experiment = Experiment(
        name="replay",
        jobs=[
            Job(env="test.counter", operator=LLMOperatorConfig(model="default"), tasks=2),
            Job(env="graph.coloring", params={"n": 6}, tasks=1),
        ],
    )
    return palaestra.run(experiment, store=db_path, models={"default": ScriptedModel(fn=_reply)})


def test_replay_reproduces_every_episode(db_path):
    result = _run(db_path)
    assert result.success_rate == 1.0
    with Store(db_path) as store:
        for row in result.episodes:
            report = asyncio.run(replay_episode(store, result.run_id, row.episode_id))
            assert report.equal, report.describe()
            assert report.replayed_hash == row.hash


def test_replay_names_the_first_differing_event(db_path):
    result = _run(db_path)
    episode = next(e for e in result.episodes if e.env == "test.counter")
    with Store(db_path) as store:
        events = store.events(result.run_id, episode.episode_id)
    # tamper with the recorded reply of the second model call: the replay then sends a
    # different conversation at the third call and the environment sees another action
    target = [e for e in events if e.kind == "model_response"][1]
    tampered = target.model_copy(deep=True)
    tampered.payload.message.tool_calls[0].arguments = {"n": 5}
    con = sqlite3.connect(db_path)
    changed = con.execute(
        "UPDATE events SET json = ? WHERE episode = "
        "(SELECT id FROM episodes WHERE run_id = ? AND episode_id = ?) AND seq = ?",
        (tampered.to_json(), result.run_id, episode.episode_id, target.seq),
    ).rowcount
    con.commit()
    con.close()
    assert changed == 1
    with Store(db_path) as store:
        report = asyncio.run(replay_episode(store, result.run_id, episode.episode_id))
    assert not report.equal
    assert report.first_difference is not None and report.first_difference > target.seq
    assert "DIFFERS" in report.describe()
