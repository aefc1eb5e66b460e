"""JSONL export and import: byte-identical round trips and errors that name the line."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from palaestra.core import SCHEMA_VERSION, UserError
from palaestra.store import Store, export_jsonl, import_jsonl
from tests.store.store_builders import episode_events, episode_row, write_episode


def _fill(store: Store) -> None:
    store.create_run("run-1", experiment={"env": "graph.coloring", "x": 0.1}, seed=9, name="n")
    write_episode(store, "run-1", episode_events("e0"))
    write_episode(store, "run-1", episode_events("e1", steps=1), outcome="failure", score=0.0)
    store.start_episode("run-1", episode_row("e2"))  # unfinished, with some events
    store.append("run-1", episode_events("e2")[:4])
    store.set_run_status("run-1", "interrupted")


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_round_trip_gives_identical_files(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as a, Store(tmp_path / "b.db") as b:
        _fill(a)
        n = export_jsonl(a, "run-1", tmp_path / "a.jsonl")
        assert n == len(episode_events("e0")) + len(episode_events("e1", steps=1)) + 4
        assert import_jsonl(b, tmp_path / "a.jsonl") == "run-1"
        export_jsonl(b, "run-1", tmp_path / "b.jsonl")
        first, second = (tmp_path / "a.jsonl").read_bytes(), (tmp_path / "b.jsonl").read_bytes()
        assert first == second
        assert b.events("run-1", "e0") == a.events("run-1", "e0")
        assert b.episodes("run-1") == a.episodes("run-1")
        assert b.get_run("run-1") == a.get_run("run-1")


def test_file_layout(store: Store) -> None:
    _fill(store)
    out = io.StringIO()
    export_jsonl(store, "run-1", out)
    lines = _lines(out.getvalue())
    assert lines[0]["type"] == "run" and lines[0]["schema_version"] == SCHEMA_VERSION
    assert lines[0]["run"]["run_id"] == "run-1" and lines[0]["run"]["status"] == "interrupted"
    episodes = [line["episode"] for line in lines if line["type"] == "episode"]
    assert [(e["episode_id"], e["status"]) for e in episodes] == [
        ("e0", "finished"),
        ("e1", "finished"),
        ("e2", "running"),
    ]
    kinds = [line["type"] for line in lines]
    e2 = kinds.index("episode", kinds.index("episode", kinds.index("episode") + 1) + 1)
    assert kinds[e2 + 1 :] == ["event"] * 4  # the unfinished episode keeps its stored events
    assert lines[1]["episode"]["episode_id"] == lines[2]["event"]["episode_id"] == "e0"


def test_import_under_new_id_and_existing_id(store: Store, tmp_path: Path) -> None:
    _fill(store)
    path = tmp_path / "run.jsonl"
    export_jsonl(store, "run-1", path)
    with pytest.raises(UserError, match="'run-1' already exists.*another id"):
        import_jsonl(store, path)
    assert import_jsonl(store, path, run_id="copy") == "copy"
    assert [e.episode_id for e in store.episodes("copy")] == ["e0", "e1", "e2"]
    assert store.events("copy", "e1") == store.events("run-1", "e1")
    assert store.finished_episode_ids("copy") == {"e0", "e1"}
    with pytest.raises(UserError, match="no run 'nope'"):
        export_jsonl(store, "nope", tmp_path / "x.jsonl")


def _exported(store: Store) -> list[str]:
    _fill(store)
    out = io.StringIO()
    export_jsonl(store, "run-1", out)
    return out.getvalue().splitlines()


def _import_error(store: Store, tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(UserError) as info:
        import_jsonl(store, path, run_id="imported")
    assert store.get_run("imported") is None  # nothing half-imported
    return str(info.value)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda ls: ls[:5] + ["{not json"] + ls[5:], r"bad\.jsonl:6: not valid JSON"),
        (lambda ls: ls[:3] + ['{"type": "span"}'] + ls[3:], r":4: expected .*run, episode, event"),
        (lambda ls: ls[:3] + ["[1, 2]"] + ls[3:], r":4: expected an object"),
        (lambda ls: ls[:1] + ls[2:], r":2: an event line before any episode line"),
        (lambda ls: ls[:2] + ls[3:], r":3: episode 'e0': expected seq 0, got 1"),
        (lambda ls: ls + [ls[0]], r"a second run header"),
        (lambda ls: ls + [ls[1]], r"episode 'e0' appears twice"),
        (lambda ls: ls[1:], r":1: the first line must be the run header"),
        (lambda ls: ls[:2] + ['{"type": "event"}'], r":3: a 'event' line has no 'event' field"),
    ],
)
def test_bad_lines_name_the_line(
    store: Store, tmp_path: Path, edit: Callable[[list[str]], list[str]], expected: str
) -> None:
    message = _import_error(store, tmp_path, edit(_exported(store)))
    assert re.search(expected, message), message


def test_invalid_event_names_field_and_line(store: Store, tmp_path: Path) -> None:
    lines = _exported(store)
    bad = json.loads(lines[3])
    bad["event"]["kind"] = "telepathy"
    lines[3] = json.dumps(bad)
    message = _import_error(store, tmp_path, lines)
    assert "bad.jsonl:4: invalid event: kind:" in message and "(got 'telepathy')" in message


def test_missing_events_of_finished_episode(store: Store, tmp_path: Path) -> None:
    lines = _exported(store)
    first_e1 = next(i for i, line in enumerate(lines) if '"episode_id":"e1"' in line)
    del lines[first_e1 - 1]  # the last event of e0
    message = _import_error(store, tmp_path, lines)
    assert "episode 'e0' is finished with n_events=18 but the file holds 17" in message


def test_other_schema_version(store: Store, tmp_path: Path) -> None:
    lines = _exported(store)
    header = json.loads(lines[0])
    header["schema_version"] = SCHEMA_VERSION + 1
    lines[0] = json.dumps(header)
    message = _import_error(store, tmp_path, lines)
    assert f":1: written with event schema version {SCHEMA_VERSION + 1}" in message


def test_empty_file(store: Store, tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(UserError, match="empty.jsonl: empty file"):
        import_jsonl(store, tmp_path / "empty.jsonl")
