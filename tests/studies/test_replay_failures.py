"""Runs against a real chat server on 127.0.0.1 that fails in each way a provider fails
(5xx until the retries are spent, timeouts, a connection dropped after the request was
read, malformed JSON, a token or wall-time budget), then `replay`: every episode, the
failed ones included, replays to the same log and hash; and every request the server
read is one `model_response` attempt in the log, the transport's re-sends included."""

from __future__ import annotations

import asyncio

import palaestra
from palaestra.config._experiment import Limits
from palaestra.runtime import Experiment, Job, LLMOperatorConfig, ModelConfig
from palaestra.store import Store
from palaestra.studies._replay import replay_episode
from palaestra.testing import ChatServer


def _experiment(url: str, *, tasks: int, **limits: object) -> Experiment:
    model = ModelConfig(
        spec="openai:test",
        base_url=url,
        timeout_s=0.3,
        max_retries=2,
        options={"backoff_base_s": 0.01},
    )
    return Experiment(
        models={"remote": model},
        jobs=[
            Job(
                env="test.counter",
                operator=LLMOperatorConfig(model="remote"),
                params={"num_tasks": tasks},
                max_steps=1,
                tasks=tasks,
            )
        ],
        limits=Limits(**limits),  # type: ignore[arg-type]
    )


def _replay_all(db_path, run_id):
    with Store(db_path) as store:
        rows = store.episodes(run_id)
        reports = [asyncio.run(replay_episode(store, run_id, r.episode_id)) for r in rows]
        events = {r.episode_id: store.events(run_id, r.episode_id) for r in rows}
    return rows, reports, events


def _number(task: str | None) -> int:
    assert task is not None and task.startswith("t")
    return int(task[1:])


def _attempts(events):
    return [e.payload for e in events if e.kind == "model_response"]


def test_every_failure_kind_replays_identically_and_every_send_is_logged(db_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with ChatServer(reply="DONE") as server:
        # episodes run one at a time, one model call each, in task order:
        server.push()  # 0: answered (its connection stays in the pool)
        server.push(drop=True)  # 1: dropped on the pooled connection after it was read,
        server.push()  # ... re-sent by the transport on a new one, answered
        server.push(drop=True)  # 2: dropped on the pooled connection again; the re-send
        for _ in range(3):  # ... and both retries get 503: a model error
            server.push(status=503)
        for _ in range(3):  # 3: malformed JSON every time: a reply error
            server.push(malformed=True)
        for _ in range(3):  # 4: no reply within timeout_s every time
            server.push(delay_s=1.0)
        for _ in range(3):  # 5: dropped on fresh connections: connection errors
            server.push(drop=True)
        result = palaestra.run(_experiment(server.base_url, tasks=6), store=db_path, concurrency=1)
        seen = server.request_count
        assert server.pending_faults == 0
    rows, reports, events = _replay_all(db_path, result.run_id)
    by_task = {_number(r.task): r for r in rows}
    assert [by_task[i].outcome for i in range(6)] == ["failure", "failure"] + ["error"] * 4
    for report in reports:
        assert report.equal, report.describe()
        assert report.replayed_hash == report.recorded_hash
    logged = {_number(r.task): _attempts(events[r.episode_id]) for r in rows}
    assert sum(len(a) for a in logged.values()) == seen == 1 + 2 + 4 + 3 + 3 + 3
    # the transport's re-sends are attempts, marked as such
    resend_1, answer_1 = logged[1]
    assert resend_1.resent and resent_text(resend_1.error)
    assert resend_1.retry_after_s == 0.0 and answer_1.error is None and answer_1.attempt == 2
    assert [a.resent for a in logged[2]] == [True, False, False, False]
    assert [a.attempt for a in logged[2]] == [1, 2, 3, 4]
    assert all("503" in (a.error or "") for a in logged[2][1:])
    assert not any(a.resent for t in (0, 3, 4, 5) for a in logged[t])
    assert all(a.error and a.error.startswith("timeout") for a in logged[4])
    assert all(a.error and a.error.startswith("connection error") for a in logged[5])
    ends = {_number(r.task): events[r.episode_id][-1].payload for r in rows}
    assert ends[2].error.startswith("ModelError: ") and "after 4 attempts" in ends[2].error
    assert ends[3].error.startswith("ModelReplyError: ")
    assert all(ends[t].traceback is None for t in (2, 3, 4, 5))


def resent_text(error: str | None) -> bool:
    return error is not None and "reused keep-alive connection" in error and "again" in error


def test_budget_ends_replay_identically(db_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with ChatServer(reply="DONE") as server:
        tokens = palaestra.run(_experiment(server.base_url, tasks=1, max_tokens=3), store=db_path)
        # the server answers after the episode's wall-time budget, within timeout_s
        server.delay_s = 1.0
        experiment = _experiment(server.base_url, tasks=1, max_wall_s=0.3)
        experiment.models["remote"].timeout_s = 5.0
        wall = palaestra.run(experiment, store=db_path)
    for result, reason in ((tokens, "token budget"), (wall, "wall-time budget")):
        rows, reports, events = _replay_all(db_path, result.run_id)
        (row,) = rows
        assert row.reason == "budget" and reason in row.error, row.error
        (report,) = reports
        assert report.equal, report.describe()
        assert report.replayed_hash == report.recorded_hash


def test_judge_calls_record_every_attempt_and_replay_identically(db_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with ChatServer(reply="GRADE: C") as server:
        server.push(status=503)  # the first episode's judge: its one retry spent, it fails
        server.push(status=503)
        server.push(drop=True)  # the second's: dropped on the pooled connection, re-sent
        judge = {"spec": "openai:test", "base_url": server.base_url, "max_retries": 1}
        judge["options"] = {"backoff_base_s": 0.01}
        experiment = {
            "models": {"judge": judge},
            "jobs": [{"env": "tooluse.store", "tasks": 2}],
            "scorers": [{"use": "model_graded", "model": "judge", "criterion": "handled"}],
        }
        result = palaestra.run(experiment, store=db_path, concurrency=1)
        seen = server.request_count
    rows, reports, events = _replay_all(db_path, result.run_id)
    first, second = (events[r.episode_id] for r in sorted(rows, key=lambda r: r.task or ""))
    failed = [e.payload for e in first if e.kind == "model_response"]
    assert [(a.attempt, a.message is None) for a in failed] == [(1, True), (2, True)]
    assert failed[0].error.startswith("HTTP 503") and failed[0].retry_after_s is not None
    assert failed[1].error.startswith("ModelError: ") and "after 2 attempts" in failed[1].error
    score = next(e.payload for e in first if e.kind == "score" and e.payload.error)
    assert failed[1].error in score.error
    resent, answered = (e.payload for e in second if e.kind == "model_response")
    assert resent.resent and resent.attempt == 1
    assert answered.error is None and answered.attempt == 2
    assert seen == 4
    for report in reports:
        assert report.equal, report.describe()
