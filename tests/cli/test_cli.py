"""The `palaestra` command, run as a subprocess on real files and a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

EXPERIMENT = """\
name: cli
jobs:
  - env: graph.coloring
    params: {n: 6}
    tasks: 2
  - env: tooluse.store
    tasks: 2
  - env: tooluse.store
    label: shop-llm
    tasks: 1
    max_steps: 3
    operator: {kind: llm, model: "scripted:Sorry, I cannot help with that?"}
"""


def palaestra(*args: str, store=None, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ}
    if store is not None:
        env["PALAESTRA_STORE"] = str(store)
    proc = subprocess.run(
        [sys.executable, "-m", "palaestra", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def ran(tmp_path):
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT)
    store = tmp_path / "runs" / "p.db"
    proc = palaestra("run", str(exp), "--run-id", "r1", "--quiet", store=store)
    return tmp_path, store, proc


def test_run_prints_summary_and_openai_hint(ran):
    _, store, proc = ran
    out = proc.stdout
    assert "graph.coloring" in out and "tooluse.store" in out and "shop-llm" in out
    assert "run r1 stored in" in out and str(store) in out
    assert "--model openai:" in out and "--base-url" in out


def test_runs_show_and_timeline(ran):
    _, store, _ = ran
    assert "r1" in palaestra("runs", store=store).stdout
    summary = json.loads(palaestra("show", "r1", "--json", store=store).stdout)
    episodes = summary["episodes"]
    assert len(episodes) == 5
    assert {"task", "seed", "epoch", "outcome", "score", "hash"} <= set(episodes[0])
    assert all(len(e["hash"]) == 64 for e in episodes)
    text = palaestra("show", "last", store=store).stdout
    assert "graph.coloring/ws-6-0/0/0" in text
    llm = next(e for e in episodes if e["episode_id"].startswith("shop-llm"))
    timeline = palaestra("show", "r1", llm["episode_id"], store=store).stdout
    assert "model_request" in timeline and "model_response" in timeline
    assert "episode_end" in timeline
    events = json.loads(palaestra("show", "r1", llm["episode_id"], "--json", store=store).stdout)
    assert events[0]["kind"] == "episode_start" and events[-1]["kind"] == "episode_end"


def test_export_import_round_trip(ran):
    tmp_path, store, _ = ran
    out = tmp_path / "r1.jsonl"
    palaestra("export", "r1", "--format", "jsonl", "-o", str(out), store=store)
    other = tmp_path / "other.db"
    palaestra("import", str(out), store=other)
    a = json.loads(palaestra("show", "r1", "--json", store=store).stdout)["episodes"]
    b = json.loads(palaestra("show", "r1", "--json", store=other).stdout)["episodes"]
    assert [e["hash"] for e in a] == [e["hash"] for e in b]
    again = tmp_path / "again.jsonl"
    palaestra("export", "r1", "-o", str(again), store=other)
    assert again.read_text() == out.read_text()


def test_replay_identical_then_detects_tampering(ran):
    import sqlite3

    _, store, _ = ran
    proc = palaestra("replay", "r1", store=store)
    assert "5 identical, 0 differ" in proc.stdout
    con = sqlite3.connect(store)
    con.execute(
        "UPDATE events SET json = replace(json, 'Sorry, I cannot', 'Happy to') "
        "WHERE kind = 'model_response' "
        "AND episode IN (SELECT id FROM episodes WHERE run_id = 'r1')"
    )
    con.commit()
    con.close()
    proc = palaestra("replay", "r1", store=store, check=False)
    assert proc.returncode == 1
    assert "DIFFERS at seq" in proc.stdout and "1 differ" in proc.stdout


def test_resume_with_same_run_id(ran):
    tmp_path, store, _ = ran
    proc = palaestra("run", str(tmp_path / "exp.yaml"), "--run-id", "r1", "--quiet", store=store)
    assert "5 episodes were already finished" in proc.stdout


def test_envs_lists_parameters():
    out = palaestra("envs").stdout
    assert "graph.coloring" in out and "tooluse.store" in out
    assert "family" in out and "db_seed" in out
    data = json.loads(palaestra("envs", "--json").stdout)
    assert data["graph.coloring"]["baseline"] is True
    # which environments keep the reset contract (one instance reused across episodes)
    assert data["graph.coloring"]["reusable"] is True
    assert data["code.workspace"]["reusable"] is False
    assert "graph.coloring  (baseline, reusable)" in out


def test_user_errors_exit_2_with_a_clear_message(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("jobs:\n  - env: nowhere\n")
    proc = palaestra("run", str(bad), "--store", str(tmp_path / "x.db"), check=False)
    assert proc.returncode == 2
    assert "unknown environment 'nowhere'" in proc.stderr and "graph.coloring" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = palaestra("show", "nope", "--store", str(tmp_path / "missing.db"), check=False)
    assert proc.returncode == 2 and "no event store" in proc.stderr


def test_run_and_show_report_pass_hat_k_of_repeated_tasks(tmp_path):
    exp = tmp_path / "repeat.yaml"
    exp.write_text("name: rep\njobs:\n  - env: tooluse.store\n    tasks: 2\n    epochs: 3\n")
    store = tmp_path / "p.db"
    out = palaestra("run", str(exp), "--run-id", "rep", "--quiet", store=store).stdout
    assert "reliability tooluse.store: pass^1=1.000  pass^2=1.000  pass^3=1.000" in out
    shown = palaestra("show", "rep", store=store).stdout
    assert "reliability tooluse.store: pass^1=1.000" in shown
    data = json.loads(palaestra("show", "rep", "--json", store=store).stdout)
    assert data["pass_hat_k"] == {"tooluse.store": [1.0, 1.0, 1.0]}
