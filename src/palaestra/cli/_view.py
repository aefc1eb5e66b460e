"""``palaestra view``: the web viewer of an event store, served on this machine.

```
palaestra view                          # runs/palaestra.db on http://127.0.0.1:8765/
palaestra view --store /tmp/x.db --port 0 --no-open
PALAESTRA_VIEW_TOKEN=$(python -c 'import secrets; print(secrets.token_urlsafe())') \
  palaestra view --host 0.0.0.0 --allow-host viewer.lab.example
```

It listens on 127.0.0.1 unless ``--host`` says otherwise; ``--port 0`` picks a free
port. It answers only requests whose ``Host`` is an IP address, localhost or a name
given with ``--allow-host`` (a web page cannot rebind its own domain to it), and refuses
other sites' pages. With ``--token`` (or ``$PALAESTRA_VIEW_TOKEN``) every request needs
the token; the printed URL carries it once, and opening it signs the browser in (a
cookie). The first line printed names the URL; the browser opens on it unless
``--no-open``.
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

from palaestra.core import UserError


def add_view_parser(sub: Any, store_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add the ``view`` subcommand to the `palaestra` parser."""
    from palaestra.viewer import DEFAULT_HOST, DEFAULT_PORT, TOKEN_ENV

    p = sub.add_parser(
        "view",
        help="browse runs, episodes and event timelines in a local web UI",
        description=(
            "Serve a web UI over the event store: runs, episodes with filters, and each "
            "episode as a timeline per agent (read-only). It answers only its own names "
            "(IP addresses, localhost, --allow-host) and, with a token, only requests "
            "that carry it."
        ),
    )
    store_arg(p)
    p.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks one)"
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests to this host name (repeatable; .example.org: the domain "
        "and its subdomains; '*': any name, which lets web pages rebind to the viewer)",
    )
    p.add_argument(
        "--token",
        default=None,
        help=f"require this token (default ${TOKEN_ENV}; unset: none): as "
        "'Authorization: Bearer TOKEN', or opening the printed URL once per browser",
    )
    p.add_argument("--no-open", action="store_true", help="do not open a browser")
    p.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (default warning)",
    )


def cmd_view(args: argparse.Namespace) -> int:
    """Serve the viewer until interrupted."""
    from palaestra.runtime import default_store_path
    from palaestra.viewer import serve, token_from_env

    path = Path(args.store) if args.store else default_store_path()
    if not path.is_file():
        raise UserError(f"no event store at {path}; run an experiment first or pass --store")

    def ready(url: str) -> None:
        print(f"palaestra viewer of {path} at {url}  (Ctrl-C stops)", flush=True)
        if not args.no_open:
            webbrowser.open(url)

    try:
        serve(
            path,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            allow_hosts=args.allow_host,
            token=args.token if args.token is not None else token_from_env(),
            on_ready=ready,
        )
    except KeyboardInterrupt:  # uvicorn shut down cleanly, then re-raised Ctrl-C
        pass
    print("viewer stopped", file=sys.stderr)
    return 0
