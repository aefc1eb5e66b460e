"""The `Model` protocol: one async call from a request to a response.

Providers translate this neutral form to and from their wire format. A response carries
every attempt the provider made (retries, and the transport's re-sends, included), so that
the log shows each of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from palaestra.core import SAMPLING_PARAMS, Message, ToolSpec, Usage


@dataclass
class ModelRequest:
    """What is sent to a model."""

    messages: list[Message]
    """The conversation so far, system prompt first."""
    tools: list[ToolSpec] = field(default_factory=list)
    """Tools the model may call."""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    """Sampling seed, derived from (run seed, episode, agent, purpose) by the operator."""
    stop: list[str] | None = None
    agent: str = ""
    """Name of the agent asking (used to key replays and per-agent accounting)."""

    def params(self) -> dict[str, Any]:
        """The sampling parameters that are set, as recorded in `model_request` events."""
        out: dict[str, Any] = {}
        for name in SAMPLING_PARAMS:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass
class Attempt:
    """One failed try at a call, before the one that produced the response.

    Every send that reached the wire is one: a retry under the provider's policy, and
    also a first send that the transport repeated at once on a new connection (a reused
    keep-alive connection that closed without a byte of reply), marked `resent`.
    """

    error: str
    """Status and message of the failure."""
    latency_s: float
    retry_after_s: float | None
    """How long the provider waited before the next try."""
    status: int | None = None
    resent: bool = False
    """True when the transport sent the same request again at once on a new connection
    (no wait, no retry of the policy spent): the next attempt is that re-send."""


@dataclass
class ModelResponse:
    """A model's reply."""

    message: Message
    """The assistant message (text and/or tool calls)."""
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    model: str | None = None
    """Model name the provider reports."""
    latency_s: float = 0.0
    """Wall time of the successful attempt."""
    failed_attempts: list[Attempt] = field(default_factory=list)
    """Earlier attempts that failed and were retried."""
    prompt_token_ids: list[int] | None = None
    """Token ids of the prompt, for a model that reports them (a local policy)."""
    token_ids: list[int] | None = None
    """Token ids generated for `message`, for a model that reports them."""
    logprobs: list[float] | None = None
    """Log-probability of each generated token (aligned with `token_ids`)."""


@runtime_checkable
class Model(Protocol):
    """Anything that answers chat requests."""

    @property
    def name(self) -> str:
        """Spec-like name for the log, e.g. `openai:gpt-4o-mini`."""
        ...

    async def generate(self, request: ModelRequest) -> ModelResponse:
        """Answer one request; raise `ModelError` when it fails for good."""
        ...
