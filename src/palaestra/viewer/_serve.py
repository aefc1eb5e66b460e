"""Serving the viewer: in the foreground (``palaestra view``), or in a background thread
of this process (`ViewerServer`: tests and notebooks).

Both bind their socket before uvicorn starts, so port 0 picks a free port with no race
and the URL they report names the port actually bound. The viewer has no
authentication: it listens on 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from palaestra._asgi import ThreadServer, bind, run_forever, url_of
from palaestra.viewer._app import create_app
from palaestra.viewer._queries import StoreReader

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


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
        sock = bind(host, port)
        if on_ready is not None:
            on_ready(url_of(sock, slash=True))
        run_forever(create_app(reader), sock, log_level)


class ViewerServer(ThreadServer):
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
        super().__init__(
            create_app(self.reader),
            host=host,
            port=port,
            log_level=log_level,
            name="palaestra-viewer",
            slash=True,
        )

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask uvicorn to exit, wait for the thread, close the store."""
        super().stop(timeout_s)
        self.reader.close()
