"""Pipeline stage schemas: the pydantic model of a stage's output, inline
(`{name: type}`) or imported (`package.module:Model`)."""

from __future__ import annotations

import re
import sys
from typing import Any

from pydantic import BaseModel, create_model

from palaestra.core import ConfigError, import_object

SCHEMA_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list[str]": list[str],
    "list[int]": list[int],
    "list[float]": list[float],
    "dict": dict[str, Any],
}
"""Field types of an inline stage schema (`{name: type}`)."""

_INLINE: dict[tuple[str, tuple[tuple[str, str], ...]], type[BaseModel]] = {}


def inline_schema(stage: str, fields: dict[str, str]) -> type[BaseModel]:
    """The pydantic model of inline fields `{name: type}` (made once per stage and
    fields, so a model's JSON schema is built once); `ValueError` names a bad type."""
    if not fields:
        raise ValueError("an inline schema needs at least one field {name: type}")
    for name, kind in fields.items():
        if kind not in SCHEMA_TYPES:
            raise ValueError(
                f"{name}: unknown type {kind!r}; valid: {', '.join(SCHEMA_TYPES)} (or give "
                "a pydantic model as `package.module:Model`)"
            )
        if not name.isidentifier() or name.startswith(("_", "model_")) or hasattr(BaseModel, name):
            raise ValueError(
                f"{name}: a field name must be an identifier that is not a pydantic model "
                "attribute and does not start with '_' or 'model_'"
            )
    key = (stage, tuple(fields.items()))
    model = _INLINE.get(key)
    if model is None:
        spec: dict[str, Any] = {name: (SCHEMA_TYPES[kind], ...) for name, kind in fields.items()}
        title = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", stage) if part)
        model = _INLINE[key] = create_model(f"{title or 'Stage'}Output", **spec)
    return model


def import_schema(path: str, base_dir: str | None = None) -> type[BaseModel]:
    """The pydantic model an import path names; the experiment file's folder is also
    searched, so a schema may live next to the file. Raises `ValueError` (for config
    validation) saying what does not resolve."""
    try:
        obj = import_object(path)
    except ConfigError as first:
        if not base_dir or base_dir in sys.path:
            raise ValueError(f"schema {path!r} does not resolve: {first}") from None
        sys.path.insert(0, base_dir)
        try:
            obj = import_object(path)
        except ConfigError as exc:
            raise ValueError(f"schema {path!r} does not resolve: {exc}") from None
        finally:
            sys.path.remove(base_dir)
    if not (isinstance(obj, type) and issubclass(obj, BaseModel)):
        raise ValueError(f"schema {path!r} is {obj!r}, not a pydantic model class")
    return obj
