"""``palaestra serve-env ENV_ID``: serve a registered environment over HTTP.

```
palaestra serve-env graph.coloring --port 8000 --param n=16
palaestra serve-env tooluse.store --params '{"db_seed": 3}' --max-instances 64
```

The server speaks AgentGym's verbs (``GET /``, ``POST /create``, ``/reset``, ``/step``,
``GET /observation``, ``POST /close``) plus ``GET /tasks``, ``/score`` and ``/agents``;
a job uses it with ``env: remote.http`` and ``params: {url: ..., env: ENV_ID}``.
It listens on 127.0.0.1 unless ``--host`` says otherwise. It answers only requests
whose ``Host`` is an IP address, localhost or a name given with ``--allow-host`` (so a web
page cannot rebind its own domain to it) and refuses other sites' pages; with
``--token`` (or ``$PALAESTRA_ENV_TOKEN``) every request needs ``Authorization: Bearer
TOKEN``, which ``remote.http`` clients send from the same variable. ``--port 0`` picks a
free port; the first line printed names the URL.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from palaestra.core import UserError

DEFAULT_MAX_INSTANCES = 256
DEFAULT_IDLE_TIMEOUT_S = 600.0


def add_serve_env_parser(sub: Any) -> None:
    """Add the ``serve-env`` subcommand to the `palaestra` parser."""
    p = sub.add_parser(
        "serve-env",
        help="serve a registered environment over HTTP (AgentGym's verbs)",
        description=(
            "Serve ENV_ID over HTTP for `env: remote.http` jobs in other processes or "
            "machines. It answers only its own names (IP addresses, localhost, "
            "--allow-host) and, with a token, only requests that carry it."
        ),
    )
    p.add_argument("env_id", metavar="ENV_ID", help="registered environment id (see `envs`)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks one)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an environment parameter (VALUE read as JSON, else as a string); repeatable",
    )
    p.add_argument("--params", metavar="JSON", help="environment parameters as a JSON object")
    p.add_argument(
        "--max-instances",
        type=int,
        default=DEFAULT_MAX_INSTANCES,
        help=f"live instances at most; more get 503 (default {DEFAULT_MAX_INSTANCES})",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT_S,
        metavar="SECONDS",
        help=f"close instances idle this long (default {DEFAULT_IDLE_TIMEOUT_S:g})",
    )
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests to this host name, e.g. the name clients use for this "
        "machine (repeatable; .example.org: the domain and its subdomains; '*': any)",
    )
    p.add_argument(
        "--token",
        default=None,
        help="require 'Authorization: Bearer TOKEN' on every request (default "
        "$PALAESTRA_ENV_TOKEN; unset: none); remote.http clients send $PALAESTRA_ENV_TOKEN",
    )
    p.add_argument(
        "--log-level",
        default="warning",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level (default warning)",
    )


def parse_params(pairs: list[str], raw: str | None) -> dict[str, Any]:
    """``--params JSON`` updated by each ``--param KEY=VALUE``; a `UserError` if malformed."""
    params: dict[str, Any] = {}
    if raw is not None:
        try:
            loaded = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise UserError(f"--params: expected a JSON object, got {raw!r} ({exc})") from None
        except RecursionError:
            raise UserError("--params: nested too deeply; give a flat JSON object") from None
        if not isinstance(loaded, dict):
            raise UserError(f"--params: expected a JSON object, got {raw!r}")
        params.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--param: expected KEY=VALUE, got {pair!r}")
        try:
            params[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            params[key.strip()] = value
        except RecursionError:
            raise UserError(f"--param {key.strip()}: nested too deeply") from None
    return params


def cmd_serve_env(args: argparse.Namespace) -> int:
    """Run the server until interrupted."""
    from palaestra.envs.remote import serve, token_from_env

    params = parse_params(args.param, args.params)
    if not 0 <= args.port <= 65535:
        raise UserError(f"--port: expected 0..65535, got {args.port}")

    def ready(url: str) -> None:
        print(f"serving {args.env_id} at {url}", flush=True)
        print(
            f"use it: env: remote.http, params: {{url: {url}, env: {args.env_id}}}  (Ctrl-C stops)",
            flush=True,
        )

    try:
        serve(
            args.env_id,
            params,
            host=args.host,
            port=args.port,
            max_instances=args.max_instances,
            idle_timeout_s=args.idle_timeout,
            log_level=args.log_level,
            allow_hosts=args.allow_host,
            token=args.token if args.token is not None else token_from_env(),
            on_ready=ready,
        )
    except KeyboardInterrupt:  # uvicorn shut down cleanly, then re-raised Ctrl-C
        pass
    print("server stopped", file=sys.stderr)
    return 0
