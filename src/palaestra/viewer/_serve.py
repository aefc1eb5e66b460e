"""Serving the viewer: in the foreground (``palaestra view``), or in a background thread
of this process (`ViewerServer`: tests and notebooks).

Both bind their socket before uvicorn starts, so port 0 picks a free port with no race
and the URL they report names the port actually bound. The viewer listens on 127.0.0.1
unless told otherwise, answers only requests whose ``Host`` names it (`allow_hosts`
widens that) and, given a `token`, only requests that carry it
(`palaestra._webguard.WebGuard`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from palaestra._asgi import ThreadServer, bind, run_forever, url_of
from palaestra.viewer._app import create_app
from palaestra.viewer._defaults import DEFAULT_HOST, DEFAULT_PORT
from palaestra.viewer._queries import StoreReader


def page_url(base: str, token: str | None) -> str:
    """The URL to open: `base`, with ``?token=`` when there is a token (opening it sets
    the cookie that signs the browser in)."""
    return f"{base}?token={token}" if token else base


def serve(
    store: str | Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    log_level: str = "warning",
    allow_hosts: Iterable[str] = (),
    token: str | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve the viewer of `store` until interrupted; `on_ready(url)` once bound (the
    URL carries ``?token=`` when there is a token)."""
    with StoreReader(store) as reader:
        app = create_app(reader, allow_hosts=allow_hosts, bound_host=host, token=token)
        sock = bind(host, port)
        if on_ready is not None:
            on_ready(page_url(url_of(sock, slash=True), token))
        run_forever(app, sock, log_level)


class ViewerServer(ThreadServer):
    """The viewer of `store` served by uvicorn in a daemon thread.

    ```python
    with ViewerServer("runs/palaestra.db") as server:
        print(server.url)  # http://127.0.0.1:PORT/
    ```
    `allow_hosts` and `token` as for `serve`; `server.url` never carries the token.
    """

    def __init__(
        self,
        store: str | Path,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        log_level: str = "warning",
        allow_hosts: Iterable[str] = (),
        token: str | None = None,
    ) -> None:
        self.reader = StoreReader(store)
        try:
            app = create_app(self.reader, allow_hosts=allow_hosts, bound_host=host, token=token)
        except BaseException:
            self.reader.close()
            raise
        super().__init__(
            app,
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
