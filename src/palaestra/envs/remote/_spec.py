"""``remote.http``: the registered id under which the runner uses a served environment.

```yaml
jobs:
  - env: remote.http
    params: {url: "http://127.0.0.1:8000", env: graph.coloring}
    operator: baseline      # the baseline of the served env, built here
```

Its baseline is the registered baseline of the environment the server serves (found by
``env``, else by the server's ``GET /``), built with the remote instance's parameters,
so a job runs the same operators against a served env as against the local one.

Without ``url`` it serves ``env`` (default ``graph.coloring``) from a server thread of
this process: every reset, step and score still crosses HTTP, which makes
``remote.http`` with no parameters a self-contained check of the wire.

This module imports neither httpx nor FastAPI: they load when an environment is built.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from palaestra.core import Operator, UserError
from palaestra.envs._protocol import Environment
from palaestra.envs._registry import get_spec
from palaestra.envs.remote._wire import TOKEN_ENV

LOOPBACK_DEFAULT_ENV = "graph.coloring"


class RemoteParams(BaseModel):
    """Parameters of ``remote.http``."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(
        default=None,
        description=(
            "base URL of a `palaestra serve-env` server, e.g. http://127.0.0.1:8000; "
            "unset: serve `env` from a server thread of this process"
        ),
    )
    env: str | None = Field(
        default=None,
        description=(
            "env id the server must serve (checked on create); unset: whatever it serves "
            f"(with a url), {LOOPBACK_DEFAULT_ENV} (without)"
        ),
    )
    params: dict[str, Any] | None = Field(
        default=None, description="parameters of the remote instances; unset: the server's own"
    )
    timeout_s: float = Field(default=30.0, gt=0, description="seconds per HTTP request")
    retries: int = Field(
        default=4, ge=0, le=100, description="retries on 503 and connection errors"
    )
    token_env: str = Field(
        default=TOKEN_ENV,
        min_length=1,
        description=(
            "environment variable holding the server's token (sent as Authorization: "
            "Bearer; unset or empty: no token). The token itself never goes in the "
            "config, which the store records"
        ),
    )

    def token(self) -> str:
        """The token in `token_env` ("" when unset)."""
        return os.environ.get(self.token_env, "")

    _served: tuple[str, dict[str, Any]] | None = PrivateAttr(default=None)
    _baseline: tuple[Any, Any] | None = PrivateAttr(default=None)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/") if value else value

    def served(self) -> tuple[str, dict[str, Any]]:
        """(env id, parameters) of the remote instances (asks the server once)."""
        if self._served is None:
            if self.url is None:
                self._served = (self.env or LOOPBACK_DEFAULT_ENV, dict(self.params or {}))
            else:
                from palaestra.envs.remote._client import fetch_health

                health = fetch_health(
                    self.url, timeout=self.timeout_s, retries=self.retries, token=self.token()
                )
                env_id = str(health.get("env", ""))
                if self.env is not None and env_id != self.env:
                    raise UserError(
                        f"the environment server at {self.url} serves {env_id!r}, not "
                        f"{self.env!r}; start it with `palaestra serve-env {self.env}` or fix env"
                    )
                params = self.params if self.params is not None else health.get("params", {})
                self._served = (env_id, dict(params or {}))
        return self._served


def make_remote(params: RemoteParams) -> Environment:
    """The ``remote.http`` factory: an `HttpEnvironment` (no request is made yet)."""
    from palaestra.envs.remote._client import HttpEnvironment

    if params.url is None:
        from palaestra.envs.remote._serve import loopback_url

        env_id = params.env or LOOPBACK_DEFAULT_ENV
        get_spec(env_id).validate(params.params or {})  # a UserError before any thread
        return HttpEnvironment(
            loopback_url(env_id, params.params),
            env=env_id,
            timeout=params.timeout_s,
            retries=params.retries,
            token="",  # this process's own server has no token
        )
    return HttpEnvironment(
        params.url,
        env=params.env,
        params=params.params,
        timeout=params.timeout_s,
        retries=params.retries,
        token=params.token(),
    )


def remote_baseline(params: RemoteParams, agent: str) -> Operator:
    """The served environment's registered baseline for `agent`."""
    if params._baseline is None:
        env_id, env_params = params.served()
        spec = get_spec(env_id)
        if spec.baseline is None:
            raise UserError(
                f"environment {env_id!r} (served at {params.url or 'this process'}) has no "
                "baseline operator; use `operator: {kind: llm, ...}` or another kind"
            )
        params._baseline = (spec.baseline, spec.validate(env_params))
    baseline, validated = params._baseline
    operator: Operator = baseline(validated, agent)
    return operator
