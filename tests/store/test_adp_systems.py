"""ADP exports of real runs of every multi-agent system in examples/systems (and of a
model that calls tools in parallel), in every version: accepted by that release's
models and its dataset rules, roles right, calls paired right, and read back whole."""

from __future__ import annotations

import functools
import io
import json
import tempfile
from pathlib import Path

import pytest

import palaestra
from palaestra.core import Message, ToolCall
from palaestra.models import ScriptedModel
from palaestra.runtime import Experiment, Job, LLMOperatorConfig
from palaestra.store import (
    Adp15Trajectory,
    AdpApiAction,
    AdpDatasetMetadata,
    AdpTextObservation,
    Store,
    export_adp,
    import_adp,
    iter_adp,
)
from palaestra.store._adp_metadata import metadata_problems
from palaestra.store._adp_schema import TRAJECTORY_MODELS, Adp12ApiAction

ROOT = Path(__file__).resolve().parents[2]
SYSTEMS = sorted(p.stem for p in (ROOT / "examples" / "systems").glob("*.yaml"))

PARALLEL = Message(
    role="assistant",
    content="Looking both up.",
    tool_calls=[
        ToolCall(
            id="", name="find_user_id_by_email", arguments={"email": "lucas.iyer76@example.com"}
        ),
        ToolCall(id="", name="get_order_details", arguments={"order_id": "#W3606055"}),
    ],
)


@functools.cache
def _store() -> Path:
    path = Path(tempfile.mkdtemp(prefix="palaestra-adp-")) / "systems.db"
    with Store(path) as store:
        for name in SYSTEMS:
            palaestra.run(ROOT / "examples" / "systems" / f"{name}.yaml", store=store, run_id=name)
        palaestra.run(
            Experiment(
                name="parallel",
                jobs=[
                    Job(
                        env="tooluse.store",
                        params={"db_seed": 0, "num_tasks": 1},
                        tasks=1,
                        operator=LLMOperatorConfig(model="default"),
                    )
                ],
            ),
            store=store,
            run_id="parallel",
            models={"default": ScriptedModel([PARALLEL, "Done."])},
        )
    return path


@pytest.fixture(scope="module")
def store():
    with Store(_store()) as opened:
        yield opened


def _jsonl(store: Store, run: str, version: str) -> str:
    buffer = io.StringIO()
    export_adp(store, run, buffer, version=version)
    return buffer.getvalue()


@pytest.mark.parametrize("run", [*SYSTEMS, "parallel"])
def test_every_version_is_what_its_release_accepts(store, run, tmp_path):
    for version in ("1.2.0", "1.3.0"):
        text = _jsonl(store, run, version)
        lines = text.splitlines()
        assert lines
        for line in lines:
            traj = TRAJECTORY_MODELS[version].model_validate_json(line)
            # ADP's dataset rule: available_apis covers every api_action.function
            used = {i.function for i in traj.content if isinstance(i, Adp12ApiAction)}
            assert used <= set(getattr(traj, "available_apis", None) or [])
            for key in ("score", "steps", "seed"):
                assert not isinstance(traj.details.get(key), str)
        path = tmp_path / f"{version}.jsonl"
        path.write_text(text)
        with Store(tmp_path / f"{version}.db") as target:
            import_adp(target, path)
            assert _jsonl(target, run, version) == text
    out = tmp_path / "1.5.0"
    export_adp(store, run, out, version="1.5.0")
    trajectories = [
        Adp15Trajectory.model_validate_json(line)
        for line in (out / "trajectories.jsonl").read_text().splitlines()
    ]
    metadata = AdpDatasetMetadata.model_validate_json((out / "metadata.json").read_text())
    assert metadata_problems(metadata, trajectories) == []


@pytest.mark.parametrize("run", [*SYSTEMS, "parallel"])
def test_inputs_from_other_agents_are_user_turns_and_outputs_are_the_agents(store, run):
    for traj in iter_adp(store, run, version="1.3.0"):
        agents = traj.details["agents"]
        assert traj.details["agent"] in agents
        for item in traj.content:
            if isinstance(item, AdpTextObservation) and item.name in agents:
                # a message received from another agent: the user's turn, never "agent"
                assert item.source == "user" and item.name != traj.details["agent"]
            if isinstance(item, AdpTextObservation):
                assert item.source != "agent" or item.name is None


@pytest.mark.parametrize("run", [*SYSTEMS, "parallel"])
def test_adjacency_pairs_what_the_ids_pair(store, run):
    """What 1.2.0's readers (and position-pairing converters) assume holds: a tool action
    followed by an observation is answered by exactly that observation."""
    for traj in iter_adp(store, run, version="1.3.0"):
        content = traj.content
        for item, following in zip(content, content[1:], strict=False):
            if isinstance(item, Adp12ApiAction) and isinstance(following, AdpTextObservation):
                assert following.tool_call_id == item.tool_call_id is not None  # type: ignore[attr-defined]


def test_parallel_calls_are_written_call_result_call_result(store):
    (traj,) = iter_adp(store, "parallel", version="1.3.0")
    kinds = [(i.class_, getattr(i, "function", None)) for i in traj.content]
    start = kinds.index(("api_action", "find_user_id_by_email"))
    assert kinds[start : start + 4] == [
        ("api_action", "find_user_id_by_email"),
        ("text_observation", None),
        ("api_action", "get_order_details"),
        ("text_observation", None),
    ]
    first, result, second, result2 = traj.content[start : start + 4]
    assert isinstance(first, AdpApiAction) and first.description == "Looking both up."
    assert result.tool_call_id == first.tool_call_id  # type: ignore[union-attr]
    assert result2.tool_call_id == second.tool_call_id  # type: ignore[union-attr]
    assert "lucas_iyer" in result.content  # type: ignore[union-attr]


def test_decentralized_members_hear_their_proposals_were_not_executed(store):
    members = {t.details["agent"]: t for t in iter_adp(store, "decentralized", version="1.3.0")}
    member = members["agent/a"]
    first_call = next(i for i in member.content if isinstance(i, AdpApiAction))
    answer = member.content[member.content.index(first_call) + 1]
    assert isinstance(answer, AdpTextObservation)
    assert answer.tool_call_id == first_call.tool_call_id
    assert answer.content.startswith("Not executed")
    # 1.2.0: the same order, without ids
    line = _jsonl(store, "decentralized", "1.2.0").splitlines()[1]
    content = json.loads(line)["content"]
    calls = [n for n, i in enumerate(content) if i["class_"] == "api_action"]
    assert content[calls[0] + 1]["content"].startswith("Not executed")
