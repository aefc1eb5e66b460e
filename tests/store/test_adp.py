"""ADP export and import on real stored runs: each agent's view of an episode as an ADP
trajectory of each version, validated by our mirror of that release's models, and the
round trip ADP -> events -> ADP giving the same bytes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from palaestra.core import UserError
from palaestra.store import (
    Adp15Trajectory,
    AdpApiAction,
    AdpCodeAction,
    AdpDatasetMetadata,
    AdpMessageAction,
    AdpTextObservation,
    Store,
    adp_to_episodes,
    episode_to_adp,
    export_adp,
    import_adp,
    iter_adp,
    read_adp,
)
from palaestra.store._adp_metadata import metadata_problems
from palaestra.store._adp_schema import TRAJECTORY_MODELS, trajectory_json
from tests.store.export_runs import Runs, shared_runs


@pytest.fixture(scope="module")
def runs() -> Runs:
    return shared_runs()


@pytest.fixture
def source(runs: Runs):
    with Store(runs.store_path) as store:
        yield store


def _export(store: Store, run_id: str, version: str = "1.3.0") -> str:
    buffer = io.StringIO()
    export_adp(store, run_id, buffer, version=version)
    return buffer.getvalue()


def test_baseline_episode_is_one_valid_trajectory_with_linked_tool_calls(source, runs):
    trajectories = list(iter_adp(source, runs.baseline, version="1.3.0"))
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
    assert details["agents"] == ["agent"]
    assert details["task"] == "cancel-000" and details["env"] == "tooluse.store"
    assert details["score"] == 1.0 and details["success"] is True
    assert traj.id == f"{runs.baseline}:{details['episode_id']}:agent"
    assert len(traj.available_apis or []) == 10
    assert {t["name"] for t in details["tools"]} == set(traj.available_apis or [])


def test_llm_agent_actions_come_from_the_model_without_duplicates(source, runs):
    trajectories = list(iter_adp(source, runs.llm, version="1.3.0"))
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
    traj = next(iter_adp(source, runs.code, version="1.3.0"))
    code = [i for i in traj.content if isinstance(i, AdpCodeAction)]
    assert len(code) == 1 and code[0].language == "python"
    assert "def solve" in code[0].content and code[0].tool_call_id == "call_run"
    submit = [i for i in traj.content if isinstance(i, AdpApiAction)]
    assert [s.function for s in submit] == ["submit"]
    assert submit[0].tool_call_id is None  # the episode ended: no result to link
    assert json.loads(trajectory_json(traj))["content"][2]["description"] is None


def test_multi_agent_system_gives_each_agent_its_view(source, runs):
    trajectories = list(iter_adp(source, runs.system, version="1.3.0"))
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
    # received from the orchestrator: an input (user), named; never the worker's own words
    assert (first.source, first.name) == ("user", "agent")
    assert isinstance(reply, AdpMessageAction) and reply.content.startswith("Q1 = 14")


@pytest.mark.parametrize("version", ["1.2.0", "1.3.0"])
@pytest.mark.parametrize("run", ["baseline", "llm", "code", "system"])
def test_round_trip_adp_events_adp_is_identical(source, runs, run, version, tmp_path):
    text = _export(source, run, version)
    model = TRAJECTORY_MODELS[version]
    for line in text.splitlines():
        model.model_validate_json(line)  # what that ADP release accepts
    # in memory: trajectories -> events -> trajectories
    episodes = adp_to_episodes(read_adp(io.StringIO(text)))
    again = [
        trajectory_json(t)
        for episode in episodes
        for t in episode_to_adp(episode.events, run_id=run, version=version)
    ]
    assert again == text.splitlines()
    # through a store and the file format
    path = tmp_path / f"{run}.adp.jsonl"
    path.write_text(text, encoding="utf-8")
    with Store(tmp_path / "imported.db") as target:
        assert import_adp(target, path) == run
        assert _export(target, run, version) == text
        rows = target.episodes(run)
        assert [r.status for r in rows] == ["finished"] * len(rows)
        assert [r.score for r in rows] == [r.score for r in source.episodes(run)]


@pytest.mark.parametrize("run", ["baseline", "llm", "code", "system"])
def test_1_5_0_is_a_dataset_directory_that_round_trips(source, runs, run, tmp_path):
    out = tmp_path / "out"
    count = export_adp(source, run, out, version="1.5.0")
    lines = (out / "trajectories.jsonl").read_text().splitlines()
    assert len(lines) == count > 0
    trajectories = [Adp15Trajectory.model_validate_json(line) for line in lines]
    metadata = AdpDatasetMetadata.model_validate_json((out / "metadata.json").read_text())
    assert metadata_problems(metadata, trajectories) == []
    for traj in trajectories:
        # the specs are in metadata.json, under the names the trajectory lists
        names = {t.function.name for t in metadata.custom_tools}
        assert set(traj.available_custom_tools or []) <= names
    with Store(tmp_path / "imported.db") as target:
        assert import_adp(target, out) == run
        again = tmp_path / "again"
        export_adp(target, run, again, version="1.5.0")
    for name in ("trajectories.jsonl", "metadata.json"):
        assert (again / name).read_bytes() == (out / name).read_bytes()


def test_1_5_0_metadata_lists_the_tools_and_code_languages(source, runs, tmp_path):
    export_adp(source, runs.code, tmp_path / "code", version="1.5.0")
    metadata = json.loads((tmp_path / "code" / "metadata.json").read_text())
    assert metadata["code_enabled"] == ["python"] and metadata["browser_enabled"] is False
    names = [t["function"]["name"] for t in metadata["custom_tools"]]
    assert "run_python" in names and "submit" in names
    first = json.loads((tmp_path / "code" / "trajectories.jsonl").read_text().splitlines()[0])
    assert first["available_code_languages"] == ["python"]
    assert "available_apis" not in first


def test_1_2_0_has_no_ids_and_pairs_by_adjacency(source, runs):
    for run in runs.all:
        for line in _export(source, run, "1.2.0").splitlines():
            assert "tool_call_id" not in line
        # the ids of the 1.3.0 export say which observation answers which call: in the
        # same order, every tool action directly followed by an observation is answered
        # by exactly that observation (what 1.2.0's readers assume)
        for traj in iter_adp(source, run, version="1.3.0"):
            content = traj.content
            for item, following in zip(content, content[1:], strict=False):
                if isinstance(item, AdpApiAction | AdpCodeAction) and isinstance(
                    following, AdpTextObservation
                ):
                    assert following.tool_call_id == item.tool_call_id is not None


def test_export_refuses_an_unknown_version_and_a_stream_for_1_5_0(source, runs):
    with pytest.raises(UserError, match="unknown ADP version '1.4.0'"):
        export_adp(source, runs.code, io.StringIO(), version="1.4.0")
    with pytest.raises(UserError, match="dataset directory"):
        export_adp(source, runs.code, io.StringIO(), version="1.5.0")


def test_1_5_0_refuses_a_file_name(source, runs, tmp_path):
    with pytest.raises(UserError, match="writes a directory"):
        export_adp(source, runs.code, tmp_path / "x.jsonl", version="1.5.0")
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="not a directory"):
        export_adp(source, runs.code, tmp_path / "file", version="1.5.0")


def _traj(content, **extra):
    return {"schema_version": "1.3.0", "id": "t", "content": content, **extra}


API = {"class_": "api_action", "function": "f", "kwargs": {}, "tool_call_id": "c1"}
RESULT = {
    "class_": "text_observation",
    "content": "ok",
    "source": "environment",
    "tool_call_id": "c1",
}


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
    path.write_text(_export(source, runs.baseline, "1.2.0"))
    with Store(tmp_path / "s.db") as store:
        import_adp(store, path)
        with pytest.raises(UserError, match="already exists"):
            import_adp(store, path)
        assert import_adp(store, path, run_id="again") == "again"


def test_1_5_0_directory_is_written_whole_or_not_at_all(source, runs, tmp_path, monkeypatch):
    out = tmp_path / "ds"
    export_adp(source, runs.code, out, version="1.5.0")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # an earlier export is replaced whole; a failure half-way leaves it as it was
    import palaestra.store._adp_write as writer

    calls = []

    def failing(trajectory):
        calls.append(trajectory)
        if len(calls) > 1:
            raise RuntimeError("disk gone")
        return trajectory_json(trajectory)

    monkeypatch.setattr(writer, "trajectory_json", failing)
    with pytest.raises(RuntimeError, match="disk gone"):
        export_adp(source, runs.code, out, version="1.5.0")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with pytest.raises(RuntimeError, match="disk gone"):
        calls.clear()
        export_adp(source, runs.code, tmp_path / "new", version="1.5.0")
    assert not (tmp_path / "new").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no temporary left


def test_1_5_0_into_a_directory_with_other_files_keeps_them(source, runs, tmp_path):
    (tmp_path / "README.md").write_text("my dataset\n")
    export_adp(source, runs.code, tmp_path, version="1.5.0")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "README.md",
        "metadata.json",
        "trajectories.jsonl",
    ]
    assert (tmp_path / "README.md").read_text() == "my dataset\n"
