"""Running the environment server: in the foreground (``palaestra serve-env``), or in a
background thread of this process (`EnvServer`: tests, notebooks, and the loopback mode
of ``remote.http``).

Both bind their socket before uvicorn starts, so port 0 picks a free port with no race
and `EnvServer.url` / the printed URL name the port actually bound.
"""

from __future__ import annotations

import atexit
import json
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from palaestra.core import UserError
from palaestra.envs.remote._server import (
    DEFAULT_IDLE_TIMEOUT_S,
    DEFAULT_MAX_INSTANCES,
    create_app,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on sockets that say they are TCP
    # (without it, each response waits ~40 ms for a delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _uvicorn_server(app: Any, log_level: str) -> Any:
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on")
    return uvicorn.Server(config)


def serve(
    env_id: str,
    params: dict[str, Any] | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    max_instances: int = DEFAULT_MAX_INSTANCES,
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S,
    log_level: str = "info",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve `env_id` until interrupted (Ctrl-C / SIGTERM); `on_ready(url)` once bound."""
    app = create_app(env_id, params, max_instances=max_instances, idle_timeout_s=idle_timeout_s)
    sock = _bind(host, port)
    if on_ready is not None:
        on_ready(_url(sock))
    try:
        _uvicorn_server(app, log_level).run(sockets=[sock])
    finally:
        sock.close()


class EnvServer:
    """`create_app(env_id, params)` served by uvicorn in a daemon thread.

    ```python
    with EnvServer("graph.coloring", {"n": 8}) as server:
        env = HttpEnvironment(server.url, env="graph.coloring")
    ```
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
    ):
        self.app = create_app(
            env_id, params, max_instances=max_instances, idle_timeout_s=idle_timeout_s
        )
        self.env_id = env_id
        self._host, self._port, self._log_level = host, port, log_level
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.url = ""
        """Base URL once started, e.g. ``http://127.0.0.1:41234``."""

    def start(self, timeout_s: float = 20.0) -> EnvServer:
        """Bind, start the thread, and return once the server accepts requests."""
        if self._thread is not None:
            return self
        self._sock = _bind(self._host, self._port)
        self.url = _url(self._sock)
        self._server = _uvicorn_server(self.app, self._log_level)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"palaestra-env-server-{self.env_id}",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the environment server for {self.env_id!r} did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to exit (closing every instance) and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._sock is not None:
            self._sock.close()
        self._thread = self._server = self._sock = None

    def __enter__(self) -> EnvServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
