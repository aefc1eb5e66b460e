"""Reading ADP written by other tools: every version (1.3.1 and 1.5.0 datasets too),
repeated trajectory ids, empty observations, code in any of ADP's languages, calls
paired by adjacency (1.2.0), the markers of unanswered calls; each written back."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from palaestra.core import UserError
from palaestra.store import (
    Adp13Trajectory,
    Store,
    export_adp,
    import_adp,
    read_adp,
    read_adp_dataset,
)
from palaestra.store._adp_items import NO_RESULT
from tests.store.adp_corpus import api, code, msg, obs, traj


def _write(path: Path, *records: dict) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _export(store: Store, run_id: str, version: str) -> list[dict]:
    buffer = io.StringIO()
    export_adp(store, run_id, buffer, version=version)
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def _canonical(record: dict) -> dict:
    """A record as ADP 1.3.0's models read it and palaestra writes it (None left out)."""
    return json.loads(Adp13Trajectory.model_validate(record).model_dump_json())


FOREIGN = traj(
    [
        obs("Fix the bug.", "user"),
        api("read_file", kwargs={"path": "a.py"}, description="Look first.", tool_call_id="t1"),
        obs("x = 1", tool_call_id="t1", name="read_file"),
        obs(""),  # an empty observation
        code("javascript", "console.log(1)", tool_call_id="t2"),
        obs("1", tool_call_id="t2"),
        code("bash", "pytest", reasoning_content="run the tests"),
        msg("Done.", reward=1.0),
    ],
    "1.3.0",
    available_apis=["read_file"],
    details={"dataset": "demo", "difficulty": 3},
)
FOREIGN["id"] = "swe-123"


def test_a_foreign_trajectory_round_trips_exactly(tmp_path):
    path = _write(tmp_path / "foreign.jsonl", FOREIGN)
    with Store(tmp_path / "s.db") as store:
        run_id = import_adp(store, path)
        assert run_id == "adp-foreign"
        (line,) = _export(store, run_id, "1.3.0")
        (older,) = _export(store, run_id, "1.2.0")
        newest = tmp_path / "newest"
        export_adp(store, run_id, newest, version="1.5.0")
    assert line == _canonical(FOREIGN)
    assert line["details"] == {"dataset": "demo", "difficulty": 3}
    assert line["content"][3] == {
        "class_": "text_observation",
        "content": "",
        "source": "environment",
    }
    assert line["content"][4]["language"] == "javascript"
    assert "tool_call_id" not in json.dumps(older) and older["schema_version"] == "1.2.0"
    (latest,) = [json.loads(x) for x in (newest / "trajectories.jsonl").read_text().splitlines()]
    assert latest["available_custom_tools"] == ["read_file"] and "available_apis" not in latest
    assert latest["available_code_languages"] == ["bash", "javascript"]
    metadata = json.loads((newest / "metadata.json").read_text())
    assert metadata["code_enabled"] == ["bash", "javascript"]


def test_repeated_trajectory_ids_do_not_refuse_a_file(tmp_path):
    first = traj([obs("a", "user"), msg("1")], "1.2.0")
    second = traj([obs("b", "user"), msg("2")], "1.2.0")  # the same id "t"
    path = _write(tmp_path / "dup.jsonl", first, second, first)
    with Store(tmp_path / "s.db") as store:
        run_id = import_adp(store, path)
        assert [r.episode_id for r in store.episodes(run_id)] == ["t", "t#2", "t#3"]
        written = _export(store, run_id, "1.2.0")
    assert [w["id"] for w in written] == ["t", "t", "t"]
    assert [w["content"][1]["content"] for w in written] == ["1", "2", "1"]


def test_a_palaestra_file_concatenated_twice_imports_and_writes_back(tmp_path, source_file):
    text = source_file.read_text()
    doubled = _write(tmp_path / "twice.jsonl")
    doubled.write_text(text + text)
    with Store(tmp_path / "s.db") as store:
        run_id = import_adp(store, doubled)
        buffer = io.StringIO()
        export_adp(store, run_id, buffer, version="1.3.0")
    assert buffer.getvalue() == text + text


@pytest.fixture
def source_file(tmp_path) -> Path:
    from tests.store.export_runs import shared_runs

    runs = shared_runs()
    with Store(runs.store_path) as store:
        buffer = io.StringIO()
        export_adp(store, runs.system, buffer, version="1.3.0")
    path = tmp_path / "system.jsonl"
    path.write_text(buffer.getvalue())
    return path


def test_1_3_1_files_import(tmp_path):
    record = {
        **traj([api(tool_call_id="c"), obs("ok", tool_call_id="c")]),
        "schema_version": "1.3.1",
    }
    with Store(tmp_path / "s.db") as store:
        run_id = import_adp(store, _write(tmp_path / "new.jsonl", record))
        (line,) = _export(store, run_id, "1.3.0")
    assert line["content"][1]["tool_call_id"] == line["content"][0]["tool_call_id"] == "c"


def test_a_1_5_0_dataset_directory_imports_with_its_tools(tmp_path):
    directory = tmp_path / "dataset"
    directory.mkdir()
    tools = [
        {
            "type": "function",
            "function": {
                "name": "f",
                "description": "F.",
                "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}},
            },
        },
        {"type": "function", "function": {"name": "g"}},
    ]
    (directory / "metadata.json").write_text(
        json.dumps({"custom_tools": tools, "code_enabled": ["go"], "browser_enabled": False})
    )
    record = traj(
        [
            obs("go", "user"),
            api("f", kwargs={"x": 1}, tool_call_id="c"),
            obs("ok", tool_call_id="c"),
            code("go", "x"),
        ],
        "1.5.0",
        available_custom_tools=["f"],
        available_code_languages=["go"],
    )
    _write(directory / "sample.jsonl", record, {**record, "available_custom_tools": None})
    trajectories, metadata = read_adp_dataset(directory)
    assert metadata is not None and [t.function.name for t in metadata.custom_tools] == ["f", "g"]
    with Store(tmp_path / "s.db") as store:
        run_id = import_adp(store, directory)
        first, second = (store.events(run_id, r.episode_id) for r in store.episodes(run_id))
        offered = [e.payload.observation.tools for e in first if e.kind == "observation"][0]
        assert [(t.name, t.description) for t in offered] == [("f", "F.")]
        offered = [e.payload.observation.tools for e in second if e.kind == "observation"][0]
        assert [t.name for t in offered] == ["f", "g"]  # no list: every custom tool
        out = tmp_path / "out"
        export_adp(store, run_id, out, version="1.5.0")
    again = [json.loads(line) for line in (out / "trajectories.jsonl").read_text().splitlines()]
    assert again[0] == json.loads(json.dumps(record))
    written = json.loads((out / "metadata.json").read_text())
    assert written["code_enabled"] == ["go"]
    assert [t["function"]["name"] for t in written["custom_tools"]] == ["f", "g"]


def test_a_1_5_0_file_finds_the_metadata_beside_it(tmp_path):
    (tmp_path / "metadata.json").write_text(
        json.dumps({"custom_tools": [{"function": {"name": "f"}}]})
    )
    record = traj([api("f")], "1.5.0")
    path = _write(tmp_path / "sample_std.jsonl", record)
    _trajectories, metadata = read_adp_dataset(path)
    assert metadata is not None
    (tmp_path / "metadata.json").write_text(json.dumps({"custom_tools": [], "colour": 1}))
    with pytest.raises(UserError, match=r"metadata\.json: not ADP dataset metadata"):
        read_adp_dataset(path)
    older = _write(tmp_path / "older.jsonl", traj([api("f")], "1.2.0"))
    assert read_adp_dataset(older)[1] is None  # a 1.2.0 file: no dataset metadata read


def test_a_directory_needs_one_trajectories_file(tmp_path):
    with pytest.raises(UserError, match="found none"):
        read_adp(tmp_path)


def test_1_2_0_calls_pair_with_the_observation_right_after(tmp_path):
    record = traj([obs("go", "user"), api("f"), obs("A"), api("g"), obs("B"), api("h")], "1.2.0")
    with Store(tmp_path / "s.db") as store:
        run_id = import_adp(store, _write(tmp_path / "old.jsonl", record))
        (linked,) = _export(store, run_id, "1.3.0")
        (same,) = _export(store, run_id, "1.2.0")
    ids = [i.get("tool_call_id") for i in linked["content"]]
    assert ids[1] == ids[2] and ids[3] == ids[4] and ids[1] != ids[3]
    assert ids[5] is None  # the last call has no result
    Adp13Trajectory.model_validate(linked)
    assert same == json.loads(json.dumps(record))


def test_an_unanswered_call_before_an_observation_gets_a_marker(tmp_path):
    # 1.2.0 allows a call followed by the user's next message; 1.3.0 does not (the call
    # would need an id, and an id an answer). palaestra writes a NO_RESULT observation.
    record = traj([api("answer"), obs("b says 125", "user", name="agent/b"), msg()], "1.2.0")
    with Store(tmp_path / "s.db") as store:
        run_id = import_adp(store, _write(tmp_path / "p.jsonl", record))
        (linked,) = _export(store, run_id, "1.3.0")
        (older,) = _export(store, run_id, "1.2.0")
    Adp13Trajectory.model_validate(linked)
    marker = linked["content"][1]
    assert marker["content"] == NO_RESULT and marker["source"] == "environment"
    assert marker["tool_call_id"] == linked["content"][0]["tool_call_id"]
    assert older["content"][1]["content"] == NO_RESULT  # nothing else is read as its result
    # read back, the marker is dropped and written again: the same bytes
    with Store(tmp_path / "t.db") as store:
        run_id = import_adp(store, _write(tmp_path / "q.jsonl", linked))
        events = store.events(run_id, store.episodes(run_id)[0].episode_id)
        assert NO_RESULT not in json.dumps([e.payload.model_dump(mode="json") for e in events])
        (again,) = _export(store, run_id, "1.3.0")
    assert again == linked


def test_hostile_input_is_a_user_error_naming_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"id": "t", "content": []}\n\xff\xfe\n')
    with pytest.raises(UserError, match="not UTF-8"):
        read_adp(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(UserError, match=r"item 0: not an ADP trajectory: expected a JSON object"):
        read_adp(path)
    path.write_text("[" * 100_000 + "\n")
    with pytest.raises(UserError, match="bad.jsonl"):
        read_adp(path)
    path.write_text("\n\n")
    with pytest.raises(UserError, match="no ADP trajectories"):
        read_adp(path)


def test_hostile_details_and_arguments(tmp_path):
    ours = {"episode_id": "e", "agent": "a", "run_id": "r"}
    big = traj([msg()], details={**ours, "seed": 2**70, "epoch": -5, "steps": 2**64})
    with Store(tmp_path / "s.db") as store:
        run_id = import_adp(store, _write(tmp_path / "big.jsonl", big))
        (row,) = store.episodes(run_id)
        assert (row.seed, row.epoch, row.steps) == (0, 0, 0)
    odd = traj([msg()], details={**ours, "run_id": "a/../b\u0000"})
    with Store(tmp_path / "t.db") as store:
        assert import_adp(store, _write(tmp_path / "odd.jsonl", odd)) == "adp-odd"
    deep = traj([api(kwargs={"a": json.loads("[" * 600 + "]" * 600)})], "1.3.0")
    with Store(tmp_path / "u.db") as store:
        with pytest.raises(UserError, match="trajectory 't': cannot be read"):
            import_adp(store, _write(tmp_path / "deep.jsonl", deep))
        assert store.get_run("adp-deep") is None


def test_an_unreadable_file_is_a_user_error(tmp_path):
    path = tmp_path / "dangling.jsonl"
    path.symlink_to(tmp_path / "gone.jsonl")
    with pytest.raises(UserError, match=r"dangling\.jsonl: cannot be read \(No such file"):
        read_adp(path)
