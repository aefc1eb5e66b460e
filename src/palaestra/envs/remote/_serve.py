"""Running the environment server: in the foreground (``palaestra serve-env``), or in a
background thread of this process (`EnvServer`: tests, notebooks, and the loopback mode
of ``remote.http``).

Both bind their socket before uvicorn starts, so port 0 picks a free port with no race
and `EnvServer.url` / the printed URL name the port actually bound. Both answer only
requests whose ``Host`` names the server (`allow_hosts` widens that) and, given a
`token`, only requests that carry it as ``Authorization: Bearer`` (see
`palaestra._webguard`).
"""

from __future__ import annotations

import atexit
import json
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from palaestra._asgi import ThreadServer, bind, run_forever, url_of
from palaestra.envs.remote._server import (
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_MAX_INSTANCES,
    create_app,
)
from palaestra.envs.remote._wire import TOKEN_ENV

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
_BACKLOG = 2048  # many clients (episodes) connect at once


def token_from_env() -> str | None:
    """The token in `TOKEN_ENV`, None when unset or empty."""
    return os.environ.get(TOKEN_ENV) or None


def serve(
    env_id: str,
    params: dict[str, Any] | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    max_instances: int = DEFAULT_MAX_INSTANCES,
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
    log_level: str = "info",
    allow_hosts: Iterable[str] = (),
    token: str | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve `env_id` until interrupted (Ctrl-C / SIGTERM); `on_ready(url)` once bound."""
    app = create_app(
        env_id,
        params,
        max_instances=max_instances,
        idle_timeout_s=idle_timeout_s,
        allow_hosts=allow_hosts,
        bound_host=host,
        token=token,
    )
    sock = bind(host, port, backlog=_BACKLOG)
    if on_ready is not None:
        on_ready(url_of(sock))
    run_forever(app, sock, log_level)


class EnvServer(ThreadServer):
    """`create_app(env_id, params)` served by uvicorn in a daemon thread.

    ```python
    with EnvServer("graph.coloring", {"n": 8}) as server:
        env = HttpEnvironment(server.url, env="graph.coloring")
    ```
    Stopping it closes every instance. `allow_hosts` and `token` as for `serve`.
    """

    def __init__(
        self,
        env_id: str,
        params: dict[str, Any] | None = None,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        max_instances: int = DEFAULT_MAX_INSTANCES,
        idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
        log_level: str = "warning",
        allow_hosts: Iterable[str] = (),
        token: str | None = None,
    ):
        app = create_app(
            env_id,
            params,
            max_instances=max_instances,
            idle_timeout_s=idle_timeout_s,
            allow_hosts=allow_hosts,
            bound_host=host,
            token=token,
        )
        super().__init__(
            app,
            host=host,
            port=port,
            log_level=log_level,
            name=f"palaestra-env-server-{env_id}",
            backlog=_BACKLOG,
        )
        self.env_id = env_id


_LOOPBACK: dict[str, EnvServer] = {}
_LOOPBACK_LOCK = threading.Lock()


def loopback_url(env_id: str, params: dict[str, Any] | None = None) -> str:
    """URL of a server thread of this process serving `env_id` with `params` (one per
    id and parameters, started on first use, stopped at exit)."""
    key = json.dumps([env_id, params or {}], sort_keys=True)
    with _LOOPBACK_LOCK:
        server = _LOOPBACK.get(key)
        if server is None:
            if not _LOOPBACK:
                atexit.register(_stop_loopbacks)
            server = _LOOPBACK[key] = EnvServer(env_id, params).start()
        return server.url


def _stop_loopbacks() -> None:
    with _LOOPBACK_LOCK:
        for server in _LOOPBACK.values():
            server.stop()
        _LOOPBACK.clear()
