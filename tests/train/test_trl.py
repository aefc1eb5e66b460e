"""The TRL backend on the CPU: a tiny randomly initialised model of SmolLM2's
architecture trains for a few GRPO steps whose rollouts are palaestra runs of
`arith.drill`, recorded in the store; palaestra's advantages reach TRL's loss."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
transformers = pytest.importorskip("transformers")

# TRL's own config and trainer warn about their deprecations and experimental features
pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning:trl.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

from palaestra.store import Store  # noqa: E402
from palaestra.train import trajectories  # noqa: E402
from palaestra.train._trl import (  # noqa: E402
    PalaestraRollout,
    grpo_trainer,
    rollout_rows,
    task_prompts,
)
from tests.train.tiny import tiny_model, tiny_tokenizer  # noqa: E402

EXPERIMENT = {
    "name": "trl-smoke",
    "seed": 3,
    "models": {"policy": {"max_tokens": 3, "temperature": 1.0}},
    "limits": {"max_steps": 3},
    "jobs": [
        {
            "env": "arith.drill",
            "params": {"ops": ["add", "sub"], "tries": 2},
            "tasks": 2,
            "seeds": [0, 1],
            "operator": {"kind": "llm", "model": "policy", "system_prompt": "Add."},
        }
    ],
}


def test_task_prompts_name_every_instance():
    prompts = [json.loads(p) for p in task_prompts(EXPERIMENT)]
    assert prompts == [
        {"job": "arith.drill", "task": t, "seed": s} for t in ("add", "sub") for s in (0, 1)
    ]


def test_grpo_steps_through_palaestra_rollouts(tmp_path):
    from trl import GRPOConfig

    tokenizer = tiny_tokenizer()
    model = tiny_model(len(tokenizer))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    store = Store(tmp_path / "runs.db")
    rollout = PalaestraRollout(EXPERIMENT, store=store, agent="solver", max_tokens=3)
    args = GRPOConfig(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=4,
        num_generations=4,
        max_steps=3,
        learning_rate=5e-3,
        beta=0.0,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        bf16=False,
        seed=0,
    )
    trainer = grpo_trainer(model, tokenizer, rollout, args)
    trainer.train()

    # 1. the loss is finite at every step
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and all(math.isfinite(x) for x in losses)
    # 2. the weights moved
    moved = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert moved, "no parameter changed"
    # 3. every rollout is an ordinary run in the store, with the policy's tokens recorded
    runs = [r.run_id for r in store.list_runs() if "-rollout-" in r.run_id]
    assert len(runs) == 3
    for run_id in runs:
        trajs = trajectories(store, run_id, agents=["solver"])
        assert len(trajs) == 4  # one task instance x G = 4 epochs
        assert len({t.key[:3] for t in trajs}) == 1
        assert all(t.has_tokens and t.reward is not None for t in trajs)
    # 4. multi-turn: a wrong first answer is told so and answered again; both turns are
    # one sequence whose environment tokens (the feedback) carry no loss
    every = [t for run_id in runs for t in trajectories(store, run_id, agents=["solver"])]
    two = [t for t in every if len(t.turns) == 2 and len(t.segments) == 1]
    assert two
    row = rollout_rows(two[:1], pad_id=0)[0]
    first, second = two[0].turns
    assert row.prompt_ids == first.prompt_token_ids
    assert row.completion_ids == (
        first.token_ids
        + second.prompt_token_ids[len(first.prompt_token_ids) + len(first.token_ids) :]
        + second.token_ids
    )
    assert 0 in row.env_mask and sum(row.env_mask) == len(first.token_ids) + len(second.token_ids)
    # 5. what TRL trained on: palaestra's GRPO advantages (sample std, eps 1e-6)
    last = rollout.last
    rewards = [r.reward for r in last.rows]
    assert len(last.rows) == 4 and all(r is not None for r in rewards)
    assert len(set(rewards)) > 1
    mean = sum(rewards) / 4
    std = (sum((r - mean) ** 2 for r in rewards) / 3) ** 0.5
    assert last.advantages == pytest.approx([(r - mean) / (std + 1e-6) for r in rewards])
    tokens = [h.get("palaestra/rollout_tokens_per_s") for h in trainer.state.log_history]
    assert any(t for t in tokens)
    store.close()


def test_turn_level_estimators_are_refused():
    from palaestra.core import UserError

    with pytest.raises(UserError, match="turn-level"):
        rollout_rows([], "gigpo", pad_id=0)


def test_example_runs_tiny(tmp_path):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "examples" / "train" / "trl_grpo.py"
    spec = importlib.util.spec_from_file_location("trl_grpo_example", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    summary = example.main(
        [
            "--tiny",
            "--steps",
            "2",
            "--generations",
            "4",
            "--tasks-per-step",
            "1",
            "--store",
            str(tmp_path / "runs.db"),
            "--output",
            str(tmp_path / "out"),
        ]
    )
    assert summary["steps"] == 2 and summary["rollout_tokens_per_s"] > 0
    with Store(tmp_path / "runs.db") as store:
        assert len([r for r in store.list_runs() if "-rollout-" in r.run_id]) == 2
