"""ADP export and import on real stored runs: each agent's view of an episode as an ADP
1.2.0 trajectory, validated by our mirror of ADP's models, and the round trip
ADP -> events -> ADP giving the same bytes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from palaestra.core import UserError
from palaestra.store import (
    AdpApiAction,
    AdpCodeAction,
    AdpMessageAction,
    AdpTextObservation,
    AdpTrajectory,
    Store,
    adp_to_episodes,
    episode_to_adp,
    export_adp,
    import_adp,
    iter_adp,
    read_adp,
)
from palaestra.store._adp_schema import trajectory_json
from tests.store.export_runs import Runs, shared_runs


@pytest.fixture(scope="module")
def runs() -> Runs:
    return shared_runs()


@pytest.fixture
def source(runs: Runs):
    with Store(runs.store_path) as store:
        yield store


def _export(store: Store, run_id: str) -> str:
    buffer = io.StringIO()
    export_adp(store, run_id, buffer)
    return buffer.getvalue()


def test_baseline_episode_is_one_valid_trajectory_with_linked_tool_calls(source, runs):
    trajectories = list(iter_adp(source, runs.baseline))
    assert len(trajectories) == 2  # one agent, two episodes
    traj = trajectories[0]
    events = source.events(runs.baseline, source.episodes(runs.baseline)[0].episode_id)
    actions = [e.payload.action for e in events if e.kind == "action"]
    calls = [c for a in actions for c in a.tool_calls]
    api = [i for i in traj.content if isinstance(i, AdpApiAction)]
    assert [(a.function, a.kwargs, a.tool_call_id) for a in api] == [
        (c.name, c.arguments, c.id) for c in calls
    ]
    results = [i for i in traj.content if isinstance(i, AdpTextObservation) and i.tool_call_id]
    assert [r.tool_call_id for r in results] == [c.id for c in calls]
    assert all(r.source == "environment" for r in results)
    # each result comes after its call
    position = {id(item): n for n, item in enumerate(traj.content)}
    for call, result in zip(api, results, strict=True):
        assert position[id(call)] < position[id(result)]
    # the customer's first message is a user observation; the closing reply a message
    user = [i for i in traj.content if isinstance(i, AdpTextObservation) and i.source == "user"]
    assert "lucas.iyer76@example.com" in user[0].content
    assert isinstance(traj.content[-1], AdpMessageAction)
    assert traj.content[-1].reward == 1.0
    details = traj.details
    assert details["agent"] == "agent" and details["run_id"] == runs.baseline
    assert details["task"] == "cancel-000" and details["env"] == "tooluse.store"
    assert details["score"] == 1.0 and details["success"] is True
    assert traj.id == f"{runs.baseline}:{details['episode_id']}:agent"
    assert len(traj.available_apis or []) == 10
    assert {t["name"] for t in details["tools"]} == set(traj.available_apis or [])


def test_llm_agent_actions_come_from_the_model_without_duplicates(source, runs):
    trajectories = list(iter_adp(source, runs.llm))
    solved = next(t for t in trajectories if t.details["success"])
    kinds = [item.class_ for item in solved.content]
    assert kinds.count("api_action") == 3  # the model's three calls, not repeated by actions
    assert kinds.count("message_action") == 1
    assert [i.function for i in solved.content if isinstance(i, AdpApiAction)] == [
        "find_user_id_by_email",
        "get_order_details",
        "cancel_pending_order",
    ]
    # the operator's system prompt is in details, not in the content
    assert "interactive environment" in solved.details["system_prompt"]
    assert solved.details["operator"] == "llm:scripted"


def test_code_tool_becomes_code_action_and_unanswered_call_has_no_id(source, runs):
    traj = next(iter_adp(source, runs.code))
    code = [i for i in traj.content if isinstance(i, AdpCodeAction)]
    assert len(code) == 1 and code[0].language == "python"
    assert "def solve" in code[0].content and code[0].tool_call_id == "call_run"
    submit = [i for i in traj.content if isinstance(i, AdpApiAction)]
    assert [s.function for s in submit] == ["submit"]
    assert submit[0].tool_call_id is None  # the episode ended: no result to link
    assert json.loads(trajectory_json(traj))["content"][2]["description"] is None


def test_multi_agent_system_gives_each_agent_its_view(source, runs):
    trajectories = list(iter_adp(source, runs.system))
    by_agent = {t.details["agent"]: t for t in trajectories}
    assert set(by_agent) == {"agent", "agent/q1_solver", "agent/q2_solver"}
    boss = by_agent["agent"]
    delegations = [i for i in boss.content if isinstance(i, AdpApiAction)][:2]
    assert [d.function for d in delegations] == ["delegate_to_q1_solver", "delegate_to_q2_solver"]
    results = {
        i.tool_call_id: i.content
        for i in boss.content
        if isinstance(i, AdpTextObservation) and i.tool_call_id
    }
    assert results[delegations[0].tool_call_id].startswith("Q1 = 14")
    # the delegation messages belong to the tool calls: not repeated as messages
    assert not any(isinstance(i, AdpMessageAction) for i in boss.content)
    worker = by_agent["agent/q1_solver"]
    first, reply = worker.content
    assert isinstance(first, AdpTextObservation)
    assert (first.source, first.name) == ("agent", "agent")
    assert isinstance(reply, AdpMessageAction) and reply.content.startswith("Q1 = 14")


@pytest.mark.parametrize("run", ["baseline", "llm", "code", "system"])
def test_round_trip_adp_events_adp_is_identical(source, runs, run, tmp_path):
    text = _export(source, run)
    # in memory: trajectories -> events -> trajectories
    episodes = adp_to_episodes(read_adp(io.StringIO(text)))
    again = [
        trajectory_json(t)
        for episode in episodes
        for t in episode_to_adp(episode.events, run_id=run)
    ]
    assert again == text.splitlines()
    # through a store and the file format
    path = tmp_path / f"{run}.adp.jsonl"
    path.write_text(text, encoding="utf-8")
    with Store(tmp_path / "imported.db") as target:
        assert import_adp(target, path) == run
        assert _export(target, run) == text
        rows = target.episodes(run)
        assert [r.status for r in rows] == ["finished"] * len(rows)
        assert [r.score for r in rows] == [r.score for r in source.episodes(run)]


def test_foreign_trajectory_keeps_its_id_and_details(tmp_path):
    foreign = {
        "schema_version": "1.2.0",
        "id": "swe-123",
        "content": [
            {"class_": "text_observation", "content": "Fix the bug.", "source": "user"},
            {
                "class_": "api_action",
                "function": "read_file",
                "kwargs": {"path": "a.py"},
                "description": "Look first.",
                "tool_call_id": "t1",
            },
            {
                "class_": "text_observation",
                "content": "x = 1",
                "source": "environment",
                "tool_call_id": "t1",
            },
            {"class_": "code_action", "language": "bash", "content": "pytest", "description": None},
            {"class_": "message_action", "content": "Done.", "reward": 1.0},
        ],
        "available_apis": ["read_file"],
        "details": {"dataset": "demo", "difficulty": 3},
    }
    path = tmp_path / "foreign.jsonl"
    path.write_text(json.dumps(foreign) + "\n", encoding="utf-8")
    with Store(tmp_path / "s.db") as store:
        run_id = import_adp(store, path)
        assert run_id == "adp-foreign"
        (line,) = _export(store, run_id).splitlines()
    assert json.loads(line) == json.loads(AdpTrajectory.model_validate(foreign).model_dump_json())
    assert json.loads(line)["details"] == {"dataset": "demo", "difficulty": 3}


def _traj(content, **extra):
    return {"schema_version": "1.2.0", "id": "t", "content": content, **extra}


API = {"class_": "api_action", "function": "f", "kwargs": {}, "tool_call_id": "c1"}
RESULT = {
    "class_": "text_observation",
    "content": "ok",
    "source": "environment",
    "tool_call_id": "c1",
}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (_traj([API, RESULT], extra_field=1), "extra_field"),
        (_traj([{**API, "colour": "red"}]), "colour"),
        (_traj([RESULT]), "matches no preceding action"),
        (_traj([API, RESULT, RESULT]), "second result"),
        (_traj([API, API]), "repeats the action"),
        (_traj([API], available_apis=["g"]), "not in available_apis"),
        (
            _traj([{"class_": "message_action", "content": "x", "tool_call_id": "c"}]),
            "message_action",
        ),
        (_traj([{**RESULT, "source": "system", "tool_call_id": None}]), "source"),
        (_traj([{"class_": "code_action", "language": "python", "content": "1"}]), "description"),
        ({**_traj([]), "schema_version": "0.9"}, "unsupported schema_version"),
    ],
)
def test_validation_rejects_what_adp_rejects(record, message):
    with pytest.raises(UserError, match=message):
        read_adp(io.StringIO(json.dumps(record) + "\n"))


def test_read_errors_name_the_line(tmp_path: Path):
    good = _traj([API, RESULT])
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(_traj([RESULT])) + "\n")
    with pytest.raises(UserError, match=r"bad\.jsonl:2: not an ADP trajectory"):
        read_adp(path)
    path.write_text("{not json\n")
    with pytest.raises(UserError, match=r"bad\.jsonl:1: not valid JSON"):
        read_adp(path)


def test_import_refuses_an_existing_run(source, runs, tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text(_export(source, runs.baseline))
    with Store(tmp_path / "s.db") as store:
        import_adp(store, path)
        with pytest.raises(UserError, match="already exists"):
            import_adp(store, path)
        assert import_adp(store, path, run_id="again") == "again"
