"""Validation of tool-call arguments against a tool's JSON schema.

Only the subset of JSON Schema that tool specs use is supported: an object schema with
`properties`, `required` and `additionalProperties: false`, whose properties have a
`type` (string, integer, number, boolean, array with `items`, object, itself with
`properties`), and optionally an `enum`, a `minimum` (numbers), `minItems` / `maxItems`
(arrays) or a `pattern` (strings, matched in full). The result is an error message
written for the model (what is wrong, what is expected), never an exception: a bad call
is a mistake the agent must be able to fix.
"""

from __future__ import annotations

import re
from typing import Any

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
}


def _has_type(value: Any, expected: str) -> bool:
    if expected == "string":
        return isinstance(value, str)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "array":
        return isinstance(value, list)
    if expected == "object":
        return isinstance(value, dict)
    raise ValueError(f"unsupported JSON-schema type {expected!r} in a tool spec")


def _check_value(path: str, value: Any, schema: dict[str, Any]) -> str | None:
    expected = schema.get("type")
    if expected is not None and not _has_type(value, expected):
        return f"argument '{path}' must be {_TYPE_NAMES[expected]}, got {value!r}"
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(repr(choice) for choice in schema["enum"])
        return f"argument '{path}' must be one of {choices}, got {value!r}"
    if "minimum" in schema and value < schema["minimum"]:
        return f"argument '{path}' must be at least {schema['minimum']}, got {value!r}"
    if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
        example = f" (e.g. {schema['examples'][0]!r})" if schema.get("examples") else ""
        return f"argument '{path}' must match {schema['pattern']!r}{example}, got {value!r}"
    if expected == "array":
        if len(value) < schema.get("minItems", 0):
            return f"argument '{path}' needs at least {schema['minItems']} element(s)"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"argument '{path}' takes at most {schema['maxItems']} element(s)"
        if "items" in schema:
            for index, element in enumerate(value):
                problem = _check_value(f"{path}[{index}]", element, schema["items"])
                if problem:
                    return problem
    if expected == "object" and "properties" in schema:
        return _check_object(path + ".", value, schema)
    return None


def _check_object(prefix: str, arguments: dict[str, Any], schema: dict[str, Any]) -> str | None:
    properties: dict[str, Any] = schema.get("properties", {})
    missing = [prefix + name for name in schema.get("required", []) if name not in arguments]
    if missing:
        return f"missing required argument(s): {', '.join(missing)}"
    if schema.get("additionalProperties") is False:
        unknown = sorted(prefix + name for name in arguments if name not in properties)
        if unknown:
            valid = ", ".join(prefix + name for name in properties) or "none"
            return f"unknown argument(s): {', '.join(unknown)}; valid arguments: {valid}"
    for name, value in arguments.items():
        if name in properties:
            problem = _check_value(prefix + name, value, properties[name])
            if problem:
                return problem
    return None


def validate_arguments(schema: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    """The first problem of `arguments` under the object `schema`, or None if valid."""
    if "__raw__" in arguments:
        return f"the arguments are not valid JSON: {arguments['__raw__']!r}"
    return _check_object("", arguments, schema)
