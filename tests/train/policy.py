"""A tiny fake policy model for the training tests: a scripted reply, reported with
token ids and log-probabilities the way a local torch policy reports them.

Tokens are characters (`ord`). The prompt is rendered so that the next turn's prompt
starts with this turn's prompt + reply (as a chat template does): `<role>text</>` per
message, then `<assistant>` to open the reply; the reply's tokens are `text</>`.
"""

from __future__ import annotations

import json

from palaestra.core import Message
from palaestra.models import ModelRequest, ModelResponse, ScriptedModel


def render_message(message: Message) -> str:
    return f"<{message.role}>{body(message)}</>"


def body(message: Message) -> str:
    calls = "".join(
        json.dumps({"name": c.name, "arguments": c.arguments}, sort_keys=True)
        for c in message.tool_calls
    )
    return f"{message.content or ''}{calls}"


def encode(text: str) -> list[int]:
    return [ord(c) for c in text]


class TokenPolicy:
    """Answers like `inner` (a `ScriptedModel`), with prompt/generated token ids and a
    log-probability of -0.5 per generated token."""

    def __init__(self, inner: ScriptedModel, *, name: str = "fake-policy") -> None:
        self.inner = inner
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def generate(self, request: ModelRequest) -> ModelResponse:
        response = await self.inner.generate(request)
        prompt = "".join(render_message(m) for m in request.messages) + "<assistant>"
        generated = encode(body(response.message) + "</>")
        response.prompt_token_ids = encode(prompt)
        response.token_ids = generated
        response.logprobs = [-0.5] * len(generated)
        return response
