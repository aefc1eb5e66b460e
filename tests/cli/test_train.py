"""`palaestra train` end to end on a tiny saved model (`torch:PATH`), then `palaestra
report --curve` plots the learning curve."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("transformers")

from palaestra.cli import main  # noqa: E402
from palaestra.models._torch_load import save_policy  # noqa: E402
from tests.train.tiny_torch import tiny_policy  # noqa: E402


def test_train_command_prints_steps_and_before_after(tmp_path: Path, capsys) -> None:
    save_policy(tiny_policy(seed=0), tmp_path / "tiny")
    experiment = {
        "name": "cli-train",
        "models": {"policy": {"spec": f"torch:{tmp_path / 'tiny'}"}},
        "jobs": [
            {
                "env": "arith.drill",
                "params": {"min_value": 2, "max_value": 2},
                "operator": {"kind": "llm", "model": "policy"},
            }
        ],
        "train": {
            "steps": 2,
            "group_size": 4,
            "prompts_per_step": 1,
            "max_new_tokens": 1,
            "lr": 0.03,
            "eval_seeds": 4,
            "checkpoint_dir": str(tmp_path / "ckpt"),
        },
    }
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(experiment))
    store = str(tmp_path / "runs.db")
    assert main(["train", str(path), "--store", store]) == 0
    out = capsys.readouterr().out
    assert "step    1  reward" in out and "step    2  reward" in out
    assert "held-out success" in out
    assert (tmp_path / "ckpt" / "step-000002" / "model" / "config.json").exists()
    # one more step from the checkpoint
    assert main(["train", str(path), "--store", store, "--steps", "3", "--resume"]) == 0
    out = capsys.readouterr().out
    assert "resumed" in out and "step    3  reward" in out
    assert "step    1  reward" not in out
    eval_run = [line for line in out.splitlines() if line.startswith("eval")][-1].split()[-1]
    report = tmp_path / "report.html"
    args = ["report", eval_run.rstrip(")"), "-o", str(report), "--store", store]
    assert main([*args, "--curve", str(tmp_path / "ckpt")]) == 0
    html = report.read_text()
    assert "learning curves" in html and "reward_mean" in html


def test_train_command_reports_config_errors(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "models: {policy: {spec: 'torch:x'}}\n"
        "jobs: [{env: arith.drill, operator: {kind: llm, model: policy}}]\n"
        "train:\n  steps: 2\n  estimater: grpo\n"
    )
    assert main(["train", str(path), "--store", str(tmp_path / "r.db")]) == 2
    err = capsys.readouterr().err
    assert f"{path}:5: train.estimater: unknown field" in err
    assert "valid fields of train: " in err and "estimator" in err
