"""Environments out of process: an HTTP environment server with AgentGym's verbs, and a
client that the runner uses like a local environment.

```
palaestra serve-env graph.coloring --port 8000          # one process (or machine)
```
```yaml
jobs:                                                    # another one
  - env: remote.http
    params: {url: "http://127.0.0.1:8000", env: graph.coloring}
```

- `create_app(env_id, params)`: the FastAPI app (verbs, fields and errors in
  `palaestra.envs.remote._wire` and `_server`); `serve(...)` runs it in the foreground,
  `EnvServer` in a background thread.
- `HttpEnvironment(base_url, *, timeout, retries, token)`: the client, an `Environment`
  (it sends `$PALAESTRA_ENV_TOKEN` as a bearer token unless given one).
- ``remote.http`` (registered on import): builds an `HttpEnvironment` from `RemoteParams`;
  its baseline is the served environment's.

Importing this package loads neither httpx, FastAPI nor uvicorn; each loads on first use
of a name that needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from palaestra.envs._registry import EnvSpec, register
from palaestra.envs.remote._spec import RemoteParams, make_remote, remote_baseline

if TYPE_CHECKING:
    from palaestra.envs.remote._client import HttpEnvironment, RemoteEnvError, fetch_health
    from palaestra.envs.remote._serve import EnvServer, loopback_url, serve, token_from_env
    from palaestra.envs.remote._server import create_app

register(
    EnvSpec(
        id="remote.http",
        factory=make_remote,
        params=RemoteParams,
        description=(
            "an environment served over HTTP by `palaestra serve-env` (AgentGym's verbs); "
            "baseline: the served env's. Without url: served from a thread of this process"
        ),
        baseline=remote_baseline,
    )
)

_LAZY = {
    "HttpEnvironment": "palaestra.envs.remote._client",
    "RemoteEnvError": "palaestra.envs.remote._client",
    "fetch_health": "palaestra.envs.remote._client",
    "create_app": "palaestra.envs.remote._server",
    "EnvServer": "palaestra.envs.remote._serve",
    "loopback_url": "palaestra.envs.remote._serve",
    "serve": "palaestra.envs.remote._serve",
    "token_from_env": "palaestra.envs.remote._serve",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "EnvServer",
    "HttpEnvironment",
    "RemoteEnvError",
    "RemoteParams",
    "create_app",
    "fetch_health",
    "loopback_url",
    "make_remote",
    "remote_baseline",
    "serve",
    "token_from_env",
]
