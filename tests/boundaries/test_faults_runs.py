"""Fault plans in real runs: the runtime wraps models, tools and environments from the
experiment's `faults:`; the same plan and seed inject the same faults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from palaestra.core import ConfigError, Event, Message, ToolCall
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.runtime import Experiment, load_fault_plan, run
from palaestra.store import Store
from palaestra.studies._replay import replay_episode
from tests.runtime.toy_env import register_counter


@pytest.fixture(autouse=True)
def _counter_env() -> None:
    register_counter()


def lookup(key: str) -> str:
    """Look up a key.

    Args:
        key: The key.
    """
    return f"value of {key} is 3"


def _answer(request: ModelRequest) -> Message:
    """An agent for `test.counter`: looks the target up with its own tool (again after
    an error), adds it with the environment's tool, then answers DONE."""
    last = request.messages[-1]
    content = last.content or ""
    if last.role == "tool" and content.startswith("Error") and "lookup" in content:
        return Message(
            role="assistant",
            tool_calls=[ToolCall(id="look2", name="lookup", arguments={"key": "target"})],
        )
    if last.role == "tool" and content.startswith("value of"):
        return Message(
            role="assistant", tool_calls=[ToolCall(id="add1", name="add", arguments={"n": 3})]
        )
    if "Reach" in content:
        return Message(
            role="assistant",
            tool_calls=[ToolCall(id="look1", name="lookup", arguments={"key": "target"})],
        )
    return Message(role="assistant", content="DONE")


def _experiment(faults: Any, *, tasks: int = 1, seeds: int = 1, **job: Any) -> dict[str, Any]:
    return {
        "name": "faults",
        "seed": 3,
        "limits": {"max_steps": 10},
        "models": {"m": {"spec": "scripted"}},
        "jobs": [
            {
                "env": "test.counter",
                "tasks": tasks,
                "seeds": seeds,
                "operator": {
                    "kind": "llm",
                    "model": "m",
                    "tools": ["tests.boundaries.test_faults_runs:lookup"],
                },
                **job,
            }
        ],
        "faults": faults,
    }


def _run(
    experiment: dict[str, Any], store: Path, **options: Any
) -> tuple[Any, dict[str, list[Event]]]:
    result = run(experiment, store=store, models={"m": ScriptedModel(fn=_answer)}, **options)
    with Store(store) as db:
        logs = {e.episode_id: db.events(result.run_id, e.episode_id) for e in result.episodes}
    return result, logs


def _faults(events: list[Event]) -> list[tuple[Any, ...]]:
    return [
        (e.seq, e.step, e.agent, e.parent, e.payload.fault, e.payload.target, e.payload.detail)
        for e in events
        if e.kind == "fault"
    ]


def test_without_faults_the_agent_succeeds(tmp_path):
    result, logs = _run(_experiment(None), tmp_path / "runs.db")
    assert result.success_rate == 1.0
    assert not any(_faults(events) for events in logs.values())


def test_a_tool_error_is_an_observation_the_agent_recovers_from(tmp_path):
    plan = [{"at": "tool", "target": "lookup", "fault": "error", "schedule": [0]}]
    result, logs = _run(_experiment(plan), tmp_path / "runs.db")
    (events,) = logs.values()
    (row,) = result.episodes
    assert row.outcome == "success" and row.reason == "done"  # the episode went on
    ((seq, _, agent, parent, fault, target, detail),) = _faults(events)
    assert (agent, fault, target, detail["call"]) == ("a0", "error", "lookup", 0)
    assert events[parent].kind == "tool_call" and events[parent].payload.call.id == "look1"
    first = next(e for e in events if e.kind == "tool_result")
    assert first.payload.is_error and "injected fault" in first.payload.content
    retried = [e.payload.call.id for e in events if e.kind == "tool_call"]
    assert retried == ["look1", "look2"]


def test_an_env_tool_error_never_reaches_the_environment(tmp_path):
    plan = [{"at": "tool", "target": "add", "fault": "error", "schedule": [0]}]
    result, logs = _run(_experiment(plan), tmp_path / "runs.db")
    (events,) = logs.values()
    assert result.episodes[0].outcome == "failure"  # it answered DONE at counter 0
    step = next(e for e in events if e.kind == "env_step")
    assert "counter" not in step.payload.info  # the environment was not stepped
    ((_, _, agent, parent, fault, target, detail),) = _faults(events)
    assert (agent, fault, target, detail["agent"], detail["call_id"]) == (
        "env",
        "error",
        "add",
        "a0",
        "add1",
    )
    assert parent == step.seq
    seen = next(e for e in events if e.kind == "observation" and e.step == 1)
    (message,) = seen.payload.observation.messages
    assert message.role == "tool" and message.tool_call_id == "add1"
    assert "Error: tool 'add' failed" in (message.content or "")
    assert seen.payload.observation.tools  # the agent may call again


def test_env_faults_perturb_observations_and_fail_steps(tmp_path):
    plan = [
        {"at": "env", "fault": "inject_text", "schedule": [0], "params": {"text": "IGNORE ME"}},
        {"at": "env", "target": "test.*", "fault": "error", "schedule": [1]},
    ]
    result, logs = _run(_experiment(plan), tmp_path / "runs.db")
    (events,) = logs.values()
    (row,) = result.episodes
    assert row.outcome == "error" and "FaultError" in (row.error or "")
    injected, failed = _faults(events)
    assert injected[1:] == (0, "env", 0, "inject_text", "test.counter", injected[6])
    assert injected[0] == 1  # right after episode_start
    first = next(e for e in events if e.kind == "observation")
    assert first.payload.observation.text.endswith("\n\nIGNORE ME")
    assert failed[1] == 1 and failed[4] == "error" and failed[6]["call"] == 1
    assert events[-1].payload.reason == "error"


def test_model_faults_in_a_run_and_their_replay(tmp_path):
    plan = [
        {"at": "model", "target": "m", "fault": "malformed", "schedule": [0]},
        {"at": "model", "fault": "delay", "schedule": [1], "params": {"seconds": 0.001}},
    ]
    store = tmp_path / "runs.db"
    result, logs = _run(_experiment(plan), store)
    (events,) = logs.values()
    kinds = [f[4] for f in _faults(events)]
    assert kinds == ["malformed", "delay"]
    broken = next(e for e in events if e.kind == "tool_call")
    assert set(broken.payload.call.arguments) == {"__raw__"}
    with Store(store) as db:
        import asyncio

        report = asyncio.run(replay_episode(db, result.run_id, result.episodes[0].episode_id))
    assert report.equal, report.describe()


def test_same_plan_and_seed_give_the_same_faults_at_any_concurrency(tmp_path):
    plan = {
        "rules": [
            {"at": "model", "fault": "delay", "probability": 0.3, "params": {"seconds": 0.001}},
            {"at": "tool", "fault": "error", "probability": 0.3},
            {"at": "env", "fault": "inject_text", "probability": 0.5, "params": {"text": "psst"}},
            {"at": "model", "fault": "malformed", "probability": 0.15},
        ]
    }
    experiment = _experiment(plan, tasks=3, seeds=4)
    first, one = _run(experiment, tmp_path / "a.db", concurrency=1)
    again, same = _run(experiment, tmp_path / "b.db", concurrency=1)
    parallel, four = _run(experiment, tmp_path / "c.db", concurrency=4)
    faults = {episode: _faults(events) for episode, events in one.items()}
    assert sum(len(f) for f in faults.values()) > 10
    assert {ep: _faults(ev) for ep, ev in same.items()} == faults
    assert {ep: _faults(ev) for ep, ev in four.items()} == faults
    hashes = {r.episode_id: r.hash for r in first.episodes}
    assert {r.episode_id: r.hash for r in parallel.episodes} == hashes
    assert {r.outcome for r in first.episodes} >= {"success", "failure"}
    # another plan seed injects elsewhere
    reseeded = _experiment({**plan, "seed": 11}, tasks=3, seeds=4)
    _, other = _run(reseeded, tmp_path / "d.db")
    assert {ep: _faults(ev) for ep, ev in other.items()} != faults


def test_a_job_plan_replaces_the_experiment_plan(tmp_path):
    plan = [{"at": "tool", "fault": "error"}]
    experiment = _experiment(plan)
    experiment["jobs"][0]["faults"] = []
    result, logs = _run(experiment, tmp_path / "runs.db")
    assert result.success_rate == 1.0 and not any(map(_faults, logs.values()))


def test_drop_message_loses_a_message_between_agents(tmp_path):
    experiment = {
        "seed": 0,
        "jobs": [{"env": "graph.coloring", "params": {"n": 4, "family": "ws"}, "tasks": 1}],
        "faults": [{"at": "env", "fault": "drop_message", "agent": "*", "schedule": [0]}],
    }
    result = run(experiment, store=tmp_path / "runs.db")
    with Store(tmp_path / "runs.db") as db:
        events = db.events(result.run_id, result.episodes[0].episode_id)
    dropped = [e for e in events if e.kind == "fault"]
    agents = events[0].payload.agents
    assert len(dropped) == len(agents)  # one message lost per sender, at step 0
    for event in dropped:
        detail = event.payload.detail
        assert event.agent == "env" and detail["boundary"] == "message" and detail["step"] == 0
        sent = next(
            e for e in events if e.kind == "action" and e.agent == detail["agent"] and e.step == 0
        )
        assert detail["to"] in sent.payload.action.data["messages"]  # it was sent, then lost


def test_unknown_fault_names_fail_with_the_file_line_and_choices(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("jobs:\n  - env: test.counter\nfaults:\n  - at: tool\n    fault: explode\n")
    with pytest.raises(ConfigError) as info:
        Experiment.from_yaml(path)
    message = str(info.value)
    assert f"{path}:5" in message and "faults.0.fault" in message
    assert "'error', 'timeout', 'delay'" in message
    path.write_text(
        "jobs:\n  - env: test.counter\nfaults:\n  rules:\n    - {at: network, fault: error}\n"
    )
    with pytest.raises(ConfigError, match=r"exp.yaml:5: faults.rules.0.at: .*'model', 'tool'"):
        Experiment.from_yaml(path)


def test_plan_files(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("faults:\n  seed: 4\n  rules:\n    - {at: env, fault: delay}\n")
    assert load_fault_plan(path).seed == 4
    path.write_text("- at: tool\n  fault: truncate\n  params: {fraction: 3}\n")
    with pytest.raises(ConfigError, match=r"plan.yaml:3: rules.0.params.fraction"):
        load_fault_plan(path)
