"""`OpenAIModel`: any OpenAI-compatible chat-completions server as a `Model`.

One provider covers OpenAI itself and the servers that speak its wire format (vLLM,
Ollama, llama.cpp server, LM Studio, SGLang...). It is built on the official `openai`
SDK's `AsyncOpenAI`, which defines everything about the request and its failures: the
base URL, the key and the headers it sends (`auth_headers`, `default_headers`: User-Agent,
`X-Stainless-*`...), the timeout, and the exceptions a failure raises (`APIStatusError`
and its subclasses, made as the SDK's client makes them: `status_error`;
`APITimeoutError`, `APIConnectionError`). Three deliberate choices:

- **Our retries, not the SDK's** (`max_retries=0` to the SDK): every attempt, failed ones
  included, is returned in `ModelResponse.failed_attempts` (or attached to the final
  `ModelError`), so the event log shows what really happened; the wait is jittered from
  the request's seed (see `palaestra.models._retry`). Each attempt says which retry it is
  in `X-Stainless-Retry-Count`, as the SDK's own retries do. A request the transport
  sent twice (a kept-alive connection that closed before a byte of the reply: see
  `Resend`) is one attempt more, marked `resent`, which spends no retry.
- **A real per-provider connection limit, at a low cost per call**: requests go over
  `PooledTransport` (`palaestra.models._transport`), which keeps at most
  `max_connections` requests in flight (more queue for a slot) and takes or returns a
  kept-alive connection in O(1); httpx2's default pool scans all its connections for
  every request, milliseconds per call with 1,000 in flight.
- **The hot path skips the SDK's request pipeline.** The SDK's `post()` copies its
  options model twice, merges and validates headers, builds the URL and the request
  through the httpx2 client and wraps the response: per call, that alone costs more
  client CPU than the budget the target workload (1,000 episodes in flight against a
  slow server) leaves provider and runtime together (the figures, layer by layer:
  docs/benchmarks.md, "Figures moved out of docstrings"). So the first call
  takes the SDK client's URL, headers and timeout once and encodes the request head
  (`_DirectPost`); each attempt then adds its retry count, length and body to those
  bytes, hands them to `PooledTransport.send_bytes` (no httpx2 request or response
  objects, cheaper than `handle_async_request`), and turns a failure into
  the exception the SDK would raise, made the SDK's way. `_classify`, retries and
  Retry-After see the same errors either way; tests compare the headers and errors with
  those of the SDK's own `chat.completions.create`.

Two cases still go through the SDK (`post("/chat/completions", cast_to=httpx2.Response)`
on an httpx2 client): where the environment routes the server through a proxy
(HTTPS_PROXY, ALL_PROXY...; `PooledTransport` speaks no proxy, so httpx2's own pool,
which does, is used for the whole model), and a 3xx answer (the SDK's client follows
redirects; the transport does not), resent through the SDK over the same pool.

The reply is read as plain JSON rather than through the SDK's typed models so that a
garbled body becomes a retryable `ModelReplyError` and a compatible server's extra or
missing fields do not break the call.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import ssl
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, NamedTuple

import httpx2
import openai

from palaestra.core import (
    ModelError,
    ModelReplyError,
    UserError,
)
from palaestra.models._openai_wire import (
    build_request,
    decode_arguments,
    encode_body,
    message_to_openai,
    parse_response,
    parse_usage,
    tool_to_openai,
)
from palaestra.models._protocol import Attempt, ModelRequest, ModelResponse
from palaestra.models._retry import RetryPolicy, parse_retry_after
from palaestra.models._transport import (
    RESENT_EXTENSION,
    PooledTransport,
    RawResponse,
    Resend,
    note_resend,
    resent_of,
)

__all__ = [
    "OpenAIModel",
    "build_request",
    "decode_arguments",
    "encode_body",
    "message_to_openai",
    "parse_response",
    "parse_usage",
    "tool_to_openai",
]

_PLACEHOLDER_KEY = "EMPTY"
"""Key sent to a local server that needs none (the SDK insists on some key)."""
_OPENAI_URL = "https://api.openai.com/v1"
"""The SDK's default base URL."""
_CHAT_PATH = "chat/completions"
"""The endpoint, relative to the base URL."""
_RETRY_COUNT = "X-Stainless-Retry-Count"


def _env_proxy_for(url: str) -> bool:
    """Whether the environment (HTTPS_PROXY, ALL_PROXY, NO_PROXY...) routes `url` through
    a proxy, as httpx2 would."""
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass(parts.hostname or "")


class _Sent(NamedTuple):
    """What one attempt got back: the status and the (decoded) body (the fields a
    transport's `RawResponse` has too, which the hot path passes on as it is)."""

    status: int
    content: bytes
    resent: Resend | None = None
    """Set when the transport had to send the request twice (see `Resend`)."""


_STATUS_ERRORS: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    403: openai.PermissionDeniedError,
    404: openai.NotFoundError,
    409: openai.ConflictError,
    422: openai.UnprocessableEntityError,
    429: openai.RateLimitError,
}


def status_error(response: httpx2.Response) -> openai.APIStatusError:
    """The exception the SDK's client raises for a 4xx/5xx `response` (read), built from
    the SDK's public exception classes as its client builds it: the class by status,
    ``Error code: N - <the error's message>``, and the reply's `error` object (or the
    whole reply, or its text) as `body`. A test holds it equal to the SDK's own."""
    status = response.status_code
    message = f"Error code: {status}"
    text = response.text.strip()
    body: object = text
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        pass
    else:
        error = body.get("error", body) if isinstance(body, Mapping) else None
        detail = error.get("message") if isinstance(error, Mapping) else None
        if isinstance(detail, str) and detail:
            message += f" - {detail}"
    data = body.get("error", body) if isinstance(body, Mapping) else body
    cls = openai.InternalServerError if status >= 500 else _STATUS_ERRORS.get(status)
    return (cls or openai.APIStatusError)(message, response=response, body=data)


class _DirectPost:
    """`POST /chat/completions` straight to the transport, with what the SDK would send.

    Made once, inside the event loop (the SDK's `X-Stainless-Async` header names the
    running async library), from the SDK client: its URL, its auth and default headers
    merged over the httpx2 client's own (Accept-Encoding, Connection) as httpx2 merges
    them, the SDK's `X-Stainless-Read-Timeout`, and its timeout. The request head is
    encoded here once; an attempt adds its retry count, Content-Length and body and
    hands the bytes to `PooledTransport.send_bytes`. httpx2 request and response objects
    are built only where the SDK needs them: for an error it raises, and to decode a
    compressed body.
    """

    __slots__ = ("_transport", "_url", "_headers", "_timeout", "_key", "_head", "_close")

    def __init__(
        self, sdk: openai.AsyncOpenAI, http: httpx2.AsyncClient, transport: PooledTransport
    ) -> None:
        self._transport = transport
        base = sdk.base_url  # always ends in "/"
        url = self._url = base.copy_with(raw_path=base.raw_path + _CHAT_PATH.encode())
        sdk_headers = {**sdk.auth_headers, **sdk.default_headers}
        headers = httpx2.Headers({"Host": url.netloc.decode("ascii")})
        headers.update(http.headers)
        # Omit() marks a header the SDK leaves out (OpenAI-Organization when unset...).
        headers.update({k: v for k, v in sdk_headers.items() if isinstance(v, str)})
        headers[_RETRY_COUNT] = "0"
        timeout = httpx2.Timeout(sdk.timeout)
        if timeout.read is not None:
            headers["X-Stainless-Read-Timeout"] = str(timeout.read)
        self._headers = headers
        self._timeout = timeout.as_dict()
        scheme = url.raw_scheme
        self._key = (scheme, url.raw_host, url.port or (443 if scheme == b"https" else 80))
        lines = [b"POST " + url.raw_path + b" HTTP/1.1"]
        self._close = False
        for name, value in headers.raw:
            if name.lower() == _RETRY_COUNT.lower().encode():
                continue  # per attempt
            if name.lower() == b"connection" and b"close" in value.lower():
                self._close = True
            lines.append(name + b": " + value)
        self._head = b"\r\n".join(lines) + b"\r\n"

    def _request(self, content: bytes, retries_taken: int) -> httpx2.Request:
        """The attempt as an httpx2 request: what the SDK's exceptions carry."""
        headers = httpx2.Headers(self._headers)
        headers[_RETRY_COUNT] = str(retries_taken)
        headers["Content-Length"] = str(len(content))
        return httpx2.Request(
            "POST",
            self._url,
            headers=headers,
            stream=httpx2.ByteStream(content),
            extensions={"timeout": self._timeout},
        )

    async def post(self, content: bytes, retries_taken: int) -> _Sent | RawResponse:
        """Send one attempt and read its response; raise what the SDK would raise: its
        `APIStatusError` subclass for a 4xx/5xx, `APITimeoutError` for a timeout,
        `APIConnectionError` for any other transport failure."""
        data = b"%s%s: %d\r\nContent-Length: %d\r\n\r\n%s" % (
            self._head,
            _RETRY_COUNT.encode(),
            retries_taken,
            len(content),
            content,
        )
        try:
            sent = await self._transport.send_bytes(
                self._key, data, self._timeout, close=self._close
            )
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request=self._request(content, retries_taken)) from exc
        except (httpx2.RequestError, ssl.SSLError) as exc:
            request = self._request(content, retries_taken)
            raise openai.APIConnectionError(request=request) from exc
        if sent.status < 400 and not any(
            name.lower() == b"content-encoding" for name, _ in sent.headers
        ):
            return sent
        status, reason, headers, body, resent = sent
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1", "reason_phrase": reason}
        if resent is not None:  # so that the SDK's status error carries it too
            extensions[RESENT_EXTENSION] = resent
        response = httpx2.Response(
            status,
            headers=headers,
            stream=httpx2.ByteStream(body),
            request=self._request(content, retries_taken),
            extensions=extensions,
        )
        try:
            await response.aread()  # decodes the Content-Encoding
        except httpx2.DecodingError as exc:
            raise openai.APIConnectionError(request=response.request) from exc
        if status >= 400:
            raise status_error(response)
        return _Sent(status, response.content, resent)


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
        self._transport: PooledTransport | None = None
        if _env_proxy_for(self.base_url or _OPENAI_URL):
            # PooledTransport speaks no proxy: httpx2's own pool does, slower.
            limits = httpx2.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            )
            self._http_client = openai.DefaultAsyncHttpxClient(limits=limits, timeout=timeout)
        else:
            self._transport = PooledTransport(max_connections=max_connections)
            # The SDK's own path (redirects) shares the pool, and closing the client
            # closes it.
            self._http_client = openai.DefaultAsyncHttpxClient(
                transport=self._transport, timeout=timeout
            )
        self._client = openai.AsyncOpenAI(
            api_key=key,
            base_url=self.base_url,
            timeout=timeout,
            max_retries=0,
            http_client=self._http_client,
        )
        self._direct: _DirectPost | None = None
        """Made on the first call, in the event loop; stays None behind a proxy."""

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
        content = encode_body(body)
        direct = self._direct
        if direct is None and self._transport is not None:
            direct = self._direct = _DirectPost(self._client, self._http_client, self._transport)
        rng: random.Random | None = None  # made on the first retry: most calls need none
        failed: list[Attempt] = []
        for number in range(1, self.retry.max_attempts + 1):
            start = time.monotonic()
            try:
                if direct is not None:
                    sent = await direct.post(content, number - 1)
                    if sent.status >= 300:  # a redirect: the SDK's client follows it
                        sent = await self._sdk_post(content, number - 1)
                else:
                    sent = await self._sdk_post(content, number - 1)
                try:
                    response = parse_response(sent.content)
                except ModelReplyError as exc:
                    note_resend(exc, sent.resent)
                    raise
            except (openai.APIError, ModelReplyError) as exc:
                resent = resent_of(exc)
                if resent is not None:  # the transport's re-send: its first send too
                    failed.append(_resend_attempt(resent, start))
                    start = resent.failed_at
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
            if sent.resent is not None:
                failed.append(_resend_attempt(sent.resent, start))
                start = sent.resent.failed_at
            response.latency_s = time.monotonic() - start
            response.failed_attempts = failed
            return response
        raise AssertionError("unreachable: the loop returns or raises")

    async def _sdk_post(self, content: bytes, retries_taken: int) -> _Sent:
        """One attempt through the SDK's whole request pipeline (proxies, redirects)."""
        options: Any = {
            "headers": {_RETRY_COUNT: str(retries_taken)},
            "security": {"bearer_auth": True},  # as `chat.completions.create` asks
        }
        response = await self._client.post(
            "/" + _CHAT_PATH, content=content, options=options, cast_to=httpx2.Response
        )
        return _Sent(response.status_code, response.content, resent_of(response))

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


def _resend_attempt(resent: Resend, start: float) -> Attempt:
    """The first send of a request the transport sent twice, as a failed attempt."""
    error = f"connection error: {resent.error}; sent again at once on a new connection"
    return Attempt(error, max(0.0, resent.failed_at - start), 0.0, None, resent=True)


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
