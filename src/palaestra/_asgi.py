"""Serving an ASGI app with uvicorn on a socket we bind ourselves: in the foreground
(`palaestra serve-env`, `palaestra view`) or in a daemon thread of this process
(`EnvServer`, `ViewerServer`: tests, notebooks, loopback envs).

Binding first lets port 0 pick a free port and the reported URL name the port actually
bound. Shared by `palaestra.envs.remote` and `palaestra.viewer`, which may not import
each other; imports only `palaestra.core`.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, Self

from palaestra.core import UserError


def bind(host: str, port: int, *, backlog: int = 256) -> socket.socket:
    """A listening, non-blocking TCP socket on `host:port` (port 0: a free one);
    `UserError` naming the address when it cannot be had."""
    if not 0 <= port <= 65535:
        raise UserError(f"--port: expected 0..65535 (0 picks a free port), got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on sockets that say they are TCP
    # (without it, each response waits ~40 ms for a delayed ACK)
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
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


def url_of(sock: socket.socket, *, slash: bool = False) -> str:
    """`http://HOST:PORT` of a bound socket (IPv6 hosts bracketed), `/` appended if asked."""
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}" + ("/" if slash else "")


def uvicorn_server(app: Any, log_level: str) -> Any:
    """A uvicorn server for `app` (no access log; lifespan events on)."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False, lifespan="on")
    return uvicorn.Server(config)


def run_forever(app: Any, sock: socket.socket, log_level: str) -> None:
    """Serve `app` on `sock` in the foreground until interrupted; closes the socket."""
    try:
        uvicorn_server(app, log_level).run(sockets=[sock])
    finally:
        sock.close()


class ThreadServer:
    """An ASGI app served by uvicorn in a daemon thread; `url` once started.

    Subclasses set `app` (and may extend `stop` to release what the app holds)."""

    def __init__(
        self,
        app: Any,
        *,
        host: str,
        port: int,
        log_level: str,
        name: str,
        backlog: int = 256,
        slash: bool = False,
    ) -> None:
        self.app = app
        self._host, self._port, self._log_level = host, port, log_level
        self._name, self._backlog, self._slash = name, backlog, slash
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self.url = ""
        """Base URL once started, e.g. ``http://127.0.0.1:41234``."""

    def start(self, timeout_s: float = 20.0) -> Self:
        """Bind, start the thread, and return (self) once the server accepts requests."""
        if self._thread is not None:
            return self
        self._sock = bind(self._host, self._port, backlog=self._backlog)
        self.url = url_of(self._sock, slash=self._slash)
        self._server = uvicorn_server(self.app, self._log_level)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=self._name,
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server {self._name!r} did not start")
            time.sleep(0.005)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._sock is not None:
            self._sock.close()
        self._thread = self._server = self._sock = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
