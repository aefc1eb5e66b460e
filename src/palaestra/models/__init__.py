"""Models: the `Model` protocol and its providers.

- `OpenAIModel`: any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server,
  LM Studio), with our own retries, backoff and connection limit.
- `LocalModel`: the embedded SmolLM2-135M-Instruct (no key, no network).
- `ScriptedModel`: the test double — fixed replies, tool calls, or a function.
- `ReplayModel`: answers from a recorded log; fails on the first divergence.
- `model_from_spec("local:smollm2-135m" | "openai:NAME" | "scripted")`; another package's
  providers join with `register_provider` or an entry point in group `palaestra.models`.
"""

from palaestra.models._embedded import LocalModel, smollm2_gguf_path
from palaestra.models._openai import OpenAIModel
from palaestra.models._protocol import Attempt, Model, ModelRequest, ModelResponse
from palaestra.models._replay import ReplayModel
from palaestra.models._retry import RetryPolicy, parse_retry_after
from palaestra.models._scripted import ScriptedModel
from palaestra.models._spec import (
    PROVIDERS,
    ModelProvider,
    model_from_spec,
    register_provider,
    spec_forms,
    spec_problem,
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
    "ReplayModel",
    "RetryPolicy",
    "ScriptedModel",
    "model_from_spec",
    "parse_retry_after",
    "register_provider",
    "smollm2_gguf_path",
    "spec_forms",
    "spec_problem",
]
