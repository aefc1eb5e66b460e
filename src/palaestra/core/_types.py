"""The normalised value types every part of palaestra speaks: messages, tool calls,
tool specs, observations, actions and token usage.

They are pydantic models because every one of them is written to the event log and read
back; they are deliberately provider-neutral (OpenAI-style roles and tool calls, which
every serious provider can be translated to and from).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["system", "user", "assistant", "tool"]


class _Value(BaseModel):
    # NaN and infinities are refused: the log must stay standard, round-trippable JSON.
    model_config = ConfigDict(extra="forbid", frozen=False, allow_inf_nan=False)


class ToolCall(_Value):
    """A request, made by a model or an operator, to call one tool."""

    id: str
    """Identifier that the matching tool result refers back to."""
    name: str
    """Name of the tool to call."""
    arguments: dict[str, Any] = Field(default_factory=dict)
    """Decoded JSON arguments. A reply whose arguments were not valid JSON keeps the raw
    text under the key `__raw__` so the tool layer can tell the model what was wrong."""


class ToolSpec(_Value):
    """What a model is told about a tool: its name, purpose and JSON-schema parameters."""

    name: str
    """Unique name within one request."""
    description: str = ""
    """What the tool does, written for the model."""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    """JSON schema (an object schema) of the arguments."""


class Message(_Value):
    """One chat message, in the provider-neutral form used in requests and the log."""

    role: Role
    """Who speaks: system prompt, user (or environment), assistant (model), tool result."""
    content: str | None = None
    """The text; None for an assistant turn that only calls tools."""
    name: str | None = None
    """Optional speaker name (another agent in a multi-agent conversation)."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """Tool calls made in an assistant message."""
    tool_call_id: str | None = None
    """For role `tool`: the id of the call this message answers."""


class Usage(_Value):
    """Token usage and cost of one or more model calls; adds up with `+`."""

    input_tokens: int = 0
    """Prompt tokens, cached ones included (as OpenTelemetry GenAI counts them)."""
    output_tokens: int = 0
    """Completion tokens."""
    cached_tokens: int = 0
    """Of the input tokens, how many were served from a prompt cache."""
    cost_usd: float = 0.0
    """Cost in US dollars where the provider's price is known, else 0."""

    @property
    def total_tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
        )


class Observation(_Value):
    """What one agent perceives before it acts.

    `text` is what a language model reads; `data` carries the same information in
    structured form for algorithmic operators; `tools` are the environment tools this
    agent may call now (calling one ends the agent's turn and becomes its action).
    """

    text: str = ""
    """Human- and model-readable description of the situation."""
    data: dict[str, Any] = Field(default_factory=dict)
    """Structured content (neighbours, inbox, round...) for non-LLM operators."""
    tools: list[ToolSpec] = Field(default_factory=list)
    """Environment tools available to this agent at this step."""
    messages: list[Message] = Field(default_factory=list)
    """The observation as chat messages (e.g. `tool` results of the agent's environment
    tool calls, a user's reply). When given, chat-based operators read these instead of
    `text`, which is then only their plain rendering."""


class Action(_Value):
    """What one agent does at one environment step.

    An environment reads `tool_calls` (calls to its own tools), `text` (a reply or an
    answer) and `data` (the structured form algorithmic operators use); which ones it
    honours is part of each environment's documentation.
    """

    text: str | None = None
    """Free text: a reply to a user, a message, or a final answer."""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    """Calls to environment tools."""
    data: dict[str, Any] = Field(default_factory=dict)
    """Structured action for algorithmic operators (same meaning as the text form)."""
