"""Loading YAML while remembering where each value came from (file and line), so that a
validation error can name the line of the offending field."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from palaestra.core import ConfigError
from palaestra.runtime._systems_config import UNION_TAGS

Loc = tuple[str | int, ...]


def load_yaml_with_lines(text: str, *, source: str = "<string>") -> tuple[Any, dict[Loc, int]]:
    """Parse YAML; returns the data and a map from each value's path to its 1-based line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where}: invalid YAML: {problem}") from None
    if node is None:
        raise ConfigError(f"{source}: the file is empty; expected an experiment mapping")
    lines: dict[Loc, int] = {}
    _walk(node, (), lines)
    data = yaml.safe_load(text)
    return data, lines


def _walk(node: yaml.Node, path: Loc, lines: dict[Loc, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk_value(value_node, (*path, key), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines)


def _walk_value(node: yaml.Node, path: Loc, lines: dict[Loc, int]) -> None:
    key_line = lines[path]
    _walk(node, path, lines)
    lines[path] = key_line if not isinstance(node, yaml.ScalarNode) else node.start_mark.line + 1


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
    out = []
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
        out.append(f"{where}: {field}: {message}")
    return "\n".join(out)


def _clean_loc(loc: Loc, lines: dict[Loc, int]) -> Loc:
    """Drop the parts pydantic adds that are not in the file: the tag of a discriminated
    union (e.g. `llm` in `jobs.0.operator.llm.model`) and function-validator names."""
    out: list[str | int] = []
    for index, part in enumerate(loc):
        candidate = (*out, part)
        if candidate not in lines:
            tag = isinstance(part, str) and (part.startswith("function-") or part in _UNION_TAGS)
            if tag or (lines and index + 1 < len(loc) and (*out, loc[index + 1]) in lines):
                continue
        out.append(part)
    return tuple(out)


_UNION_TAGS = {"baseline", "llm", "scripted", "human", "python", *UNION_TAGS}


def validate_file(model: type[BaseModel], path: str | Path) -> BaseModel:
    """Read and validate a YAML file into `model`, with errors naming file and line."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such experiment file")
    text = path.read_text()
    data, lines = load_yaml_with_lines(text, source=str(path))
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}:1: expected a mapping of experiment fields, got {type(data).__name__}"
        )
    try:
        return model.model_validate(data, context={"base_dir": str(path.parent)})
    except ValidationError as exc:
        raise ConfigError(
            f"invalid experiment file {path}:\n"
            + format_validation_error(exc, source=str(path), lines=lines)
        ) from None
