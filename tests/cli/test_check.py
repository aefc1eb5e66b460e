"""`palaestra check` and `palaestra show --at/--violation` on a real run of the tool-use
env (its ground-truth baseline) under contracts."""

from __future__ import annotations

import json

import pytest

from palaestra.cli._main import main
from palaestra.store import Store

EXPERIMENT = """\
name: checked
jobs:
  - env: tooluse.store
    tasks: 2
contracts:
  - use: tool_args_schema
  - use: budget
    max_tool_calls: 2
  - use: no_secrets
"""

STRICT = """\
contracts:
  - use: allowed_tools
    allow: {agent: ["find_*", "get_*"]}
"""


@pytest.fixture
def run(tmp_path, capsys):
    exp = tmp_path / "exp.yaml"
    exp.write_text(EXPERIMENT)
    store = tmp_path / "runs.db"
    assert main(["run", str(exp), "--store", str(store), "--run-id", "r1", "--quiet"]) == 0
    capsys.readouterr()
    return store


def test_check_reports_the_runs_own_contracts_and_exits_1(run, capsys):
    assert main(["check", "r1", "--store", str(run)]) == 1
    out = capsys.readouterr().out
    assert "checking against the contracts of run r1" in out
    assert "PASS  tool_args_schema" in out and "PASS  no_secrets" in out
    assert "FAIL  budget" in out and "episodes=2  violations=2" in out
    with Store(run) as store:
        events = store.events("r1", "tooluse.store/cancel-000/0/0")
    third_call = [e.seq for e in events if e.kind == "action" and e.payload.action.tool_calls][2]
    assert f"tooluse.store/cancel-000/0/0  seq={third_call} step=2 agent=agent" in out

    assert main(["check", "r1", "--store", str(run), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    by_name = {c["contract"]: c for c in report["contracts"]}
    assert report["episodes"] == 2 and not report["passed"]
    assert by_name["budget"]["violations"][0]["seq"] == third_call
    assert by_name["tool_args_schema"]["violations"] == []


def test_check_with_a_contracts_file_and_exit_codes(run, tmp_path, capsys):
    strict = tmp_path / "strict.yaml"
    strict.write_text(STRICT)
    assert main(["check", "r1", "--store", str(run), "--contracts", str(strict)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  allowed_tools" in out and "'cancel_pending_order'" in out
    lenient = tmp_path / "lenient.yaml"
    lenient.write_text("contracts:\n  - use: tool_calls_answered\n  - use: no_role_drift\n")
    assert main(["check", "r1", "--store", str(run), "--contracts", str(lenient)]) == 0
    assert "all contracts hold" in capsys.readouterr().out
    one = ["check", "r1", "--store", str(run), "--episode", "tooluse.store/modify"]
    assert main([*one, "--contracts", str(lenient), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 1

    bad = tmp_path / "bad.yaml"
    bad.write_text("contracts:\n  - use: budget\n    max_tool_calls: -1\n")
    assert main(["check", "r1", "--store", str(run), "--contracts", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:3: contracts.0.max_tool_calls" in err


def test_check_a_run_without_contracts_is_a_user_error(tmp_path, capsys):
    exp = tmp_path / "plain.yaml"
    exp.write_text("jobs:\n  - env: tooluse.store\n")
    store = tmp_path / "runs.db"
    assert main(["run", str(exp), "--store", str(store), "--run-id", "p", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["check", "p", "--store", str(store)]) == 2
    assert "was run without contracts; pass --contracts FILE" in capsys.readouterr().err


def test_show_marks_verdicts_and_jumps_to_a_violation(run, capsys):
    episode = "tooluse.store/cancel-000/0/0"
    assert main(["show", "r1", episode, "--store", str(run)]) == 0
    out = capsys.readouterr().out
    assert "FAIL budget at seq" in out and "PASS no_secrets" in out
    assert "<-- violates budget" in out

    assert main(["show", "r1", episode, "--store", str(run), "--violation", "budget"]) == 0
    out = capsys.readouterr().out
    with Store(run) as store:
        events = store.events("r1", episode)
    verdict = next(
        e.payload for e in events if e.kind == "contract_verdict" and not e.payload.passed
    )
    seq = verdict.first_violation
    assert f"contract 'budget' violated at seq {seq}" in out
    marked = [line for line in out.splitlines() if line.startswith(">>")]
    assert len(marked) == 1 and f" {seq} s2" in marked[0] and "cancel_pending_order" in marked[0]
    assert "parents:" in out and "observation" in out.split("around it:")[0]

    assert main(["show", "r1", episode, "--store", str(run), "--at", "1", "--context", "1"]) == 0
    out = capsys.readouterr().out
    around = out.split("around it:\n")[1].split("the event in full")[0].strip().splitlines()
    assert len(around) == 3 and around[1].startswith(">>")

    assert main(["show", "r1", episode, "--store", str(run), "--violation", "no_secrets"]) == 2
    assert "contract 'no_secrets' holds in this episode" in capsys.readouterr().err
