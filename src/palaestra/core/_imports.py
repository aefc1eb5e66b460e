"""Objects named by import path in configuration (`package.module:attr`): tools,
operator factories, contracts, scorers, governance hooks."""

from __future__ import annotations

import importlib
from typing import Any

from palaestra.core._errors import ConfigError


def import_object(path: str) -> Any:
    """`package.module:attr` (attr may be dotted) -> the object, or a `ConfigError`
    naming what is missing."""
    module_name, _, attr = path.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"expected an import path 'package.module:name', got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import module {module_name!r} (from {path!r}): {exc}") from None
    obj: Any = module
    try:
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise ConfigError(f"module {module_name!r} has no attribute {attr!r}") from None
    return obj
