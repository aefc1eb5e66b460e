"""The environment server: any registered environment over HTTP, with AgentGym's verbs.

`create_app(env_id, params)` returns a FastAPI app; `palaestra serve-env ENV_ID` runs it
with uvicorn on 127.0.0.1. Each ``POST /create`` builds a fresh instance from the
registry (with the server's parameters, or those in the request body) and answers its
``env_idx``; the other verbs act on one instance (see `palaestra.envs.remote._wire` for
the request and response fields).

Limits and errors (every error is JSON ``{"error": message}``):

- at most ``max_instances`` live instances: a create beyond that first closes instances
  idle for longer than ``idle_timeout_s``, then answers 503 with ``Retry-After: 1``;
  instances idle longer than ``idle_timeout_s`` are also closed by a periodic sweep;
- unknown ``env_idx`` → 404 naming it; a request body or query that does not validate
  (a bad action field, a missing ``env_idx``, bad parameters in a create) → 422 naming
  the field; an unknown task or another `UserError` of the environment → 400;
- ``step`` before ``reset``, or after the episode ended → 409;
- an exception raised by the environment → 500 with its type and message. The instance is
  **kept** (it may still be inspected, reset or closed) but its episode counts as over:
  further ``step`` calls get 409 until the next ``reset``, because the state an
  environment leaves behind after raising is unknown.

Calls on one instance are serialised (an `asyncio.Lock` each); different instances run
concurrently on the server's event loop.

Before any verb, `palaestra._webguard.WebGuard` checks the request: a ``Host`` that does
not name this server → 421, another site's ``Origin`` → 403 (so a web page can neither
rebind its domain to the server nor post to it), and, when the server has a token, a
request without ``Authorization: Bearer TOKEN`` → 401. Every body and query is bounded:
a body over `MAX_BODY` bytes → 413, integers beyond 2**63 - 1 → 422.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from palaestra._webguard import GuardPolicy, WebGuard
from palaestra.core import Action, Observation, UserError, release
from palaestra.envs._protocol import Environment, SupportsDrainEvents, SupportsEndEpisode
from palaestra.envs._registry import get_spec
from palaestra.envs.remote._wire import (
    ENV_EVENT_KINDS,
    CloseRequest,
    CreateRequest,
    ResetRequest,
    StepRequest,
    dump_events,
    dump_observations,
    dump_score,
    dump_step,
    state_text,
)

DEFAULT_MAX_INSTANCES = 256
DEFAULT_IDLE_TIMEOUT_S = 600.0
MAX_BODY = 16 * 2**20
"""Largest request body (bytes) the server reads; a larger one is a 413."""
MAX_PARAMS_QUERY = 65536
"""Longest ``GET /tasks?params=`` JSON (characters)."""


class _ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


@dataclass
class _Instance:
    idx: int
    env: Environment
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    last_used: float = field(default_factory=time.monotonic)
    observations: dict[str, Observation] | None = None
    """Latest observations; None before the first reset."""
    over: str | None = "not reset"
    """Why `step` is refused now (None while an episode runs)."""


class _Pool:
    """The live instances of one server."""

    def __init__(self, env_id: str, params: dict[str, Any], max_instances: int, idle_s: float):
        self.spec = get_spec(env_id)
        self.params = self.spec.validate(params)
        self.max_instances = max_instances
        self.idle_s = idle_s
        self.instances: dict[int, _Instance] = {}
        self._next = 0
        self._tasks: list[str] | None = None

    def get(self, idx: int) -> _Instance:
        instance = self.instances.get(idx)
        if instance is None:
            raise _ApiError(
                404,
                f"no environment instance with env_idx {idx} on this server (never created, "
                f"closed, or closed after {self.idle_s:g} s idle); POST /create makes one",
            )
        instance.last_used = time.monotonic()
        return instance

    def validated(self, params: dict[str, Any] | None) -> Any:
        if params is None:
            return self.params
        try:
            return self.spec.validate(params)
        except UserError as exc:
            raise _ApiError(422, str(exc)) from None

    async def create(self, params: dict[str, Any] | None) -> _Instance:
        validated = self.validated(params)
        if len(self.instances) >= self.max_instances:
            await self.reap()
        if len(self.instances) >= self.max_instances:
            raise _ApiError(
                503,
                f"server full: {len(self.instances)} live instances (max_instances="
                f"{self.max_instances}); close instances with POST /close or retry later",
                headers={"Retry-After": "1"},
            )
        env = _call_env("build", lambda: self.spec.factory(validated))
        idx = self._next
        self._next += 1
        instance = self.instances[idx] = _Instance(idx, env)
        return instance

    def tasks(self, params: dict[str, Any] | None) -> list[str]:
        if params is None:
            if self._tasks is None:
                env = _call_env("build", lambda: self.spec.factory(self.params))
                self._tasks = list(_call_env("tasks", env.tasks))
            return self._tasks
        validated = self.validated(params)
        env = _call_env("build", lambda: self.spec.factory(validated))
        return list(_call_env("tasks", env.tasks))

    async def close(self, idx: int) -> None:
        instance = self.instances.pop(idx, None)
        if instance is not None:
            await _close_env(instance.env)

    async def reap(self) -> int:
        """Close the instances idle for longer than the idle timeout; how many."""
        now = time.monotonic()
        stale = [
            i.idx
            for i in self.instances.values()
            if now - i.last_used > self.idle_s and not i.lock.locked()
        ]
        for idx in stale:
            await self.close(idx)
        return len(stale)

    async def close_all(self) -> None:
        for idx in list(self.instances):
            await self.close(idx)


def create_app(
    env_id: str,
    params: dict[str, Any] | None = None,
    *,
    max_instances: int = DEFAULT_MAX_INSTANCES,
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
    allow_hosts: Iterable[str] = (),
    bound_host: str | None = None,
    token: str | None = None,
) -> FastAPI:
    """A FastAPI app serving `env_id` (a registered id) built with `params`.

    `allow_hosts`, `bound_host` and `token` configure its `WebGuard` (the ``Host`` names
    it answers besides IP addresses and localhost, the address it is bound to, the bearer
    token every request must carry). Raises `UserError` now for an unknown id, bad
    parameters or bad guard options, so a server never starts with a configuration that
    every request would refuse.
    """
    if max_instances < 1:
        raise UserError(f"max_instances must be >= 1, got {max_instances}")
    if idle_timeout_s <= 0:
        raise UserError(f"idle_timeout_s must be > 0, got {idle_timeout_s}")
    policy = GuardPolicy(
        allow_hosts=allow_hosts,
        bound_host=bound_host,
        token=token,
        error_key="error",
        max_body=MAX_BODY,
    )
    pool = _Pool(env_id, dict(params or {}), max_instances, idle_timeout_s)
    params_json = pool.params.model_dump(mode="json")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async def sweep() -> None:
            while True:
                await asyncio.sleep(min(idle_timeout_s / 2, 30.0))
                await pool.reap()

        sweeper = asyncio.create_task(sweep())
        try:
            yield
        finally:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
            await pool.close_all()

    app = FastAPI(
        title=f"palaestra environment server: {env_id}",
        description=pool.spec.description,
        lifespan=lifespan,
    )
    app.state.pool = pool
    app.add_middleware(WebGuard, policy=policy)

    @app.exception_handler(_ApiError)
    async def _api_error(request: Request, exc: _ApiError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p != "body"]
            problems.append(f"{'.'.join(loc) or '(body)'}: {err.get('msg', 'invalid')}")
        message = f"invalid request to {request.method} {request.url.path}: " + "; ".join(problems)
        return JSONResponse({"error": message}, status_code=422)

    @app.get("/")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "env": env_id,
            "params": params_json,
            "instances": len(pool.instances),
            "max_instances": max_instances,
            "idle_timeout_s": idle_timeout_s,
        }

    @app.post("/create")
    async def create(body: CreateRequest | None = None) -> dict[str, Any]:
        instance = await pool.create(body.params if body is not None else None)
        agents = _agents(instance.env)
        return {"id": instance.idx, "env_idx": instance.idx, "env": env_id, "agents": agents}

    @app.post("/reset")
    async def reset(body: ResetRequest) -> JSONResponse:
        instance = pool.get(body.env_idx)
        async with instance.lock:
            task = body.task
            if body.data_idx is not None:
                tasks = _call_env("tasks", instance.env.tasks)
                if body.data_idx >= len(tasks):
                    raise _ApiError(
                        400, f"data_idx {body.data_idx} out of range: {len(tasks)} tasks"
                    )
                task = tasks[body.data_idx]
            instance.over = "reset failed"
            observations = await _await_env("reset", instance.env.reset(body.seed, task))
            instance.observations = observations
            instance.over = None
            agents = _agents(instance.env)
            reply = {
                "observations": dump_observations(observations),
                "agents": agents,
                "events": _drain(instance.env),
            }
            target = getattr(instance.env, "task_target", None)
            if callable(target):  # what scorers compare with (optional in the protocol)
                reply["target"] = _call_env("task_target", target)
            return JSONResponse(reply)

    @app.post("/step")
    async def step(body: StepRequest) -> JSONResponse:
        instance = pool.get(body.env_idx)
        async with instance.lock:
            actions = _actions(body, instance)
            if instance.over is not None:
                raise _ApiError(
                    409,
                    f"env_idx {body.env_idx} has no running episode ({instance.over}); "
                    "POST /reset first",
                )
            instance.over = "the last step raised"
            result = await _await_env("step", instance.env.step(actions))
            instance.observations = result.observations
            out = dump_step(result)
            out["events"] = _drain(instance.env)
            if result.terminated or result.truncated:
                instance.over = "terminated" if result.terminated else "truncated"
                try:
                    out["score"] = dump_score(instance.env.score())
                except Exception as exc:  # the client asks GET /score, which reports it
                    out["score_error"] = f"{type(exc).__name__}: {exc}"
            else:
                instance.over = None
            return JSONResponse(out)

    @app.post("/end")
    async def end(body: CloseRequest) -> JSONResponse:
        instance = pool.get(body.env_idx)
        async with instance.lock:
            env = instance.env
            if instance.observations is not None and isinstance(env, SupportsEndEpisode):
                instance.over = "ended"
                await _await_env("end_episode", _maybe_await(env.end_episode()))
            return JSONResponse({"events": _drain(instance.env)})

    @app.get("/observation")
    async def observation(env_idx: int) -> dict[str, Any]:
        instance = pool.get(env_idx)
        observations = instance.observations
        if observations is None:
            raise _ApiError(409, f"env_idx {env_idx} has not been reset; POST /reset first")
        return {"observations": dump_observations(observations), "state": state_text(observations)}

    @app.post("/close")
    async def close(body: CloseRequest) -> dict[str, Any]:
        pool.get(body.env_idx)
        await pool.close(body.env_idx)
        return {"closed": body.env_idx}

    @app.get("/tasks")
    async def tasks(env_idx: int | None = None, params: str | None = None) -> dict[str, Any]:
        if env_idx is not None:
            return {"tasks": list(_call_env("tasks", pool.get(env_idx).env.tasks))}
        parsed: dict[str, Any] | None = None
        if params is not None:
            if len(params) > MAX_PARAMS_QUERY:
                raise _ApiError(
                    422, f"query parameter params: at most {MAX_PARAMS_QUERY} characters"
                )
            try:
                parsed = json.loads(params)
            except (json.JSONDecodeError, RecursionError) as exc:
                raise _ApiError(422, f"query parameter params: not JSON ({exc})") from None
            if not isinstance(parsed, dict):
                raise _ApiError(422, "query parameter params: expected a JSON object")
        return {"tasks": pool.tasks(parsed)}

    @app.get("/score")
    async def score(env_idx: int) -> dict[str, Any]:
        instance = pool.get(env_idx)
        async with instance.lock:
            if instance.observations is None:
                raise _ApiError(409, f"env_idx {env_idx} has not been reset; POST /reset first")
            return dump_score(_call_env("score", instance.env.score))

    @app.get("/agents")
    async def agents(env_idx: int) -> dict[str, Any]:
        return {"agents": _agents(pool.get(env_idx).env)}

    return app


def _actions(body: StepRequest, instance: _Instance) -> dict[str, Action]:
    if (body.actions is None) == (body.action is None):
        raise _ApiError(
            422,
            "invalid request to POST /step: give exactly one of actions "
            "({agent: Action}) or action (a string, single-agent environments)",
        )
    if body.actions is not None:
        return body.actions
    agents = _agents(instance.env)
    if len(agents) != 1:
        raise _ApiError(
            422,
            f"invalid request to POST /step: action (a string) needs a single-agent "
            f"environment; this one has agents {agents}: send actions ({{agent: Action}})",
        )
    return {agents[0]: Action(text=body.action)}


def _drain(env: Environment) -> list[dict[str, Any]]:
    """What the environment's optional ``drain_events()`` hands over, for the client (the
    kinds of `ENV_EVENT_KINDS`; others are not the environment's to report)."""
    if not isinstance(env, SupportsDrainEvents):
        return []
    events = _call_env("drain_events", env.drain_events)
    return dump_events([e for e in events if e.kind in ENV_EVENT_KINDS])


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def _agents(env: Environment) -> list[str]:
    return list(_call_env("agents", lambda: env.agents))


def _call_env(verb: str, fn: Any) -> Any:
    try:
        return fn()
    except UserError as exc:
        raise _ApiError(400, str(exc)) from None
    except Exception as exc:
        raise _ApiError(500, f"environment {verb} raised {type(exc).__name__}: {exc}") from None


async def _await_env(verb: str, awaitable: Any) -> Any:
    try:
        return await awaitable
    except UserError as exc:
        raise _ApiError(400, str(exc)) from None
    except Exception as exc:
        raise _ApiError(500, f"environment {verb} raised {type(exc).__name__}: {exc}") from None


async def _close_env(env: Environment) -> None:
    with contextlib.suppress(Exception):
        await release(env)
