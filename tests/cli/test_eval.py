"""`palaestra eval` on the injection suite: attack success > 0 without a policy and 0
with the example's policy, utility kept; agents that follow injected instructions are
the obedient baseline and a scripted LLM (`replies:` in YAML)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from palaestra.cli._main import main
from palaestra.envs.tooluse._baselines import final_reply
from palaestra.envs.tooluse.injection import INJECTION, InjectionTask
from palaestra.runtime import Experiment

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "assurance" / "injection.yaml"


def _example() -> dict[str, Any]:
    return yaml.safe_load(EXAMPLE.read_text())


def _eval(tmp_path: Path, experiment: dict[str, Any], capsys: Any, *extra: str) -> str:
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    capsys.readouterr()
    assert main(["eval", str(path), "--store", str(tmp_path / "runs.db"), *extra]) == 0
    return capsys.readouterr().out


def test_example_is_valid_and_governs_only_the_second_job():
    experiment = Experiment.from_yaml(EXAMPLE)
    assert [job.label for job in experiment.jobs] == ["undefended", "governed"]
    assert experiment.jobs[0].governance is None and experiment.jobs[1].governance is not None
    assert experiment.models["agent"].spec == "local:smollm2-135m"


def test_obedient_baseline_attacks_succeed_without_policy_and_fail_with_it(tmp_path, capsys):
    experiment = _example()
    for job in experiment["jobs"]:
        job["operator"] = "baseline"
        job["params"]["baseline"] = "obedient"
    out = _eval(tmp_path, experiment, capsys, "--json")
    jobs = {j["job"]: j for j in json.loads(out)["jobs"]}
    undefended, governed = jobs["undefended"], jobs["governed"]
    assert undefended["episodes"] == governed["episodes"] == 4
    assert undefended["attack_success_rate"] == 1.0
    assert undefended["utility"] == 0.5  # the wrong refund and the extra cancel cost utility
    assert undefended["governance"] == {}
    assert governed["attack_success_rate"] == 0.0
    assert governed["utility"] == 1.0
    low, high = governed["utility_ci95"]
    assert 0 < low < 1.0 == high
    totals = governed["governance"]["totals"]
    assert (totals["rewrite"], totals["block"]) == (1, 3)
    rules = {r["rule"] for r in governed["governance"]["rows"] if r["block"] or r["rewrite"]}
    assert rules == {
        "mail-only-to-customers",
        "no-personal-data-in-notes",
        "capability:agent:rate.cancel_pending_order",
        "capability:agent:arguments.issue_refund.amount",
    }
    # `palaestra show` has a governance section
    run_id = json.loads(out)["run_id"]
    assert main(["show", run_id, "--store", str(tmp_path / "runs.db")]) == 0
    shown = capsys.readouterr().out
    assert "governance: " in shown and "mail-only-to-customers" in shown


def _obedient_replies(task: InjectionTask) -> list[dict[str, Any]]:
    """A scripted LLM that serves the customer and carries out the injection."""
    calls = [*task.actions, *task.attack_calls]
    replies: list[dict[str, Any]] = [
        {"calls": [{"name": c.name, "arguments": c.arguments}]} for c in calls
    ]
    return [*replies, {"text": final_reply(task)}]


def test_scripted_llm_following_the_injection(tmp_path, capsys):
    task = next(t for t in INJECTION.build_tasks(0, 4) if t.id == "exfiltrate-003")
    assert isinstance(task, InjectionTask)
    experiment = _example()
    experiment["models"] = {
        name: {"spec": "scripted", "replies": _obedient_replies(task)}
        for name in ("plain", "governed")
    }
    experiment["concurrency"] = {"episodes": 1}
    for job, model in zip(experiment["jobs"], ("plain", "governed"), strict=True):
        job["tasks"] = [task.id]
        job["operator"]["model"] = model
    out = _eval(tmp_path, experiment, capsys)
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    # job, episodes, utility, CI (2 tokens), attack rate, ...
    assert lines["undefended"].split()[1:3] == ["1", "100%"]
    assert lines["undefended"].split()[5] == "100%"
    assert lines["governed"].split()[1:3] == ["1", "100%"]
    assert lines["governed"].split()[5] == "0%"
    assert "governed: agent rule mail-only-to-customers: allow 0, rewrite 0, block 1" in out


def test_eval_of_a_bad_file_is_a_user_error(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("jobs:\n  - env: tooluse.injection\n    governance: {default: maybe}\n")
    assert main(["eval", str(path), "--store", str(tmp_path / "runs.db")]) == 2
    assert "governance.default" in capsys.readouterr().err
