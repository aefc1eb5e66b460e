"""The subset of JSON Schema that tool parameters use, for the `tool_args_schema` contract.

Supported keywords: `type` (a name or a list of names, `null` included), `enum`,
`const`, `minimum` / `maximum` / `exclusiveMinimum` / `exclusiveMaximum`, `minLength` /
`maxLength` / `pattern` (searched, as JSON Schema says), `minItems` / `maxItems` /
`items`, `properties` / `required` / `additionalProperties` (false or a schema), and
`anyOf` / `oneOf` / `allOf`. Other keywords are ignored (a schema is never rejected for
using them): the contract reports what it can tell, never a false violation.
"""

from __future__ import annotations

import re
from typing import Any

_TYPES: dict[str, str] = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


def _is(value: Any, name: str) -> bool:
    if name == "string":
        return isinstance(value, str)
    if name == "integer":
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            or (isinstance(value, float) and value.is_integer())
        )
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    if name == "null":
        return value is None
    return True  # an unknown type name: not ours to judge


def schema_problem(value: Any, schema: Any, path: str = "") -> str | None:
    """The first way `value` breaks `schema` ("argument 'x' must be ..."), or None."""
    if not isinstance(schema, dict):
        return None
    where = f"argument '{path}'" if path else "the arguments"
    expected = schema.get("type")
    if expected is not None:
        names = expected if isinstance(expected, list) else [expected]
        if not any(_is(value, n) for n in names):
            want = " or ".join(_TYPES.get(n, str(n)) for n in names)
            return f"{where} must be {want}, got {value!r}"
    if "enum" in schema and value not in schema["enum"]:
        choices = ", ".join(repr(c) for c in schema["enum"])
        return f"{where} must be one of {choices}, got {value!r}"
    if "const" in schema and value != schema["const"]:
        return f"{where} must be {schema['const']!r}, got {value!r}"
    if isinstance(value, int | float) and not isinstance(value, bool):
        for key, ok, word in (
            ("minimum", lambda v, b: v >= b, "at least"),
            ("maximum", lambda v, b: v <= b, "at most"),
            ("exclusiveMinimum", lambda v, b: v > b, "more than"),
            ("exclusiveMaximum", lambda v, b: v < b, "less than"),
        ):
            bound = schema.get(key)
            if isinstance(bound, int | float) and not ok(value, bound):
                return f"{where} must be {word} {bound}, got {value!r}"
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return f"{where} must have at least {schema['minLength']} characters"
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return f"{where} must have at most {schema['maxLength']} characters"
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and re.search(pattern, value) is None:
            return f"{where} must match {pattern!r}, got {value!r}"
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            return f"{where} needs at least {schema['minItems']} element(s)"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{where} takes at most {schema['maxItems']} element(s)"
        items = schema.get("items")
        if isinstance(items, dict):
            for index, element in enumerate(value):
                found = schema_problem(element, items, f"{path}[{index}]")
                if found:
                    return found
    if isinstance(value, dict):
        found = _object_problem(value, schema, path)
        if found:
            return found
    return _combinators(value, schema, path, where)


def _object_problem(value: dict[str, Any], schema: dict[str, Any], path: str) -> str | None:
    prefix = f"{path}." if path else ""
    properties: dict[str, Any] = schema.get("properties") or {}
    missing = [prefix + n for n in schema.get("required", []) if n not in value]
    if missing:
        return f"missing required argument(s): {', '.join(missing)}"
    extra = schema.get("additionalProperties", True)
    for name, element in value.items():
        if name in properties:
            found = schema_problem(element, properties[name], prefix + name)
        elif extra is False:
            valid = ", ".join(prefix + n for n in properties) or "none"
            return f"unknown argument '{prefix + name}'; valid arguments: {valid}"
        else:
            found = schema_problem(element, extra, prefix + name)
        if found:
            return found
    return None


def _combinators(value: Any, schema: dict[str, Any], path: str, where: str) -> str | None:
    for sub in schema.get("allOf") or []:
        found = schema_problem(value, sub, path)
        if found:
            return found
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if not options:
            continue
        problems = [schema_problem(value, sub, path) for sub in options]
        matching = sum(p is None for p in problems)
        if matching == 0:
            return f"{where} matches none of the allowed forms ({problems[0]})"
        if key == "oneOf" and matching > 1:
            return f"{where} matches {matching} of the forms of a oneOf; expected exactly one"
    return None


def arguments_problem(schema: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    """The first problem of a tool call's `arguments` under its parameters `schema`."""
    if "__raw__" in arguments and "__raw__" not in (schema.get("properties") or {}):
        return f"the arguments are not valid JSON: {arguments['__raw__']!r}"
    return schema_problem(arguments, schema)
