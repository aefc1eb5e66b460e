"""`palaestra score`: rescore a real stored run into a new run (the source untouched, the
copy replayable), print per-scorer tables, and calibrate a judge against human labels."""

from __future__ import annotations

import json

import pytest

from palaestra.cli._main import main
from palaestra.core import ScoreEvent, episode_hash
from palaestra.runtime import run
from palaestra.store import Store

EXPERIMENT = {
    "name": "shop",
    "models": {
        "judge": {
            "spec": "scripted",
            "replies": [{"when": "cancel", "text": "GRADE: C"}, "GRADE: I"],
        }
    },
    "jobs": [{"env": "tooluse.store", "params": {"num_tasks": 8}, "tasks": 4}],
}


@pytest.fixture()
def stored(tmp_path):
    path = tmp_path / "s.db"
    with Store(path) as store:
        run(EXPERIMENT, store=store, run_id="src")
    return path


def _main(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_rescore_writes_a_new_run_and_leaves_the_source(stored, capsys) -> None:
    with Store(stored) as store:
        before = {r.episode_id: r.hash for r in store.episodes("src")}
    code, out = _main(
        capsys,
        "score",
        "src",
        "--store",
        str(stored),
        "--scorer",
        "{use: includes, answer: replies, all: true, ignore_commas: true}",
        "--scorer",
        "{use: model_graded, model: judge, criterion: the request is handled}",
        "--run-id",
        "scored",
    )
    assert code == 0, out
    assert "scored 4 episodes of run src into run scored" in out
    assert "includes" in out and "model_graded" in out and "95% CI" in out
    with Store(stored) as store:
        assert {r.episode_id: r.hash for r in store.episodes("src")} == before
        src_events = store.events("src", next(iter(before)))
        assert [e.payload.scorer for e in src_events if isinstance(e.payload, ScoreEvent)] == [""]
        rows = store.episodes("scored")
        sources = {r.episode_id: r for r in store.episodes("src")}
        assert len(rows) == 4 and all(r.status == "finished" for r in rows)
        for row in rows:
            events = store.events("scored", row.episode_id)
            original = store.events("src", row.episode_id)
            # the copy: the same events up to episode_end, then the scorers', then the end
            assert [e.to_json() for e in events[: len(original) - 1]] == [
                e.to_json() for e in original[:-1]
            ]
            assert events[-1].kind == "episode_end" and events[-1].seq == len(events) - 1
            assert events[-1].payload == original[-1].payload
            names = [e.payload.scorer for e in events if isinstance(e.payload, ScoreEvent)]
            assert names == ["", "includes", "model_graded"]
            assert row.hash == episode_hash(events) != before[row.episode_id]
            source_row = sources[row.episode_id]
            assert (row.score, row.outcome, row.steps) == (
                source_row.score,
                source_row.outcome,
                source_row.steps,
            )
        scored_run = store.get_run("scored")
        assert scored_run is not None
        assert scored_run.experiment["_overrides"]["rescored_from"] == "src"
    # the copy is the log a run with those scorers writes: replay finds it identical
    code, out = _main(capsys, "replay", "scored", "--store", str(stored))
    assert code == 0 and "4 identical, 0 differ" in out


def test_json_rows_and_show(stored, capsys) -> None:
    code, out = _main(capsys, "score", "src", "--store", str(stored), "--scorer", "exact", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["source_run_id"] == "src" and data["episodes"] == 4
    rows = {r["scorer"]: r for r in data["rows"]}
    assert set(rows) == {"env", "exact"}
    assert rows["env"]["n"] == 4 and rows["env"]["success_rate"] == 1.0
    assert rows["exact"]["mean"] == 0.0 and rows["exact"]["errors"] == 0  # no target text
    low, high = rows["env"]["success_ci95"]
    assert 0.4 < low < 1.0 and high == 1.0
    code, out = _main(capsys, "show", data["run_id"], "--store", str(stored))
    assert code == 0 and "exact" in out


def test_calibrate_against_human_labels(stored, capsys, tmp_path) -> None:
    with Store(stored) as store:
        ids = [r.episode_id for r in store.episodes("src")]
    # the scripted judge says C for the cancellation tasks, I otherwise; the human
    # agrees on all but one episode
    human = {i: ("C" if "cancel" in i else "I") for i in ids}
    flipped = ids[-1]
    human[flipped] = "C" if human[flipped] == "I" else "I"
    labels = tmp_path / "labels.jsonl"
    labels.write_text(
        "".join(json.dumps({"episode_id": k, "label": v}) + "\n" for k, v in human.items())
    )
    code, out = _main(
        capsys,
        "score",
        "src",
        "--store",
        str(stored),
        "--scorer",
        "{use: model_graded, name: judge, model: judge}",
        "--labels",
        str(labels),
        "--json",
    )
    assert code == 0, out
    calibration = json.loads(out)["calibration"]
    assert calibration["scorer"] == "judge" and calibration["n"] == 4
    assert calibration["agreement"] == 0.75 and calibration["disagreements"] == [flipped]
    # calibrating the stored scores again needs no rescoring
    scored = json.loads(out)["run_id"]
    code, out = _main(capsys, "score", scored, "--store", str(stored), "--labels", str(labels))
    assert code == 0 and "agreement 0.750" in out and "Cohen's kappa" in out


def test_user_errors(stored, capsys, tmp_path) -> None:
    assert main(["score", "src", "--store", str(stored)]) == 2
    assert "give --scorer" in capsys.readouterr().err
    assert main(["score", "src", "--store", str(stored), "--scorer", "fuzzy"]) == 2
    assert "expected one of exact" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"episode": "x"}\n')
    assert main(["score", "src", "--store", str(stored), "--labels", str(bad)]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err
    main(["score", "src", "--store", str(stored), "--scorer", "exact", "--run-id", "s2"])
    capsys.readouterr()
    assert main(["score", "s2", "--store", str(stored), "--scorer", "exact"]) == 2
    assert "already has a scorer named 'exact'" in capsys.readouterr().err
