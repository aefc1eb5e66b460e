"""`HttpEnvironment`: a palaestra `Environment` whose instance lives in an environment
server (``palaestra serve-env``), so the runner uses a remote environment like a local one.

Life of one client: the first ``reset`` creates a remote instance (``POST /create``, with
``params`` when given, checking that the server serves ``env``) and resets it; ``step``
posts the actions. When a step ends the episode, its response carries the score, and the
client closes the remote instance and its connections at once (the next ``reset`` makes a
new one), so an episode that ends on its own leaves nothing open. An episode the runtime
ends (a step limit, a budget, an error) ends on the server too: ``end_episode()`` posts
``POST /end``. The served environment's events (``drain_events()``: an ``isolation:
none`` warning, a workspace's manifest) come back with ``reset``, ``step`` and ``end``
and are handed on by this client's ``drain_events()``. ``aclose()`` releases
everything at any time; the server closes instances left idle for its idle timeout.

`agents`, `tasks()` and `score()` are synchronous in the `Environment` protocol:
``agents`` comes from the last create/reset response (empty before the first reset),
``tasks()`` makes one blocking request and is cached, and ``score()`` is the cached score
of a finished episode, else one blocking ``GET /score``.

Retries: every request is retried with exponential backoff when the server answers 503
(honouring ``Retry-After``) or cannot be connected to; requests that are safe to repeat
(everything but ``create`` and ``step``) are also retried after a broken connection or a
read timeout. What still fails raises `RemoteEnvError` (4xx/5xx, unreachable server)
or `UserError` (400/422: bad parameters, an unknown task; 401/421: a missing or wrong
token, a host name the server does not answer to), naming the URL and the verb.

Every request carries the ``Host`` of `base_url` (httpx's default, which the server's
`WebGuard` checks) and, when the client has a token (`token`, else
``$PALAESTRA_ENV_TOKEN``), ``Authorization: Bearer TOKEN``.
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import time
import weakref
from dataclasses import dataclass
from typing import Any

import httpx

from palaestra.core import Action, Observation, PalaestraError, Payload, UserError
from palaestra.envs._protocol import Score, Step
from palaestra.envs.remote._wire import (
    TOKEN_ENV,
    dump_actions,
    load_events,
    load_observations,
    load_score,
    load_step,
)

_MAX_WAIT_S = 5.0
"""Longest single wait between two attempts (a larger Retry-After is cut to this)."""
_SAFE_TO_REPEAT = {"GET /", "GET /observation", "GET /tasks", "GET /score", "GET /agents"}
_SAFE_TO_REPEAT |= {"POST /reset", "POST /close"}


class RemoteEnvError(PalaestraError):
    """An environment server failed, or could not be reached after the retries.

    `url` is the server's base URL, `verb` the request (``POST /step``), `status` the
    HTTP status (None when no response came back).
    """

    def __init__(self, message: str, *, url: str, verb: str, status: int | None = None):
        super().__init__(message)
        self.url = url
        self.verb = verb
        self.status = status


_SSL: ssl.SSLContext | None = None


def _ssl_context() -> ssl.SSLContext:
    # Building the default context loads the CA bundle (milliseconds); one per process.
    global _SSL
    if _SSL is None:
        _SSL = httpx.create_ssl_context()
    return _SSL


class HttpEnvironment:
    """An `Environment` served by a palaestra environment server at `base_url`.

    `env`: the environment id the server must serve (checked on create; None accepts
    any). `params`: parameters of the remote instance (None: the server's own).
    `timeout`: seconds per request. `retries`: further attempts after a failed one
    (see the module docstring for which failures are retried). `backoff_s`: the first
    wait; it doubles with every attempt, up to 5 s. `token`: the server's token, sent as
    ``Authorization: Bearer``; None reads ``$PALAESTRA_ENV_TOKEN`` (unset: no header),
    ``""`` sends none.
    """

    def __init__(
        self,
        base_url: str,
        *,
        env: str | None = None,
        params: dict[str, Any] | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        backoff_s: float = 0.1,
        token: str | None = None,
    ):
        if not base_url.startswith(("http://", "https://")):
            raise UserError(f"expected an http:// or https:// URL for the server, got {base_url!r}")
        if retries < 0:
            raise UserError(f"retries must be >= 0, got {retries}")
        self.base_url = base_url.rstrip("/")
        self.env = env
        self.params = params
        self.timeout = timeout
        self.retries = retries
        self.backoff_s = backoff_s
        if token is None:
            token = os.environ.get(TOKEN_ENV, "")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._live = _Live()
        self._agents: list[str] = []
        self._target: Any = None
        self._tasks: list[str] | None = None
        self._final: Score | None = None
        self._events: list[Payload] = []
        # a client dropped without aclose() (the runner builds one per episode and never
        # closes it) still releases its instance and connections
        weakref.finalize(self, _release_when_collected, self._live).atexit = False

    def __repr__(self) -> str:
        return f"HttpEnvironment({self.base_url!r}, env={self.env!r}, env_idx={self._live.idx})"

    @property
    def env_idx(self) -> int | None:
        """Id of the remote instance in use (None before the first reset or after close)."""
        return self._live.idx

    # -- the Environment protocol ----------------------------------------------------------

    @property
    def agents(self) -> list[str]:
        return list(self._agents)

    def tasks(self) -> list[str]:
        if self._tasks is None:
            query: dict[str, str] = {}
            if self.params is not None:
                query["params"] = json.dumps(self.params)
            self._tasks = list(self._request_sync("GET", "/tasks", params=query)["tasks"])
        return list(self._tasks)

    async def reset(self, seed: int, task: str | None = None) -> dict[str, Observation]:
        self._final = None
        if self._live.idx is None:
            await self._create()
        body = {"seed": seed, "task": task}
        try:
            data = await self._request("POST", "/reset", json={"env_idx": self._live.idx, **body})
        except RemoteEnvError as exc:
            if exc.status != 404:
                raise
            # the server closed our idle instance: start over on a new one
            await self._create()
            data = await self._request("POST", "/reset", json={"env_idx": self._live.idx, **body})
        self._agents = list(data.get("agents") or self._agents)
        self._target = data.get("target")
        observations = load_observations(data["observations"])
        self._events = self._load_events(data, "POST /reset")
        return observations

    def task_target(self) -> Any:
        """The served environment's target for the current task (what scorers compare
        with), as the server's reset reported it; None when it has none."""
        return self._target

    async def step(self, actions: dict[str, Action]) -> Step:
        if self._live.idx is None:
            raise RemoteEnvError(
                f"remote environment {self.base_url}: POST /step before reset",
                url=self.base_url,
                verb="POST /step",
            )
        data = await self._request(
            "POST", "/step", json={"env_idx": self._live.idx, "actions": dump_actions(actions)}
        )
        step = load_step(data)
        self._events += self._load_events(data, "POST /step")
        if step.terminated or step.truncated:
            if "score" in data:
                self._final = load_score(data["score"])
                await self.aclose()  # the episode is over: release the remote instance
        return step

    def drain_events(self) -> list[Payload]:
        """The served environment's events since the last call (see the module doc)."""
        events, self._events = self._events, []
        return events

    async def end_episode(self) -> None:
        """End the episode on the server (``POST /end``: its environment's
        ``end_episode()``) and keep its events for `drain_events`. Nothing to do once
        the instance is released (an episode that ended on its own), or for a server
        without the verb (404: an older one, or an instance it closed)."""
        if self._live.idx is None:
            return
        try:
            data = await self._request("POST", "/end", json={"env_idx": self._live.idx})
        except RemoteEnvError as exc:
            if exc.status == 404:
                return
            raise
        self._events += self._load_events(data, "POST /end")

    def _load_events(self, data: dict[str, Any], verb: str) -> list[Payload]:
        try:
            return load_events(data.get("events"))
        except ValueError as exc:  # pydantic's ValidationError is one too
            raise RemoteEnvError(
                f"remote environment {self.base_url}: {verb} answered events that are not "
                f"valid: {exc}",
                url=self.base_url,
                verb=verb,
            ) from None

    def score(self) -> Score:
        if self._final is not None:
            return self._final
        if self._live.idx is None:
            raise RemoteEnvError(
                f"remote environment {self.base_url}: GET /score with no episode; reset first",
                url=self.base_url,
                verb="GET /score",
            )
        return load_score(
            self._request_sync("GET", "/score", params={"env_idx": str(self._live.idx)})
        )

    # -- more verbs --------------------------------------------------------------------------

    async def observation(self) -> dict[str, Observation]:
        """The latest observations of the running episode (``GET /observation``)."""
        if self._live.idx is None:
            raise RemoteEnvError(
                f"remote environment {self.base_url}: GET /observation with no live instance",
                url=self.base_url,
                verb="GET /observation",
            )
        data = await self._request("GET", "/observation", params={"env_idx": str(self._live.idx)})
        return load_observations(data["observations"])

    async def health(self) -> dict[str, Any]:
        """The server's ``GET /``: its env id, parameters and live instance count."""
        result: dict[str, Any] = await self._request("GET", "/")
        return result

    async def aclose(self) -> None:
        """Close the remote instance (if any) and this client's connections."""
        idx, client, loop = self._live.idx, self._live.client, self._live.loop
        self._live.idx = self._live.client = None
        if client is not None and loop is asyncio.get_running_loop():
            await _release(client, idx)

    async def __aenter__(self) -> HttpEnvironment:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- requests ------------------------------------------------------------------------------

    async def _create(self) -> None:
        body = {"params": self.params} if self.params is not None else None
        data = await self._request("POST", "/create", json=body)
        self._live.idx = int(data["env_idx"])
        self._agents = list(data.get("agents") or [])
        served = data.get("env")
        if self.env is not None and served != self.env:
            await self.aclose()
            raise UserError(
                f"the environment server at {self.base_url} serves {served!r}, not "
                f"{self.env!r}; start it with `palaestra serve-env {self.env}` or fix `env`"
            )

    def _async_client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._live.client is None or self._live.loop is not loop:
            # a client is bound to the loop it first ran in (e.g. one per asyncio.run)
            self._live.client = httpx.AsyncClient(
                base_url=self.base_url,
                timeout=self.timeout,
                verify=_ssl_context(),
                headers=self._headers,
            )
            self._live.loop = loop
        return self._live.client

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        verb = f"{method} {path}"
        client = self._async_client()
        failures: list[str] = []
        for attempt in range(self.retries + 1):
            try:
                response = await client.request(method, path, json=json, params=params)
            except httpx.TransportError as exc:
                failures.append(_describe(exc))
                if not _retryable(exc, verb) or attempt == self.retries:
                    raise self._unreachable(verb, failures) from exc
                await asyncio.sleep(self._wait(attempt, None))
                continue
            if response.status_code == 503 and attempt < self.retries:
                failures.append("HTTP 503")
                await asyncio.sleep(self._wait(attempt, response))
                continue
            return self._decode(verb, response)
        raise AssertionError("unreachable")

    def _request_sync(self, method: str, path: str, *, params: dict[str, str]) -> Any:
        verb = f"{method} {path}"
        failures: list[str] = []
        with httpx.Client(
            base_url=self.base_url,
            timeout=self.timeout,
            verify=_ssl_context(),
            headers=self._headers,
        ) as client:
            for attempt in range(self.retries + 1):
                try:
                    response = client.request(method, path, params=params)
                except httpx.TransportError as exc:
                    failures.append(_describe(exc))
                    if not _retryable(exc, verb) or attempt == self.retries:
                        raise self._unreachable(verb, failures) from exc
                    time.sleep(self._wait(attempt, None))
                    continue
                if response.status_code == 503 and attempt < self.retries:
                    failures.append("HTTP 503")
                    time.sleep(self._wait(attempt, response))
                    continue
                return self._decode(verb, response)
        raise AssertionError("unreachable")

    def _wait(self, attempt: int, response: httpx.Response | None) -> float:
        wait = self.backoff_s * (2**attempt)
        if response is not None:
            try:
                wait = float(response.headers.get("retry-after", wait))
            except ValueError:
                pass
        return max(0.0, min(wait, _MAX_WAIT_S))

    def _decode(self, verb: str, response: httpx.Response) -> Any:
        status = response.status_code
        try:
            data = response.json()
        except ValueError:
            data = None
        if 200 <= status < 300 and data is not None:
            return data
        error = data.get("error") if isinstance(data, dict) else None
        error = error or (data.get("detail") if isinstance(data, dict) else None)
        detail = error or response.text[:300] or response.reason_phrase
        message = f"remote environment {self.base_url}: {verb} failed: HTTP {status}: {detail}"
        if status == 401:
            message += f" (set the server's token in ${TOKEN_ENV}, or `token` of the client)"
        if status in (400, 401, 421, 422):
            raise UserError(message)
        raise RemoteEnvError(message, url=self.base_url, verb=verb, status=status)

    def _unreachable(self, verb: str, failures: list[str]) -> RemoteEnvError:
        tries = f" after {len(failures)} attempts" if len(failures) > 1 else ""
        return RemoteEnvError(
            f"remote environment {self.base_url}: {verb} failed{tries}: {failures[-1]}; "
            f"is `palaestra serve-env` running at {self.base_url}?",
            url=self.base_url,
            verb=verb,
        )


@dataclass
class _Live:
    """What a client holds open: its remote instance and its connections (per loop)."""

    idx: int | None = None
    client: httpx.AsyncClient | None = None
    loop: asyncio.AbstractEventLoop | None = None


_RELEASING: set[asyncio.Task[None]] = set()


async def _release(client: httpx.AsyncClient, idx: int | None) -> None:
    try:
        if idx is not None:
            try:
                await client.post("/close", json={"env_idx": idx})
            except httpx.HTTPError:
                pass  # the server's idle timeout closes it
    finally:
        await client.aclose()


def _release_when_collected(live: _Live) -> None:
    client, loop = live.client, live.loop
    if client is None or loop is None or loop.is_closed():
        return  # nothing open, or its loop is gone: the server's idle timeout closes it

    def spawn() -> None:
        task = asyncio.ensure_future(_release(client, live.idx))
        _RELEASING.add(task)
        task.add_done_callback(_RELEASING.discard)

    try:
        loop.call_soon_threadsafe(spawn)
    except RuntimeError:  # closed meanwhile
        pass


def _retryable(exc: httpx.TransportError, verb: str) -> bool:
    # nothing reached the server: always safe; otherwise only for repeatable verbs
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return True
    return verb in _SAFE_TO_REPEAT


def _describe(exc: httpx.TransportError) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def fetch_health(
    base_url: str, *, timeout: float = 10.0, retries: int = 4, token: str | None = None
) -> dict[str, Any]:
    """The server's ``GET /`` (blocking): ``{status, env, params, ...}``."""
    client = HttpEnvironment(base_url, timeout=timeout, retries=retries, token=token)
    result: dict[str, Any] = client._request_sync("GET", "/", params={})
    return result
