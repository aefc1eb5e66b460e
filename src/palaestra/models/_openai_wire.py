"""The OpenAI chat-completions wire format: our `ModelRequest`/`Message`/`ToolSpec` to
the request body, and the JSON reply back to a `ModelResponse`.

Kept apart from the provider (`_openai.py`) so the translation can be read and tested
on its own; every OpenAI-compatible server speaks this format.
"""

from __future__ import annotations

import json
from typing import Any

from palaestra.core import Message, ModelReplyError, ToolCall, ToolSpec, Usage
from palaestra.models._protocol import ModelRequest, ModelResponse

_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
)


def encode_body(body: dict[str, Any]) -> bytes:
    """A request body as JSON bytes, exactly as the SDK encodes it (`openapi_dumps`:
    compact, UTF-8, NaN and infinities refused)."""
    return _ENCODER.encode(body).encode()


def build_request(model: str, request: ModelRequest) -> dict[str, Any]:
    """The JSON body of a chat-completions request (`POST /chat/completions`) for `request`."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [message_to_openai(m) for m in request.messages],
    }
    if request.tools:
        body["tools"] = [tool_to_openai(t) for t in request.tools]
        # OpenAI's default when tools are given, said explicitly because some servers
        # (llama.cpp's chatml-function-calling) only call tools when asked; override it
        # with extra_body={"tool_choice": ...}.
        body["tool_choice"] = "auto"
    body.update(request.params())
    return body


def message_to_openai(message: Message) -> dict[str, Any]:
    """One of our messages as an OpenAI chat message dict."""
    out: dict[str, Any] = {"role": message.role}
    if message.role == "tool":
        out["content"] = message.content or ""
        if message.tool_call_id is not None:
            out["tool_call_id"] = message.tool_call_id
        return out
    # An assistant turn that only calls tools is sent with "" rather than null: OpenAI and
    # vLLM take either, but llama.cpp's server rejects null and its chat templates need
    # the key to be there.
    out["content"] = "" if message.content is None else message.content
    if message.name:
        out["name"] = message.name
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": _encode_arguments(call.arguments)},
            }
            for call in message.tool_calls
        ]
    return out


def _encode_arguments(arguments: dict[str, Any]) -> str:
    if set(arguments) == {"__raw__"} and isinstance(arguments["__raw__"], str):
        return arguments["__raw__"]  # send back exactly what the model wrote
    return json.dumps(arguments, ensure_ascii=False)


def tool_to_openai(tool: ToolSpec) -> dict[str, Any]:
    """A tool spec in OpenAI's function-tool form."""
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters,
        },
    }


def parse_response(text: str | bytes) -> ModelResponse:
    """A chat-completion JSON body as a `ModelResponse`; `ModelReplyError` if unusable."""
    try:
        data = json.loads(text)
    except (ValueError, TypeError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ModelReplyError(f"malformed reply: not JSON ({exc}): {_excerpt(text)}") from exc
    if not isinstance(data, dict):
        raise ModelReplyError(f"malformed reply: expected a JSON object, got {_excerpt(text)}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ModelReplyError(f"malformed reply: no choices in {_excerpt(text)}")
    raw_message = choices[0].get("message")
    if not isinstance(raw_message, dict):
        raise ModelReplyError(f"malformed reply: choice has no message in {_excerpt(text)}")
    calls = [
        _parse_tool_call(call, index)
        for index, call in enumerate(raw_message.get("tool_calls") or [])
    ]
    message = Message(
        role="assistant", content=_content_text(raw_message.get("content")), tool_calls=calls
    )
    return ModelResponse(
        message=message,
        usage=parse_usage(data.get("usage")),
        finish_reason=choices[0].get("finish_reason"),
        model=data.get("model"),
    )


def _excerpt(text: str | bytes) -> str:
    """The start of a reply body, quoted, for an error message."""
    head = text[:200]
    return repr(head.decode("utf-8", "replace") if isinstance(head, bytes) else head)


def _content_text(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts, as some servers send
        parts = [p.get("text", "") for p in content if isinstance(p, dict)]
        return "".join(parts)
    raise ModelReplyError(f"malformed reply: message content is {type(content).__name__}")


def _parse_tool_call(raw: Any, index: int) -> ToolCall:
    if not isinstance(raw, dict) or not isinstance(raw.get("function"), dict):
        raise ModelReplyError(f"malformed reply: tool call {index} is {raw!r}")
    function = raw["function"]
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise ModelReplyError(f"malformed reply: tool call {index} has no function name")
    return ToolCall(
        id=str(raw.get("id") or f"call_{index}"),
        name=name,
        arguments=decode_arguments(function.get("arguments")),
    )


def decode_arguments(raw: Any) -> dict[str, Any]:
    """Tool-call arguments as a dict; text that is not a JSON object is kept as
    `{"__raw__": text}` so the tool layer can tell the model what was wrong."""
    if raw is None or raw == "":
        return {}
    if isinstance(raw, dict):
        return raw
    text = raw if isinstance(raw, str) else json.dumps(raw)
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"__raw__": text}
    return value if isinstance(value, dict) else {"__raw__": text}


def parse_usage(raw: Any) -> Usage:
    """OpenAI usage (prompt/completion tokens, cached prompt tokens) as our `Usage`."""
    if not isinstance(raw, dict):
        return Usage()
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(
        input_tokens=int(raw.get("prompt_tokens") or 0),
        output_tokens=int(raw.get("completion_tokens") or 0),
        cached_tokens=int(cached or 0),
    )
