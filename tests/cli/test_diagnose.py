"""`palaestra diagnose` and the assurance section of `palaestra show`, as subprocesses on
a real stored run: a wrong tool call never recovered, a baseline that succeeds, and a
job under a fault plan whose model error ends one episode."""

from __future__ import annotations

import json

import pytest

from tests.cli.test_cli import palaestra

EXPERIMENT = """\
name: diagnose-cli
seed: 0
models:
  wrong:
    spec: scripted
    replies:
      - calls: [{name: get_order_details, arguments: {order_id: "#W0000000"}}]
      - "I have taken care of it."
jobs:
  - env: tooluse.store
    label: wrong-call
    tasks: 1
    max_steps: 2
    operator: {kind: llm, model: wrong}
  - env: tooluse.store
    label: ground-truth
    tasks: 1
  - env: tooluse.store
    label: faulty
    tasks: 2
    max_steps: 4
    operator: {kind: llm, model: wrong}
    faults:
      rules:
        - {at: model, fault: error, schedule: [1]}
"""


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("diagnose")
    exp = tmp / "exp.yaml"
    exp.write_text(EXPERIMENT)
    store = tmp / "runs.db"
    palaestra("run", str(exp), "--run-id", "d1", "--quiet", "--store", str(store))
    return store


def test_diagnose_prints_one_line_per_failed_episode_then_counts(stored):
    out = palaestra("diagnose", "d1", "--store", str(stored)).stdout
    lines = out.splitlines()
    assert lines[0] == "run d1: 3 of 4 finished episodes failed"
    wrong = next(line for line in lines if line.startswith("wrong-call/"))
    assert "failure/done  seq 4 step 0 agent action  agent/tool_misuse [medium]" in wrong
    assert "order '#W0000000' not found" in wrong
    faulty = [line for line in lines if line.startswith("faulty/")]
    assert len(faulty) == 2 and all("error/error" in line for line in faulty)
    assert any("platform/model_failure (injected) [high]" in line for line in faulty)
    assert not any(line.startswith("ground-truth/") for line in lines)
    assert "  agent 2: tool_misuse 2" in lines and "  platform 1: model_failure 1" in lines
    assert "  termination reliability 2/4 = 50% [15%, 85%]  (done 2, error 2)" in lines
    assert any(line.startswith("  containment 1/2 = 50%") for line in lines)
    assert "  job faulty:" in lines


def test_diagnose_json_and_one_episode(stored):
    report = json.loads(palaestra("diagnose", "d1", "--json", "--store", str(stored)).stdout)
    assert (report["episodes"], report["failed"]) == (4, 3)
    assert report["counts"] == {"agent": {"tool_misuse": 2}, "platform": {"model_failure": 1}}
    by_episode = {d["episode_id"]: d for d in report["diagnoses"]}
    injected = [d for d in by_episode.values() if d["decisive"]["injected"]]
    assert len(injected) == 1 and injected[0]["decisive"]["kind"] == "fault"
    assert all(d["findings"] for d in report["diagnoses"])
    overall = report["assurance"]["overall"]
    assert overall["termination_reliability"]["successes"] == 2
    assert overall["containment"] == {
        "successes": 1,
        "n": 2,
        "rate": 0.5,
        "ci95": [pytest.approx(0.0945, abs=1e-4), pytest.approx(0.9055, abs=1e-4)],
    }
    one = palaestra("diagnose", "d1", "wrong-call", "--store", str(stored)).stdout
    assert one.startswith("run d1: 1 of 1 finished episodes failed")
    ok = palaestra("diagnose", "d1", "ground-truth", "--store", str(stored)).stdout
    assert ok.startswith("run d1: 0 of 1 finished episodes failed")
    bad = palaestra("diagnose", "d1", "nope", "--store", str(stored), check=False)
    assert bad.returncode == 2 and "has no episode 'nope'" in bad.stderr


def test_show_has_an_assurance_section_only_with_faults(stored, tmp_path):
    out = palaestra("show", "d1", "--store", str(stored)).stdout
    section = out[out.index("assurance:") :].splitlines()
    assert section[1].startswith("  termination reliability 2/4")
    assert section[-1] == "  per job and per failed episode: palaestra diagnose d1"
    exp = tmp_path / "clean.yaml"
    exp.write_text("name: clean\njobs:\n  - env: tooluse.store\n    tasks: 1\n")
    store = tmp_path / "clean.db"
    palaestra("run", str(exp), "--run-id", "c1", "--quiet", "--store", str(store))
    assert "assurance:" not in palaestra("show", "c1", "--store", str(store)).stdout
