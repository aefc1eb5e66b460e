"""`palaestra stress`: finds a seeded counterexample on small runs with scripted models
and the tool-use baseline, shrinks it, and the printed commands reproduce it."""

from __future__ import annotations

import asyncio
import shlex
from typing import Any

import pytest

from palaestra.cli._main import main
from palaestra.core import UserError
from palaestra.runtime import run
from palaestra.store import Store
from palaestra.studies import StressSpace, stress
from palaestra.studies._replay import replay_episode
from palaestra.studies._stress_report import plan_data

COUNTER = {
    "name": "counter",
    "seed": 1,
    "models": {
        "m": {
            "spec": "scripted",
            "replies": [
                {"when": "Reach", "calls": [{"name": "add", "arguments": {"n": 3}}]},
                {"when": "Counter is", "text": "DONE"},
                "DONE",
            ],
        }
    },
    "jobs": [{"env": "test.counter", "tasks": 3, "operator": {"kind": "llm", "model": "m"}}],
}


def _fault_events(store: Store, run_id: str, episode: str) -> list[tuple[Any, ...]]:
    return [
        (e.seq, e.agent, e.payload.fault, e.payload.detail)
        for e in store.events(run_id, episode)
        if e.kind == "fault"
    ]


def test_finds_shrinks_and_reproduces_a_counterexample(db_path, tmp_path):
    report = stress(COUNTER, budget=30, seed=0, store=db_path)
    assert report.baseline == dict.fromkeys(
        ["test.counter/t0/0/0", "test.counter/t1/0/0", "test.counter/t2/0/0"], True
    )
    assert report.found is not None and report.smallest is not None
    assert report.used <= 30
    smallest = report.smallest
    # shrunk: one rule, scheduled at the one call where it fired, on the earliest episode
    (rule,) = smallest.plan.rules
    assert rule.schedule is not None and len(rule.schedule) == 1 and rule.probability is None
    assert smallest.fired == 1 <= report.found.fired
    assert smallest.episode.episode_id == "test.counter/t0/0/0"
    assert smallest.violation.what == "outcome"
    with Store(db_path) as db:
        shown = _fault_events(db, smallest.run_id, smallest.episode.episode_id)
        assert smallest.violation.first_event == shown[0][0]
        # the reproduction experiment gives the same faults and the same violation
        again = run(report.reproduction(), store=db, run_id="repro")
        (row,) = again.episodes
        assert row.episode_id == smallest.episode.episode_id and row.outcome != "success"
        assert _fault_events(db, "repro", row.episode_id) == shown
        replayed = asyncio.run(replay_episode(db, "repro", row.episode_id))
        assert replayed.equal, replayed.describe()
    # the same seed searches the same way
    twice = stress(COUNTER, budget=30, seed=0, store=tmp_path / "other.db")
    assert twice.smallest is not None
    assert plan_data(twice.smallest.plan) == plan_data(smallest.plan)
    assert twice.used == report.used


def test_no_counterexample_within_a_harmless_space(db_path):
    report = stress(COUNTER, budget=6, store=db_path, space=StressSpace(faults=("delay",)))
    assert report.found is None and report.smallest is None
    assert report.used == 6 and report.trials == 5
    assert report.plan_yaml() == "" and report.write(db_path.parent / "out") == {}


def test_nothing_to_break_when_no_episode_succeeds(db_path):
    failing = {**COUNTER, "models": {"m": {"spec": "scripted", "replies": ["DONE"]}}}
    report = stress(failing, budget=8, store=db_path)
    assert report.baseline and not any(report.baseline.values())
    assert report.found is None and report.used == len(report.baseline) == 2


def test_budget_must_allow_a_trial(db_path):
    with pytest.raises(UserError, match="at least 2"):
        stress(COUNTER, budget=1, store=db_path)


def test_cli_prints_the_plan_and_commands_that_reproduce_it(tmp_path, capsys):
    experiment = tmp_path / "tooluse.yaml"
    experiment.write_text(
        "name: tu\nseed: 0\nlimits: {max_steps: 30}\njobs:\n"
        "  - env: tooluse.store\n    params: {db_seed: 0, num_tasks: 20}\n    tasks: 2\n"
    )
    store = tmp_path / "runs.db"
    out = tmp_path / "out"
    args = ["stress", str(experiment), "--budget", "16", "--store", str(store), "--out", str(out)]
    assert main(args) == 1
    printed = capsys.readouterr().out
    assert "baseline 2/2 episodes hold without faults" in printed
    assert "faults:\n  seed: " in printed and "violation: episode ended" in printed
    assert (out / "faults.yaml").exists() and (out / "counterexample.yaml").exists()
    commands = [
        line.strip()[len("palaestra ") :].split("   #")[0]
        for line in printed.splitlines()
        if line.strip().startswith("palaestra ")
    ]
    run_cmd, show_cmd, replay_cmd, own_replay, whole = commands
    assert main(shlex.split(run_cmd)) == 0
    assert main(shlex.split(show_cmd)) == 0
    assert "fault" in capsys.readouterr().out
    assert main(shlex.split(replay_cmd)) == 0
    assert main(shlex.split(own_replay)) == 0
    assert "1 identical, 0 differ" in capsys.readouterr().out
    assert main(shlex.split(whole)) == 0  # the whole experiment under the plan file
    episode = show_cmd.split()[2]
    with Store(store) as db:
        repro_id = run_cmd.split("--run-id ")[1].split()[0]
        (row,) = db.episodes(repro_id)
        assert row.episode_id == episode and row.outcome != "success"
        (whole_id,) = [r.run_id for r in db.list_runs() if r.run_id.startswith("tu-")]
        rows = {r.episode_id: r for r in db.episodes(whole_id)}
        assert len(rows) == 2 and rows[episode].outcome != "success"


def no_faults(event: Any) -> str | None:
    """A step contract: no fault is ever injected (so any fired fault violates it)."""
    return f"a {event.payload.fault} fault was injected" if event.kind == "fault" else None


def test_cli_contracts_count_as_violations(tmp_path, capsys):
    import yaml

    experiment = tmp_path / "counter.yaml"
    experiment.write_text(yaml.safe_dump(COUNTER))
    contracts = tmp_path / "contracts.yaml"
    contracts.write_text(
        "contracts:\n  - {python: 'tests.studies.test_stress:no_faults', name: no-faults}\n"
    )
    store = tmp_path / "runs.db"
    args = ["stress", str(experiment), "--budget", "12", "--store", str(store)]
    assert main([*args, "--contracts", str(contracts)]) == 1
    printed = capsys.readouterr().out
    assert "violation: contract 'no-faults' violated at seq" in printed
    assert (store.parent / "stress").is_dir()  # the default output folder
