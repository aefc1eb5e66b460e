"""What the test chat server answers: scripted replies, scripted faults, and the
OpenAI-format bodies built from them.

Kept apart from the HTTP plumbing in `_chat_server.py` so the reply format can be read
(and checked against the OpenAI spec) on its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    """One assistant reply the server sends: text and/or tool calls."""

    content: str | None = None
    """The assistant text (None for a reply that only calls tools)."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """Calls as made by `tool_call(name, arguments)`: `{"name", "arguments", "id"?}`;
    `arguments` is a dict (sent as JSON) or a string (sent verbatim, e.g. broken JSON)."""
    finish_reason: str | None = None
    """Defaults to `tool_calls` when there are calls, else `stop`."""
    usage: dict[str, Any] | None = None
    """OpenAI usage object to send instead of the word-count estimate."""


def tool_call(
    name: str, arguments: Mapping[str, Any] | str | None = None, *, id: str | None = None
) -> dict[str, Any]:
    """A tool call for `Reply.tool_calls` (or a reply function's result)."""
    out: dict[str, Any] = {"name": name, "arguments": {} if arguments is None else arguments}
    if id is not None:
        out["id"] = id
    return out


ReplyLike = str | Reply | Mapping[str, Any]
"""Text, a `Reply`, or a mapping with `Reply`'s fields."""
ReplyFn = Callable[[dict[str, Any]], ReplyLike]
"""A function of the request JSON that returns the reply."""


@dataclass
class ServerFault:
    """One scripted deviation, consumed by the next chat request (see `ChatServer.push`)."""

    status: int | None = None
    """Answer with this HTTP status and an OpenAI-style error body."""
    retry_after: float | str | None = None
    """`Retry-After` header: seconds, or an HTTP date string."""
    retry_after_ms: float | None = None
    """`retry-after-ms` header (as OpenAI sends)."""
    delay_s: float | None = None
    """Wait this long before answering (replaces the server's `delay_s`)."""
    malformed: bool = False
    """Answer 200 with a body that is not valid JSON."""
    drop: bool = False
    """Close the connection without answering."""
    reply: ReplyLike | None = None
    """Answer this instead of the default reply."""
    headers: dict[str, str] = field(default_factory=dict)
    """Extra response headers."""
    message: str | None = None
    """Error message in the body of a `status` reply."""
    body: Any = None
    """Send this body instead (bytes verbatim, anything else as JSON), with `status` or
    200: e.g. a completion with no choices."""


def coerce_reply(value: ReplyLike) -> Reply:
    """Any `ReplyLike` as a `Reply`."""
    if isinstance(value, Reply):
        return value
    if isinstance(value, str):
        return Reply(content=value)
    if isinstance(value, Mapping):
        return Reply(**dict(value))
    raise TypeError(f"a reply must be str, Reply or a mapping, got {type(value).__name__}")


def echo_reply(request: dict[str, Any]) -> ReplyLike:
    """The default reply: `echo: <last user message>` (distinct per request, cheap)."""
    for message in reversed(request.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return f"echo: {_text(message.get('content'))}"
    return "echo:"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _words(text: str) -> int:
    return len(text.split())


def completion_body(
    request: dict[str, Any], reply: Reply, *, number: int, default_model: str
) -> dict[str, Any]:
    """A valid OpenAI chat-completion object answering `request` with `reply`."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    calls: list[dict[str, Any]] = []
    completion = _words(reply.content or "")
    for index, call in enumerate(reply.tool_calls):
        arguments = call.get("arguments", {})
        encoded = arguments if isinstance(arguments, str) else json.dumps(arguments)
        completion += _words(encoded) + 3
        calls.append(
            {
                "id": call.get("id") or f"call_{number}_{index}",
                "type": "function",
                "function": {"name": call["name"], "arguments": encoded},
            }
        )
    if calls:
        message["tool_calls"] = calls
    usage = reply.usage
    if usage is None:
        prompt = sum(
            4 + _words(_text(m.get("content")))
            for m in request.get("messages") or []
            if isinstance(m, dict)
        )
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
        }
    return {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model") or default_model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": reply.finish_reason or ("tool_calls" if calls else "stop"),
                "logprobs": None,
            }
        ],
        "usage": usage,
    }


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_exceeded",
}


def error_body(status: int, message: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error object for `status`."""
    kind = _ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    return {
        "error": {
            "message": message or f"scripted error {status}",
            "type": kind,
            "param": None,
            "code": None,
        }
    }


MALFORMED_BODY = b'{"id": "chatcmpl-malformed", "object": "chat.completion", "choices": [{"mess'
"""A 200 body that is cut off mid-JSON, as a crashing proxy might send."""
