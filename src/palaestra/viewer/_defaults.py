"""Where `palaestra view` listens and where it reads its token, unless told otherwise.

Apart from the server (`_serve.py`) so the command line can show them in `--help`
without importing the web app and the store.
"""

from __future__ import annotations

import os

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
TOKEN_ENV = "PALAESTRA_VIEW_TOKEN"
"""The environment variable `palaestra view` reads its token from (unless --token)."""


def token_from_env() -> str | None:
    """The token in `TOKEN_ENV`, None when unset or empty."""
    return os.environ.get(TOKEN_ENV) or None
