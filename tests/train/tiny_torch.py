"""A tiny randomly initialised Llama (SmolLM2's architecture, a few small layers) with a
tiny word-level ChatML tokenizer, built in the test process: the local torch backend's
tests run the real loop on it in seconds."""

from __future__ import annotations

from typing import Any

WORDS = [
    "system",
    "user",
    "assistant",
    "What",
    "is",
    "+",
    "-",
    "*",
    "?",
    "Reply",
    "with",
    "only",
    "the",
    "number",
    ".",
    "You",
    "are",
    "a",
    "calculator",
    "Incorrect",
    *[str(d) for d in range(10)],
]
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tiny_tokenizer() -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<pad>", "<|im_start|>", "<|im_end|>"]
    vocab = {token: i for i, token in enumerate(specials + WORDS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.WhitespaceSplit(),
            pre_tokenizers.Punctuation(),
            pre_tokenizers.Digits(individual_digits=True),
        ]
    )
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    backend.add_special_tokens(specials)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>", eos_token="<|im_end|>"
    )
    tokenizer.chat_template = CHATML
    return tokenizer


def tiny_model(tokenizer: Any, *, seed: int = 0) -> Any:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def tiny_policy(*, seed: int = 0, **options: Any) -> Any:
    from palaestra.models._torch import TorchPolicy

    tokenizer = tiny_tokenizer()
    options.setdefault("name", "torch:tiny")
    return TorchPolicy(tiny_model(tokenizer, seed=seed), tokenizer, **options)
