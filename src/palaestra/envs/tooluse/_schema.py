"""Validation of tool-call arguments against a tool's JSON schema.

Only the subset of JSON Schema that tool specs use is supported: an object schema with
`properties`, `required` and `additionalProperties: false`, whose properties have a
`type` (string, integer, number, boolean, array with `items`, object) and optionally an
`enum`. The result is an error message written for the model (what is wrong, what is
expected), never an exception: a bad call is a mistake the agent must be able to fix.
"""

from __future__ import annotations

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
    if expected == "array" and "items" in schema:
        for index, element in enumerate(value):
            problem = _check_value(f"{path}[{index}]", element, schema["items"])
            if problem:
                return problem
    return None


def validate_arguments(schema: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    """The first problem of `arguments` under the object `schema`, or None if valid."""
    if "__raw__" in arguments:
        return f"the arguments are not valid JSON: {arguments['__raw__']!r}"
    properties: dict[str, Any] = schema.get("properties", {})
    missing = [name for name in schema.get("required", []) if name not in arguments]
    if missing:
        return f"missing required argument(s): {', '.join(missing)}"
    if schema.get("additionalProperties") is False:
        unknown = sorted(name for name in arguments if name not in properties)
        if unknown:
            valid = ", ".join(properties) or "none"
            return f"unknown argument(s): {', '.join(unknown)}; valid arguments: {valid}"
    for name, value in arguments.items():
        if name in properties:
            problem = _check_value(name, value, properties[name])
            if problem:
                return problem
    return None
