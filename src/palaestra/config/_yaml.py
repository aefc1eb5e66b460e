"""Config files validated into pydantic models with errors that name the file and the
line of the offending field. Reading and parsing (plain data only, under size, depth
and node limits) is `palaestra._safe_yaml`'s; this module maps pydantic's errors back
to lines."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from palaestra._safe_yaml import Loc, load_yaml, load_yaml_file
from palaestra.core import ConfigError


def load_yaml_with_lines(
    text: str, *, source: str = "<string>", expected: str = "an experiment mapping"
) -> tuple[Any, dict[Loc, int]]:
    """Parse YAML as plain data under the config limits (`palaestra._safe_yaml`);
    returns the data and a map from each value's path to its 1-based line."""
    return load_yaml(text, source=source, expected=expected)


def line_of(loc: Loc, lines: dict[Loc, int]) -> int | None:
    """Line of the longest prefix of `loc` that the file contains."""
    for end in range(len(loc), -1, -1):
        found = lines.get(tuple(loc[:end]))
        if found is not None:
            return found
    return None


def format_validation_error(
    exc: ValidationError, *, source: str, lines: dict[Loc, int] | None = None
) -> str:
    """One line per problem: `file:line: field.path: message (valid: ...)`."""
    out: list[str] = []
    for err in exc.errors():
        loc = _clean_loc(tuple(err["loc"]), lines or {})
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = line_of(loc, lines) if lines else None
        where = f"{source}:{line}" if line else source
        message = err["msg"]
        # Cross-field checks raise "Value error, jobs.0.operator.model: ..." at the top
        # level: take the field path from the message so the line can be found.
        named = re.match(r"Value error, ([\w-]+(?:\.[\w-]+)+): (.*)", message, re.S)
        if not loc and named:
            loc = tuple(int(p) if p.isdigit() else p for p in named.group(1).split("."))
            field, message = named.group(1), named.group(2)
            line = line_of(loc, lines) if lines else None
            where = f"{source}:{line}" if line else source
        # A model check inside the file (e.g. a system's roles) names the field it concerns
        # relative to the model: "Value error, workers.1: ...".
        relative = re.match(r"Value error, ([\w-]+(?:\.[\w-]+)*): (.*)", message, re.S)
        if loc and relative:
            inner = tuple(int(p) if p.isdigit() else p for p in relative.group(1).split("."))
            if not lines or (*loc, inner[0]) in lines:
                loc = (*loc, *inner)
                field, message = ".".join(str(p) for p in loc), relative.group(2)
                line = line_of(loc, lines) if lines else None
                where = f"{source}:{line}" if line else source
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        ctx = err.get("ctx") or {}
        expected = ctx.get("expected")
        if expected and "expected" not in message.lower():
            message += f" (valid: {expected})"
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):  # models, dataclasses
            message = "unknown field"
        head = f"{where}: {field}: "
        if out and out[-1].startswith(head) and message.startswith("Input should be "):
            # the members of a union (`tasks: int | list | 'all'`) each said no: one line
            out[-1] += "; or " + message.removeprefix("Input should be ")
        else:
            out.append(head + message)
    return "\n".join(out)


def _clean_loc(loc: Loc, lines: dict[Loc, int]) -> Loc:
    """Drop the parts pydantic adds that are not in the file: function-validator names
    (operator and system configs are validated by the model their `kind:` or
    `topology:` names, under `function-wrap[...]`) and the members of a plain union."""
    out: list[str | int] = []
    for index, part in enumerate(loc):
        candidate = (*out, part)
        if candidate not in lines:
            tag = isinstance(part, str) and (part.startswith("function-") or _TYPE_TAG.match(part))
            if tag or (lines and index + 1 < len(loc) and (*out, loc[index + 1]) in lines):
                continue
        out.append(part)
    return tuple(out)


_TYPE_TAG = re.compile(r"(int|str|float|bool|none|[\w.]+\[.*\])$", re.I)
"""The members of a plain union that pydantic names in a location (`int`, `list[str]`,
`literal['all']`): not fields of the file."""


def validate_file(
    model: type[BaseModel], path: str | Path, *, context: dict[str, Any] | None = None
) -> BaseModel:
    """Read and validate a YAML file into `model`, with errors naming file and line;
    `context` is added to the validation context."""
    path = Path(path)
    data, lines = load_yaml_file(path, what="experiment file", expected="an experiment mapping")
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1: expected a mapping of experiment fields, got {type(data).__name__}"
        )
    try:
        full = {**(context or {}), "base_dir": str(path.parent), "check_imports": True}
        result = model.model_validate(data, context=full)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source=str(path), lines=lines)) from None
    set_origin = getattr(result, "set_origin", None)
    if callable(set_origin):  # errors found later (e.g. by the runner) can name the line
        set_origin(str(path), lines)
    return result
