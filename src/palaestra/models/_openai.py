"""`OpenAIModel`: any OpenAI-compatible chat-completions server as a `Model`.

One provider covers OpenAI itself and the servers that speak its wire format (vLLM,
Ollama, llama.cpp server, LM Studio, SGLang...). It is built on the official `openai`
SDK's `AsyncOpenAI`, with two deliberate choices:

- **Our retries, not the SDK's** (`max_retries=0` to the SDK): every attempt, failed ones
  included, is returned in `ModelResponse.failed_attempts` (or attached to the final
  `ModelError`), so the event log shows what really happened; the wait is jittered from
  the request's seed (see `palaestra.models._retry`).
- **A real per-provider connection limit, at a low cost per call**: the SDK gets its own
  httpx2 client over `PooledTransport` (`palaestra.models._transport`), which keeps at
  most `max_connections` requests in flight (more queue for a slot) and takes or returns
  a kept-alive connection in O(1); httpx2's default pool scans all its connections for
  every request, milliseconds per call with 1,000 in flight. (Where the environment
  routes the server through a proxy, httpx2's own pool is used: ours speaks no proxy.)

The body is built here (`build_request`) and posted with the SDK's low-level
`post("/chat/completions", cast_to=httpx2.Response)`: the SDK still adds its headers and
raises its own errors (`APIStatusError`, `APITimeoutError`, `APIConnectionError`), but
skips walking the request through its TypedDict transform (about a millisecond a call).
The reply is read as plain JSON rather than through the SDK's typed models so that a
garbled body becomes a retryable `ModelReplyError` and a compatible server's extra or
missing fields do not break the call.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import random
import time
import urllib.parse
import urllib.request
from types import ModuleType
from typing import Any, NamedTuple

import httpx2
import openai

from palaestra.core import (
    Message,
    ModelError,
    ModelReplyError,
    ToolCall,
    ToolSpec,
    Usage,
    UserError,
)
from palaestra.models._protocol import Attempt, ModelRequest, ModelResponse
from palaestra.models._retry import RetryPolicy, parse_retry_after
from palaestra.models._transport import PooledTransport

_PLACEHOLDER_KEY = "EMPTY"
"""Key sent to a local server that needs none (the SDK insists on some key)."""
_OPENAI_URL = "https://api.openai.com/v1"
"""The SDK's default base URL."""


def _env_proxy_for(url: str) -> bool:
    """Whether the environment (HTTPS_PROXY, ALL_PROXY, NO_PROXY...) routes `url` through
    a proxy, as httpx2 would."""
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


def _http_module() -> ModuleType:
    """The httpx flavour the installed SDK speaks: `httpx2` for openai>=3, `httpx` before."""
    for name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if issubclass(openai.DefaultAsyncHttpxClient, module.AsyncClient):
            return module
    raise RuntimeError("cannot tell which httpx package the installed openai SDK uses")


class OpenAIModel:
    """A model served over the OpenAI chat-completions API (OpenAI or a compatible server).

    `base_url` defaults to the env var `OPENAI_BASE_URL`, then to OpenAI's own endpoint.
    The key is `api_key`, else the env var named by `api_key_env`; a server given by URL
    (a local vLLM or Ollama) may need none, so a placeholder is sent. `extra_body` is
    merged into every request (e.g. vLLM's `{"top_k": 20}`).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        max_connections: int = 64,
        timeout_s: float = 60.0,
        max_retries: int = 4,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        name: str | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if not model:
            raise UserError("OpenAIModel needs a model name, e.g. OpenAIModel('gpt-4o-mini')")
        if max_connections < 1:
            raise UserError(f"max_connections must be >= 1, got {max_connections}")
        if timeout_s <= 0:
            raise UserError(f"timeout_s must be > 0, got {timeout_s}")
        self.model = model
        self.base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = api_key or os.environ.get(api_key_env)
        if not key:
            if self.base_url is None:
                raise UserError(
                    f"no API key for OpenAI model {model!r}: set the environment variable "
                    f"{api_key_env} (or pass api_key=...), or pass base_url=... to use a "
                    "local OpenAI-compatible server that needs no key"
                )
            key = _PLACEHOLDER_KEY
        self.api_key_env = api_key_env
        self.timeout_s = float(timeout_s)
        self.max_connections = max_connections
        self.retry = RetryPolicy(
            max_retries=max_retries, backoff_base_s=backoff_base_s, backoff_max_s=backoff_max_s
        )
        self.extra_body = dict(extra_body) if extra_body else None
        self._name = name or f"openai:{model}"
        # timeout_s bounds connecting, sending and each wait for reply bytes; waiting for
        # a free connection is unbounded (pool=None, and the transport's semaphore): the
        # limit queues requests, and a queued request has not failed.
        timeout = httpx2.Timeout(self.timeout_s, pool=None)
        if _env_proxy_for(self.base_url or _OPENAI_URL):
            # PooledTransport speaks no proxy: httpx2's own pool does, slower.
            limits = httpx2.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            )
            self._http_client = openai.DefaultAsyncHttpxClient(limits=limits, timeout=timeout)
        else:
            self._http_client = openai.DefaultAsyncHttpxClient(
                transport=PooledTransport(max_connections=max_connections), timeout=timeout
            )
        self._client = openai.AsyncOpenAI(
            api_key=key,
            base_url=self.base_url,
            timeout=timeout,
            max_retries=0,
            http_client=self._http_client,
        )

    @property
    def name(self) -> str:
        """Spec-like name for the log, `openai:{model}` unless given."""
        return self._name

    @property
    def url(self) -> str:
        """The endpoint base URL actually used."""
        return str(self._client.base_url)

    def __repr__(self) -> str:
        return f"OpenAIModel({self.model!r}, base_url={self.url!r})"

    async def aclose(self) -> None:
        """Close the HTTP client and its connections."""
        await self._client.close()

    async def __aenter__(self) -> OpenAIModel:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def generate(self, request: ModelRequest) -> ModelResponse:
        """Answer one request, retrying per the policy; raise `ModelError` when every
        attempt failed (with `failed_attempts` attached) or one failed for good."""
        body = build_request(self.model, request)
        if self.extra_body:
            body.update(self.extra_body)
        rng: random.Random | None = None  # made on the first retry: most calls need none
        failed: list[Attempt] = []
        for number in range(1, self.retry.max_attempts + 1):
            start = time.monotonic()
            try:
                raw = await self._client.post(
                    "/chat/completions", body=body, cast_to=httpx2.Response
                )
                response = parse_response(raw.text)
            except (openai.APIError, ModelReplyError) as exc:
                latency = time.monotonic() - start
                failure = self._classify(exc)
                if not failure.retryable or number == self.retry.max_attempts:
                    failed.append(Attempt(failure.error, latency, None, failure.status))
                    raise self._final_error(failed, failure) from exc
                if rng is None:
                    rng = random.Random(request.seed if request.seed is not None else 0)
                delay = self.retry.retry_delay(number, rng, failure.retry_after)
                failed.append(Attempt(failure.error, latency, delay, failure.status))
                await asyncio.sleep(delay)
                continue
            response.latency_s = time.monotonic() - start
            response.failed_attempts = failed
            return response
        raise AssertionError("unreachable: the loop returns or raises")

    def _classify(self, exc: Exception) -> _Failure:
        """What one failed attempt was, and whether it is worth another try."""
        if isinstance(exc, ModelReplyError):
            return _Failure("reply", str(exc), None, True, None)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            return _Failure(
                "status",
                f"HTTP {status}: {_error_detail(exc)}",
                status,
                self.retry.is_retryable_status(status),
                parse_retry_after(exc.response.headers),
            )
        if isinstance(exc, openai.APITimeoutError):
            error = f"timeout: no reply within timeout_s={self.timeout_s:g} s"
            return _Failure("timeout", error, None, True, None)
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__
            reason = f"{type(cause).__name__}: {cause}" if cause else str(exc)
            return _Failure("connection", f"connection error: {reason}", None, True, None)
        # Any other SDK error (e.g. response validation) is a reply we could not use.
        return _Failure("reply", f"{type(exc).__name__}: {exc}", None, True, None)

    def _final_error(self, failed: list[Attempt], failure: _Failure) -> ModelError:
        n = len(failed)
        tries = f"after {n} attempt{'s' if n != 1 else ''}" if failure.retryable else "at once"
        message = (
            f"{self.name} at {self.url} failed {tries} (status "
            f"{failure.status if failure.status is not None else 'none'}): {failure.error}. "
            f"{self._advice(failure)}"
        )
        cls = ModelReplyError if failure.kind == "reply" else ModelError
        error = cls(message, status=failure.status, attempts=n)
        error.failed_attempts = list(failed)
        return error

    def _advice(self, failure: _Failure) -> str:
        """What the user should check, given how the call failed."""
        status = failure.status
        if failure.kind == "reply":
            return (
                "The server's reply is not a chat completion: check that base_url points "
                "at an OpenAI-compatible server (usually ending in /v1)."
            )
        if failure.kind == "timeout":
            return f"Check the server's load, or raise timeout_s (now {self.timeout_s:g})."
        if failure.kind == "connection":
            return f"Check that the server is up and reachable at {self.url}."
        if status in (401, 403):
            return f"Check the API key (env var {self.api_key_env}) and its permissions."
        if status == 404:
            return f"Check the model name {self.model!r} and that base_url ends in /v1."
        if status == 429:
            return "The provider is rate limiting: lower the concurrency or max_connections."
        if status is not None and status < 500 and not failure.retryable:
            return "The server rejected the request: check the model's parameters and tools."
        return "The server is failing: check its logs and load."


class _Failure(NamedTuple):
    """One failed attempt, classified."""

    kind: str
    """`status`, `timeout`, `connection` or `reply` (malformed body)."""
    error: str
    status: int | None
    retryable: bool
    retry_after: float | None
    """Seconds the server asked us to wait (Retry-After), if it said."""


def _error_detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:500]
        if isinstance(inner, str):
            return inner[:500]
    try:
        text = exc.response.text
    except Exception:  # a streamed or unread body: the status must do
        text = ""
    return (text or exc.message or "no detail")[:500]


# -- translation: our types <-> OpenAI chat dicts -------------------------------------------


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


def parse_response(text: str) -> ModelResponse:
    """A chat-completion JSON body as a `ModelResponse`; `ModelReplyError` if unusable."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise ModelReplyError(f"malformed reply: not JSON ({exc}): {text[:200]!r}") from exc
    if not isinstance(data, dict):
        raise ModelReplyError(f"malformed reply: expected a JSON object, got {text[:200]!r}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ModelReplyError(f"malformed reply: no choices in {text[:200]!r}")
    raw_message = choices[0].get("message")
    if not isinstance(raw_message, dict):
        raise ModelReplyError(f"malformed reply: choice has no message in {text[:200]!r}")
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
