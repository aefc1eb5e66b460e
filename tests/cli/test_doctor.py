"""A store with a damaged page, made for real: a copy of a store written by a run, with
one page of its events overwritten. Every command says the file is damaged and names
`palaestra doctor` (never a `sqlite3.DatabaseError` traceback); a resume refuses to
trust it; `palaestra doctor` finds the damage, recovers the rest into a new store where
the episodes that lost events run again on resume, giving the same logs as before."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import palaestra
from palaestra.cli import main
from palaestra.core import UserError
from palaestra.store import Store

REPO = Path(__file__).parents[2]
EXPERIMENT = REPO / "examples" / "graph.yaml"
RUN = "g1"


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store written by a real run of the graph example (30 episodes)."""
    path = tmp_path_factory.mktemp("written") / "runs.db"
    palaestra.run(EXPERIMENT, run_id=RUN, store=path)
    return path


def _damaged(
    written: Path, tmp_path: Path, table: str = "events", nth_leaf: int = 40, span: int = 0
) -> Path:
    """A copy of `written` with a leaf page of `table` overwritten: the whole page (past
    its first bytes), or `span` bytes in its middle."""
    copy = tmp_path / "damaged.db"
    shutil.copy(written, copy)
    db = sqlite3.connect(copy)
    (page_size,) = db.execute("PRAGMA page_size").fetchone()
    (page,) = db.execute(
        "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' "
        "ORDER BY pageno LIMIT 1 OFFSET ?",
        (table, nth_leaf),
    ).fetchone()
    db.close()
    start, length = (8, page_size - 16) if not span else (page_size // 5, span)
    with copy.open("r+b") as file:
        file.seek((page - 1) * page_size + start)
        file.write((bytes(range(7, 250)) * (length // 243 + 1))[:length])
    return copy


def _hashes(path: Path) -> dict[str, str | None]:
    with Store(path) as store:
        return {row.episode_id: row.hash for row in store.episodes(RUN)}


def test_commands_on_a_damaged_store_say_so_and_name_doctor(
    written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = _damaged(written, tmp_path)
    for command in (
        ["export", RUN, "-o", str(tmp_path / "out.jsonl")],
        ["diagnose", RUN],
        ["show", RUN, "--json"],
        ["runs"],
    ):
        capsys.readouterr()
        code = main([*command, "--store", str(damaged)])
        err = capsys.readouterr().err
        if code == 2:
            assert err.startswith(f"error: store {damaged} is damaged"), (command, err)
            assert f"palaestra doctor {damaged}" in err and err.count("\n") == 1, err
        else:  # a command that reads nothing of the damaged page works
            assert code == 0 and command[0] in ("show", "runs"), (command, code, err)
    assert main(["export", RUN, "-o", str(tmp_path / "o.jsonl"), "--store", str(damaged)]) == 2


def test_a_resume_refuses_a_damaged_store_and_changes_nothing(
    written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    damaged = _damaged(written, tmp_path)
    query = "SELECT episode_id, status, n_events, hash FROM episodes ORDER BY id"
    with sqlite3.connect(damaged) as db:
        before = db.execute(query).fetchall()
    code = main(["run", str(EXPERIMENT), "--store", str(damaged), "--run-id", RUN, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "is damaged" in err and "palaestra doctor" in err, err
    with sqlite3.connect(damaged) as db:  # not one episode re-run or re-marked
        assert db.execute(query).fetchall() == before
        assert db.execute("SELECT status FROM runs").fetchall() == [("finished",)]
    with pytest.raises(UserError, match="is damaged"):
        with Store(damaged) as store:
            store.verify_integrity()


def test_a_store_not_closed_cleanly_is_checked_when_opened(written: Path, tmp_path: Path) -> None:
    damaged = _damaged(written, tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    db = sqlite3.connect(damaged)
    db.execute(
        "INSERT INTO leases VALUES (?, ?, ?, '', 'gone', ?, ?)",
        (RUN, dead.pid, __import__("socket").gethostname(), time.time(), time.time()),
    )
    db.commit()
    db.close()
    with pytest.raises(UserError, match="not closed cleanly, and quick_check found"):
        Store(damaged)


@pytest.mark.parametrize(
    ("table", "nth_leaf", "span"),
    [("events", 40, 0), ("events", 3, 3000), ("episodes", 0, 5000)],
    ids=["events-page", "events-part", "episodes-part"],
)
def test_doctor_finds_the_damage_and_recovers_the_rest(
    written: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    table: str,
    nth_leaf: int,
    span: int,
) -> None:
    damaged = _damaged(written, tmp_path, table, nth_leaf, span)
    assert main(["doctor", str(written)]) == 0
    assert "sound" in capsys.readouterr().out
    assert main(["doctor", str(damaged), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["healthy"] and report["problems"]
    assert report["tables"][table]["problems"] or report["tables"][table]["lost"]
    assert report["tables"]["runs"]["problems"] == []
    if table == "events":  # finished episodes whose events are not all there, by name
        assert report["incomplete"] and report["missing_events"] > 0

    out = tmp_path / "recovered.db"
    assert main(["doctor", str(damaged), "--recover", str(out)]) == 1
    printed = capsys.readouterr().out
    assert f"recovered into {out}" in printed
    assert f"run {RUN} marked interrupted; resume it with `palaestra run EXPERIMENT" in printed
    assert main(["doctor", str(out)]) == 0  # the copy is sound
    capsys.readouterr()
    with Store(out) as store:
        run = store.get_run(RUN)
        assert run is not None and run.status == "interrupted"
        finished = store.episodes(RUN, status="finished")
        assert len(finished) < 30  # the overwritten bytes held events or episodes
        for row in finished:  # what reads as finished is whole
            events = store.events(RUN, row.episode_id)
            assert [e.seq for e in events] == list(range(row.n_events))
            assert events[-1].kind == "episode_end"

    # resumed from the copy: what was lost runs again, to the same logs
    assert main(["run", str(EXPERIMENT), "--store", str(out), "--run-id", RUN, "--quiet"]) == 0
    assert f"({len(finished)} episodes were already finished)" in capsys.readouterr().out
    assert _hashes(out) == _hashes(written)
    with Store(out) as store, Store(written) as original:
        for row in original.episodes(RUN):
            assert [
                e.model_dump(exclude={"time", "duration_s"})
                for e in store.events(RUN, row.episode_id)
            ] == [
                e.model_dump(exclude={"time", "duration_s"})
                for e in original.events(RUN, row.episode_id)
            ]


def test_doctor_marks_runs_left_running_by_a_dead_process_interrupted(
    written: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "left.db"
    shutil.copy(written, copy)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    db = sqlite3.connect(copy)
    db.execute("UPDATE runs SET status = 'running'")
    db.execute(
        "INSERT INTO leases VALUES (?, ?, ?, '', 'gone', ?, ?)",
        (RUN, dead.pid, __import__("socket").gethostname(), time.time(), time.time()),
    )
    db.commit()
    db.close()
    assert main(["doctor", str(copy)]) == 0
    out = capsys.readouterr().out
    assert f"marked interrupted (left running by a process that is gone): {RUN}" in out
    with Store(copy) as store:
        run = store.get_run(RUN)
        assert run is not None and run.status == "interrupted"
        assert run.reason == "left running by a process that is gone (found by palaestra doctor)"
        assert store.run_lease(RUN) is None


def test_doctor_usage_errors(
    tmp_path: Path, written: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", str(tmp_path / "none.db")]) == 2
    assert "no store file at" in capsys.readouterr().err
    assert main(["doctor", str(written), "--recover", str(written)]) == 2
    assert "the file exists" in capsys.readouterr().err
