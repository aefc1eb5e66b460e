"""Models: the `Model` protocol and its providers.

- `OpenAIModel`: any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server,
  LM Studio), with our own retries, backoff and connection limit.
- `LocalModel`: the embedded SmolLM2-135M-Instruct (no key, no network).
- `ScriptedModel`: the test double — fixed replies, tool calls, or a function.
- `ReplayModel`: answers from a recorded log; fails on the first divergence.
- `model_from_spec("local:smollm2-135m" | "openai:NAME" | "scripted")`; another package's
  providers join with `register_provider` or an entry point in group `palaestra.models`.
"""

from typing import TYPE_CHECKING

from palaestra._lazy import lazy_exports

if TYPE_CHECKING:
    from palaestra.models._embedded import LocalModel, reply_message, smollm2_gguf_path
    from palaestra.models._openai import OpenAIModel
    from palaestra.models._protocol import Attempt, Model, ModelRequest, ModelResponse
    from palaestra.models._replay import ReplayModel
    from palaestra.models._retry import RetryPolicy
    from palaestra.models._scripted import ScriptedModel
    from palaestra.models._spec import (
        PROVIDERS,
        ModelProvider,
        model_from_spec,
        register_provider,
        spec_problem,
    )
    from palaestra.models._torch import TorchPolicy
    from palaestra.models._torch_load import (
        STEP_DIR,
        latest_checkpoint,
        load_policy,
        load_pretrained,
        save_policy,
    )
    from palaestra.models._torch_tokens import PromptTokens
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "palaestra.models._embedded": ("LocalModel", "reply_message", "smollm2_gguf_path"),
            "palaestra.models._openai": ("OpenAIModel",),
            "palaestra.models._protocol": ("Attempt", "Model", "ModelRequest", "ModelResponse"),
            "palaestra.models._replay": ("ReplayModel",),
            "palaestra.models._retry": ("RetryPolicy",),
            "palaestra.models._scripted": ("ScriptedModel",),
            "palaestra.models._torch": ("TorchPolicy",),
            "palaestra.models._torch_load": (
                "STEP_DIR",
                "latest_checkpoint",
                "load_policy",
                "load_pretrained",
                "save_policy",
            ),
            "palaestra.models._torch_tokens": ("PromptTokens",),
            "palaestra.models._spec": (
                "PROVIDERS",
                "ModelProvider",
                "model_from_spec",
                "register_provider",
                "spec_problem",
            ),
        },
    )

__all__ = [
    "PROVIDERS",
    "Attempt",
    "LocalModel",
    "Model",
    "ModelProvider",
    "ModelRequest",
    "ModelResponse",
    "OpenAIModel",
    "PromptTokens",
    "ReplayModel",
    "RetryPolicy",
    "STEP_DIR",
    "ScriptedModel",
    "TorchPolicy",
    "latest_checkpoint",
    "load_policy",
    "load_pretrained",
    "model_from_spec",
    "register_provider",
    "reply_message",
    "save_policy",
    "smollm2_gguf_path",
    "spec_problem",
]
