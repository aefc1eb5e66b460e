"""Serving the viewer: in the foreground (``palaestra view``), or in a background thread
of this process (`ViewerServer`: tests and notebooks).

Both bind their socket before uvicorn starts, so port 0 picks a free port with no race
and the URL they report names the port actually bound. The viewer has no
authentication: it listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from palaestra.core import UserError
from palaestra.viewer._app import create_app
from palaestra.viewer._queries import StoreReader

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def _bind(host: str, port: int) -> socket.socket:
    if not 0 <= port <= 65535:
        raise UserError(f"--port: expected 0..65535 (0 picks a free port), got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say they are TCP
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UserError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port "
            f"(0 picks a free one)"
        ) from None
    sock.listen(256)
    sock.setblocking(False)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


def _uvicorn_server(app: Any, log_level: str) -> Any:
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on")
    return uvicorn.Server(config)


def serve(
    store: str | Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    log_level: str = "warning",
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the viewer of `store` until interrupted; `on_ready(url)` once bound."""
    with StoreReader(store) as reader:
        app = create_app(reader)
        sock = _bind(host, port)
        try:
            if on_ready is not None:
                on_ready(_url(sock))
            _uvicorn_server(app, log_level).run(sockets=[sock])
        finally:
            sock.close()


class ViewerServer:
    """The viewer of `store` served by uvicorn in a daemon thread.

    ```python
    with ViewerServer("runs/palaestra.db") as server:
        print(server.url)  # http://127.0.0.1:PORT/
    ```
    """

    def __init__(
        self,
        store: str | Path,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        log_level: str = "warning",
    ) -> None:
        self.reader = StoreReader(store)
        self.app = create_app(self.reader)
        self._host, self._port, self._log_level = host, port, log_level
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.url = ""
        """Base URL once started, e.g. ``http://127.0.0.1:41234/``."""

    def start(self, timeout_s: float = 20.0) -> ViewerServer:
        """Bind, start the thread, and return once the server accepts requests."""
        if self._thread is not None:
            return self
        self._sock = _bind(self._host, self._port)
        self.url = _url(self._sock)
        self._server = _uvicorn_server(self.app, self._log_level)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name="palaestra-viewer",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the viewer server did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to exit, wait for the thread, close the store."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._sock is not None:
            self._sock.close()
        self._thread = self._server = self._sock = None
        self.reader.close()

    def __enter__(self) -> ViewerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
