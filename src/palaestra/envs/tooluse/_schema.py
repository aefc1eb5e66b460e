"""Validation of tool-call arguments against a tool's JSON schema, and of the schema
itself when the tool is built.

A tool's `parameters` is checked once, when the `DomainTool` is made (`check_schema`):
it must be a valid JSON Schema (Draft 2020-12, checked against the meta-schema) and use
only the subset below, else a `UserError` names the tool, the keyword and where it is.
A keyword outside the subset is refused, never ignored: a `maximum` the arguments were
not checked against, or an `anyOf` failing in the middle of an episode, would be worse.

The supported subset (`SUPPORTED`), per schema:

- `type`: one of `string`, `integer`, `number`, `boolean`, `array`, `object` (a single
  name, not a list); the top-level schema is an `object`;
- `enum`; numbers: `minimum`, `maximum`; strings: `pattern` (matched in full),
  `minLength`, `maxLength`; arrays: `items` (one schema), `minItems`, `maxItems`;
  objects: `properties`, `required`, `additionalProperties` (true or false);
- annotations, not checked: `description`, `title`, `examples`, `default`.

The result of `validate_arguments` is an error message written for the model (what is
wrong, what is expected), never an exception: a bad call is a mistake the agent must
be able to fix.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from palaestra.core import UserError

_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "array": "a list",
    "object": "an object",
}


SUPPORTED: dict[str, tuple[str, ...]] = {
    "any": ("type", "enum", "description", "title", "examples", "default"),
    "number": ("minimum", "maximum"),
    "integer": ("minimum", "maximum"),
    "string": ("pattern", "minLength", "maxLength"),
    "array": ("items", "minItems", "maxItems"),
    "object": ("properties", "required", "additionalProperties"),
    "boolean": (),
}
"""The keywords a tool's schema may use: for any schema, and by its `type`."""


def check_schema(tool: str, schema: Any) -> None:
    """Refuse a tool's parameters schema that is not valid JSON Schema (Draft 2020-12)
    or that uses a keyword outside the supported subset; the `UserError` names the tool,
    the keyword and its path (``properties.qty.maximum``)."""
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise UserError(
            f"tool {tool!r}: its parameters must be an object schema "
            f"({{'type': 'object', 'properties': {{...}}}}), got {schema!r:.120}"
        )
    text = json.dumps(schema, sort_keys=True, default=repr)
    if text not in _VALID:
        _check_meta(tool, schema)
        _check_node(tool, schema, "")
        _VALID.add(text)


_VALID: set[str] = set()
"""Schemas (as canonical JSON) already checked: domains repeat theirs (an id, a date)."""


@functools.cache
def _meta_validator() -> Any:
    """The validator of the Draft 2020-12 meta-schema, built once (jsonschema is
    imported here: only a domain's tools need it)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(Draft202012Validator.META_SCHEMA)


def _check_meta(tool: str, schema: dict[str, Any]) -> None:
    """The schema against the Draft 2020-12 meta-schema."""
    from jsonschema.exceptions import best_match

    error = best_match(_meta_validator().iter_errors(schema))
    if error is not None:
        where = ".".join(str(part) for part in error.path) or "(the schema)"
        raise UserError(
            f"tool {tool!r}: its parameters are not a valid JSON Schema (Draft 2020-12) "
            f"at {where}: {error.message}"
        )


def _check_node(tool: str, schema: dict[str, Any], path: str) -> None:
    def refuse(keyword: str, why: str) -> UserError:
        return UserError(
            f"tool {tool!r}: parameters schema keyword {keyword!r} at "
            f"{(path + '.' if path else '') + keyword}: {why}"
        )

    kind = schema.get("type")
    if kind is not None and not (isinstance(kind, str) and kind in SUPPORTED):
        raise refuse(
            "type",
            f"{kind!r} is not supported; use one of {', '.join(_TYPE_NAMES)} (one name, "
            f"not a list)",
        )
    allowed = SUPPORTED["any"] + (SUPPORTED[kind] if kind else ())
    for keyword in schema:
        if keyword not in allowed:
            where = f"for type {kind!r}" if kind else "without a `type`"
            raise refuse(
                keyword,
                f"not supported {where} (supported: {', '.join(allowed)}; "
                f"see palaestra.envs.tooluse._schema)",
            )
    if schema.get("additionalProperties") not in (None, True, False):
        raise refuse("additionalProperties", "only true or false is supported, not a schema")
    items = schema.get("items")
    if items is not None:
        if not isinstance(items, dict):
            raise refuse("items", "must be one schema")
        _check_node(tool, items, f"{path}.items" if path else "items")
    for name, sub in (schema.get("properties") or {}).items():
        _check_node(tool, sub, f"{path}.properties.{name}" if path else f"properties.{name}")


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
    if "maximum" in schema and value > schema["maximum"]:
        return f"argument '{path}' must be at most {schema['maximum']}, got {value!r}"
    if "minLength" in schema and len(value) < schema["minLength"]:
        return f"argument '{path}' needs at least {schema['minLength']} character(s)"
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        return f"argument '{path}' takes at most {schema['maxLength']} character(s)"
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
