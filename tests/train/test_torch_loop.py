"""The local PyTorch training loop on a tiny random Llama: it learns, it resumes exactly,
it saves its config with every checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch  # noqa: E402

from palaestra.core import ConfigError  # noqa: E402
from palaestra.store import Store  # noqa: E402
from palaestra.train import TrainConfig, read_checkpoint, train, train_config  # noqa: E402
from tests.train.tiny_torch import tiny_policy  # noqa: E402


def experiment(checkpoints: Path, **train_block: Any) -> dict[str, Any]:
    """arith.drill with one question (2 + 2): the right one-token answer gets reinforced."""
    block = {
        "steps": 8,
        "group_size": 8,
        "prompts_per_step": 2,
        "lr": 0.03,
        "max_new_tokens": 1,
        "eval_every": 0,
        "eval_seeds": 8,
        "checkpoint_dir": str(checkpoints),
        "checkpoint_every": 0,
        "keep_checkpoints": 1,
        **train_block,
    }
    return {
        "name": "tiny-arith",
        "seed": 0,
        "models": {"policy": {"spec": "torch:tiny"}},
        "jobs": [
            {
                "env": "arith.drill",
                "params": {"min_value": 2, "max_value": 2},
                "operator": {
                    "kind": "llm",
                    "model": "policy",
                    "system_prompt": "You are a calculator.",
                },
            }
        ],
        "train": block,
    }


@pytest.mark.slow
@pytest.mark.timeout(180)  # trains a small torch policy for real
def test_the_loop_learns_the_rewarded_answer(tmp_path: Path) -> None:
    policy = tiny_policy(seed=0)
    with Store(tmp_path / "runs.db") as store:
        result = train(experiment(tmp_path / "ckpt"), store=store, policy=policy, log=None)
        rewards = [r["reward_mean"] for r in result.curve]
        assert len(rewards) == 8
        # step 1 is the random policy; the last steps answer "4" far more often
        first, last = rewards[0], sum(rewards[-2:]) / 2
        assert first < 0.2
        assert last > first + 0.3, rewards
        before, after = result.evals[0], result.evals[-1]
        assert (before.step, after.step) == (0, 8)
        assert after.score_mean > before.score_mean
        # every rollout is an ordinary stored run with the policy's tokens in its log
        run = store.get_run(result.curve[0]["run_id"])
        assert run is not None
    lines = (tmp_path / "ckpt" / "curve.jsonl").read_text().splitlines()
    assert len(lines) == 8


def test_resume_gives_the_same_continuation(tmp_path: Path) -> None:
    common = {"steps": 4, "checkpoint_every": 2, "keep_checkpoints": 3}
    straight = tiny_policy(seed=1, max_batch=1)
    with Store(tmp_path / "a.db") as store:
        a = train(experiment(tmp_path / "a", **common), store=store, policy=straight, log=None)
    interrupted = tiny_policy(seed=1, max_batch=1)
    with Store(tmp_path / "b.db") as store:
        train(
            experiment(tmp_path / "b", **common), store=store, policy=interrupted, steps=2, log=None
        )
        resumed = tiny_policy(seed=7, max_batch=1)  # other weights: the checkpoint's win
        b = train(
            experiment(tmp_path / "b", **common), store=store, policy=resumed, resume=True, log=None
        )
    assert [r["reward_mean"] for r in b.curve] == [r["reward_mean"] for r in a.curve]
    assert [r["step"] for r in b.curve] == [1, 2, 3, 4]
    for (name, p), q in zip(
        straight.model.named_parameters(), resumed.model.parameters(), strict=True
    ):
        assert torch.equal(p, q), name


def test_checkpoints_hold_the_config_and_load_as_a_model(tmp_path: Path) -> None:
    policy = tiny_policy(seed=2)
    exp = experiment(
        tmp_path / "ckpt", steps=2, checkpoint_every=1, keep_checkpoints=1, kl_coef=0.1
    )
    with Store(tmp_path / "runs.db") as store:
        result = train(exp, store=store, policy=policy, log=None)
    assert [p.name for p in (tmp_path / "ckpt").glob("step-*")] == ["step-000002"]
    checkpoint = read_checkpoint(tmp_path / "ckpt")
    assert checkpoint.step == 2
    assert checkpoint.config == train_config(exp["train"])
    assert checkpoint.state["train_id"] == result.train_id
    assert result.curve[-1]["kl"] > 0  # the KL to the frozen reference is in the loss
    from palaestra.models import model_from_spec

    loaded = model_from_spec(f"torch:{tmp_path / 'ckpt'}")
    for p, q in zip(policy.model.parameters(), loaded.model.parameters(), strict=True):
        assert torch.equal(p, q)


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="train.estimator"):
        train_config({"estimator": "ppo"})
    with pytest.raises(ConfigError, match="train.learning_rate"):
        train_config({"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="overlap"):
        train_config({"eval_seeds": [3], "steps": 2, "prompts_per_step": 2})
    exp = experiment(tmp_path / "x")
    exp["train"]["model"] = "judge"
    with pytest.raises(ConfigError, match="not under `models:`"):
        train(exp, policy=tiny_policy(), store=tmp_path / "x.db", log=None)
    assert TrainConfig().estimator == "grpo"


def test_a_checkpoint_is_written_whole_or_not_at_all(tmp_path: Path) -> None:
    """A save that fails halfway (here: the optimizer's state cannot be read, after the
    model was written) leaves the previous checkpoint the latest and nothing else."""
    from palaestra.models._torch_load import latest_checkpoint
    from palaestra.train._torch_backend import make_optimizer, save_checkpoint

    policy = tiny_policy(seed=3)
    config = train_config({"keep_checkpoints": 3})
    optimizer = make_optimizer(policy, config)
    first = save_checkpoint(
        tmp_path, step=1, policy=policy, optimizer=optimizer, config=config, state={}
    )

    class Unreadable:
        def state_dict(self) -> dict[str, Any]:
            raise OSError(5, "Input/output error")

    with pytest.raises(OSError, match="Input/output error"):
        save_checkpoint(
            tmp_path, step=2, policy=policy, optimizer=Unreadable(), config=config, state={}
        )
    assert latest_checkpoint(tmp_path) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["step-000001"]
    assert (first / "model" / "config.json").exists() and (first / "optimizer.pt").exists()


def test_a_curve_line_cut_by_a_crash_is_dropped(tmp_path: Path) -> None:
    from palaestra.train import read_curve

    (tmp_path / "curve.jsonl").write_text('{"step": 1}\n{"step": 2}\n{"st')
    assert read_curve(tmp_path) == [{"step": 1}, {"step": 2}]
