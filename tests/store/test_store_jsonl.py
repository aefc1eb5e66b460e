"""JSONL export and import: byte-identical round trips, errors that name the line, and the
trailer that proves a file whole (cut, altered and old files refused unless `partial`)."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from palaestra.core import SCHEMA_VERSION, UserError
from palaestra.store import JSONL_FORMAT_VERSION, Store, export_jsonl, import_jsonl
from tests.store.store_builders import episode_events, episode_row, write_episode

E0 = len(episode_events("e0"))
E1 = len(episode_events("e1", steps=1))


def _fill(store: Store, status: str = "interrupted") -> None:
    store.create_run("run-1", experiment={"env": "graph.coloring", "x": 0.1}, seed=9, name="n")
    write_episode(store, "run-1", episode_events("e0"))
    write_episode(store, "run-1", episode_events("e1", steps=1), outcome="failure", score=0.0)
    store.start_episode("run-1", episode_row("e2"))  # unfinished, with some events
    store.append("run-1", episode_events("e2")[:4])
    store.set_run_status("run-1", status)


def _lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


def test_round_trip_gives_identical_files(tmp_path: Path) -> None:
    with Store(tmp_path / "a.db") as a, Store(tmp_path / "b.db") as b:
        _fill(a)
        n = export_jsonl(a, "run-1", tmp_path / "a.jsonl")
        assert n == E0 + E1 + 4
        result = import_jsonl(b, tmp_path / "a.jsonl")
        assert (result.run_id, result.episodes, result.events) == ("run-1", 3, n)
        assert result.complete and result.problems == ()
        export_jsonl(b, "run-1", tmp_path / "b.jsonl")
        first, second = (tmp_path / "a.jsonl").read_bytes(), (tmp_path / "b.jsonl").read_bytes()
        assert first == second
        assert b.events("run-1", "e0") == a.events("run-1", "e0")
        assert b.episodes("run-1") == a.episodes("run-1")
        assert b.get_run("run-1") == a.get_run("run-1")  # status kept: the file is whole


def test_file_layout_and_trailer(store: Store) -> None:
    _fill(store)
    out = io.StringIO()
    export_jsonl(store, "run-1", out)
    text = out.getvalue()
    lines = _lines(text)
    assert lines[0]["type"] == "run" and lines[0]["schema_version"] == SCHEMA_VERSION
    assert lines[0]["format_version"] == JSONL_FORMAT_VERSION == 2
    assert lines[0]["run"]["run_id"] == "run-1" and lines[0]["run"]["status"] == "interrupted"
    episodes = [line["episode"] for line in lines if line["type"] == "episode"]
    assert [(e["episode_id"], e["status"]) for e in episodes] == [
        ("e0", "finished"),
        ("e1", "finished"),
        ("e2", "running"),
    ]
    kinds = [line["type"] for line in lines]
    e2 = kinds.index("episode", kinds.index("episode", kinds.index("episode") + 1) + 1)
    assert kinds[e2 + 1 :] == ["event"] * 4 + ["trailer"]  # unfinished: its stored events
    assert lines[1]["episode"]["episode_id"] == lines[2]["event"]["episode_id"] == "e0"
    body = text[: text.rindex('{"type":"trailer"')]
    assert lines[-1] == {
        "type": "trailer",
        "run_id": "run-1",
        "episodes": 3,
        "events": E0 + E1 + 4,
        "sha256": hashlib.sha256(body.encode("utf-8")).hexdigest(),
        "format_version": 2,
        "schema_version": SCHEMA_VERSION,
    }


def test_text_and_binary_streams_and_paths_give_the_same_bytes(
    store: Store, tmp_path: Path
) -> None:
    _fill(store)
    text, data = io.StringIO(), io.BytesIO()
    export_jsonl(store, "run-1", text)
    export_jsonl(store, "run-1", data)
    export_jsonl(store, "run-1", tmp_path / "run.jsonl")
    assert (
        text.getvalue().encode("utf-8") == data.getvalue() == (tmp_path / "run.jsonl").read_bytes()
    )
    assert "é ✓" in text.getvalue()  # non-ASCII written as UTF-8, not escaped
    assert import_jsonl(store, io.BytesIO(data.getvalue()), run_id="b").complete
    assert import_jsonl(store, io.StringIO(text.getvalue()), run_id="t").complete


def test_import_under_new_id_and_existing_id(store: Store, tmp_path: Path) -> None:
    _fill(store)
    path = tmp_path / "run.jsonl"
    export_jsonl(store, "run-1", path)
    with pytest.raises(UserError, match="'run-1' already exists.*another id"):
        import_jsonl(store, path)
    assert import_jsonl(store, path, run_id="copy").run_id == "copy"
    assert [e.episode_id for e in store.episodes("copy")] == ["e0", "e1", "e2"]
    assert store.events("copy", "e1") == store.events("run-1", "e1")
    assert store.finished_episode_ids("copy") == {"e0", "e1"}
    with pytest.raises(UserError, match="no run 'nope'"):
        export_jsonl(store, "nope", tmp_path / "x.jsonl")


def _exported(store: Store, status: str = "interrupted") -> list[str]:
    """The lines of run-1's export; the last one is the trailer."""
    _fill(store, status)
    out = io.StringIO()
    export_jsonl(store, "run-1", out)
    return out.getvalue().splitlines()


def _write(tmp_path: Path, lines: list[str], *, end: str = "\n") -> Path:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(("\n".join(lines) + end).encode("utf-8"))
    return path


def _import_error(store: Store, tmp_path: Path, lines: list[str], *, end: str = "\n") -> str:
    path = _write(tmp_path, lines, end=end)
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
        (lambda ls: ls[:-1] + [ls[0], ls[-1]], r"a second run header"),
        (lambda ls: ls[:-1] + [ls[1], ls[-1]], r"episode 'e0' appears twice"),
        (lambda ls: ls[1:], r":1: the first line must be the run header"),
        (lambda ls: ls[:2] + ['{"type": "event"}'], r":3: a 'event' line has no 'event' field"),
        (lambda ls: ls + [ls[2]], r":\d+: a record after the trailer"),
    ],
)
def test_bad_lines_name_the_line(
    store: Store, tmp_path: Path, edit: Callable[[list[str]], list[str]], expected: str
) -> None:
    message = _import_error(store, tmp_path, edit(_exported(store)))
    assert re.search(expected, message), message


def test_invalid_utf8_names_the_line(store: Store, tmp_path: Path) -> None:
    lines = _exported(store)
    path = tmp_path / "bad.jsonl"
    raw = "\n".join(lines).encode("utf-8").replace("é".encode(), b"\xff", 1) + b"\n"
    path.write_bytes(raw)
    with pytest.raises(UserError, match=r"bad\.jsonl:\d+: not valid UTF-8 \(byte \d+"):
        import_jsonl(store, path, run_id="imported")


def test_invalid_event_names_field_and_line(store: Store, tmp_path: Path) -> None:
    lines = _exported(store)
    bad = json.loads(lines[3])
    bad["event"]["kind"] = "telepathy"
    lines[3] = json.dumps(bad)
    message = _import_error(store, tmp_path, lines)
    assert "bad.jsonl:4: invalid event: kind:" in message and "(got 'telepathy')" in message


def test_other_schema_and_format_versions(store: Store, tmp_path: Path) -> None:
    lines = _exported(store)
    header = json.loads(lines[0])
    for field, version, expected in (
        ("schema_version", SCHEMA_VERSION + 1, f"event schema version {SCHEMA_VERSION + 1}"),
        ("format_version", 3, "JSONL format_version 3; this palaestra reads 1 to 2"),
    ):
        changed = json.dumps(dict(header, **{field: version}))
        message = _import_error(store, tmp_path, [changed, *lines[1:]])
        assert f":1: written with {expected}" in message, message


def test_empty_file(store: Store, tmp_path: Path) -> None:
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(UserError, match="empty.jsonl: empty file"):
        import_jsonl(store, tmp_path / "empty.jsonl")


# -- the trailer ---------------------------------------------------------------------------


def _episode_starts(lines: list[str]) -> list[int]:
    return [i for i, line in enumerate(lines) if line.startswith('{"type":"episode"')]


def _refused_then_partial(
    store: Store, tmp_path: Path, lines: list[str], *, end: str = "\n"
) -> tuple[str, object]:
    """The error of a plain import, then the result of `partial=True` on the same file."""
    message = _import_error(store, tmp_path, lines, end=end)
    assert "--partial" in message and "partial=True" in message and "not imported" in message
    result = import_jsonl(store, _write(tmp_path, lines, end=end), run_id="p", partial=True)
    assert not result.complete and result.problems
    run = store.get_run("p")
    assert run is not None and run.status == "interrupted"  # never a clean finished run
    assert run.reason is not None and run.reason.startswith("imported with --partial from ")
    return message, result


def test_file_cut_at_an_episode_boundary_is_refused(store: Store, tmp_path: Path) -> None:
    lines = _exported(store, status="finished")
    cut = lines[: _episode_starts(lines)[2]]  # e0 and e1 whole, e2 and the trailer gone
    message, result = _refused_then_partial(store, tmp_path, cut)
    assert f"it ends at line {len(cut)} without the trailer" in message
    assert f"incomplete (2 episodes and {E0 + E1} events read)" in message
    assert (result.episodes, result.events) == (2, E0 + E1)
    assert store.finished_episode_ids("p") == {"e0", "e1"}
    assert store.events("p", "e1") == store.events("run-1", "e1")


def test_file_cut_inside_a_line_and_inside_an_episode(store: Store, tmp_path: Path) -> None:
    lines = _exported(store, status="finished")
    mid_e1 = _episode_starts(lines)[1] + 3  # e1's episode line and two of its events
    cut = [*lines[:mid_e1], lines[mid_e1][:25]]  # and a third cut off after 25 characters
    message, result = _refused_then_partial(store, tmp_path, cut, end="")
    assert f"line {mid_e1 + 1} is cut off (the file ends inside it)" in message
    assert f"episode 'e1' (line {mid_e1 - 2}) is finished with n_events={E1}" in message
    assert (result.episodes, result.events) == (2, E0 + 2)
    (e1,) = [row for row in store.episodes("p") if row.episode_id == "e1"]
    # as a killed run leaves it: unfinished, its events kept, redone by a resume
    assert (e1.status, e1.outcome, e1.n_events, e1.env) == ("running", None, 0, "graph.coloring")
    assert len(store.events("p", "e1")) == 2
    assert store.finished_episode_ids("p") == {"e0"}


def test_altered_record_fails_the_digest(store: Store, tmp_path: Path) -> None:
    lines = _exported(store, status="finished")
    assert '"total_reward":1.5' in lines[E0 + 1]  # e0's episode_end
    lines[E0 + 1] = lines[E0 + 1].replace('"total_reward":1.5', '"total_reward":9.5')
    message, result = _refused_then_partial(store, tmp_path, lines)
    assert (
        "the SHA-256 of its records" in message and "the file was changed after export" in message
    )
    assert (result.episodes, result.events) == (3, E0 + E1 + 4)


def test_removed_episode_fails_counts_and_digest(store: Store, tmp_path: Path) -> None:
    lines = _exported(store)
    starts = _episode_starts(lines)
    lines = lines[: starts[1]] + lines[starts[2] :]  # e1 removed whole
    message = _import_error(store, tmp_path, lines)
    assert f"counts 3 episodes and {E0 + E1 + 4} events, the file holds 2 and {E0 + 4}" in message
    assert "SHA-256" in message


def test_trailer_of_another_run_or_malformed(store: Store, tmp_path: Path) -> None:
    lines = _exported(store)
    trailer = json.loads(lines[-1])
    other = json.dumps(dict(trailer, run_id="run-2"))
    message = _import_error(store, tmp_path, [*lines[:-1], other])
    assert "is of run 'run-2', the header of 'run-1'" in message
    malformed = json.dumps(dict(trailer, events="many"))
    message = _import_error(store, tmp_path, [*lines[:-1], malformed])
    assert "is malformed: events missing or of the wrong type" in message


def test_file_without_trailer_from_older_palaestra(store: Store, tmp_path: Path) -> None:
    lines = _exported(store, status="finished")
    header = json.loads(lines[0])
    del header["format_version"]
    old = [json.dumps(header, separators=(",", ":")), *lines[1:-1]]
    message, result = _refused_then_partial(store, tmp_path, old)
    assert "it has no trailer (JSONL format 1, written by an older palaestra)" in message
    assert (result.episodes, result.events) == (3, E0 + E1 + 4)
    assert store.finished_episode_ids("p") == {"e0", "e1"}


def test_partial_on_a_whole_file_changes_nothing(store: Store, tmp_path: Path) -> None:
    lines = _exported(store, status="finished")
    result = import_jsonl(store, _write(tmp_path, lines), run_id="p", partial=True)
    assert result.complete
    run = store.get_run("p")
    assert run is not None and run.status == "finished"
