"""Tool schemas are checked when the tool is built: valid JSON Schema, and only the
supported subset; arguments are then checked against every keyword it uses."""

from __future__ import annotations

from typing import Any

import pytest

from palaestra.core import UserError
from palaestra.envs.tooluse import DomainTool
from palaestra.envs.tooluse._schema import validate_arguments


def _tool(properties: dict[str, Any], **schema: Any) -> DomainTool:
    parameters = {"type": "object", "properties": properties, **schema}
    return DomainTool("reserve", "Reserve seats.", parameters, lambda db, **kw: "ok")


@pytest.mark.parametrize(
    ("properties", "keyword", "path"),
    [
        ({"seats": {"anyOf": [{"type": "integer"}, {"type": "null"}]}}, "anyOf", "seats"),
        ({"seats": {"type": ["integer", "null"]}}, "type", "seats"),
        ({"seats": {"type": "integer", "exclusiveMaximum": 9}}, "exclusiveMaximum", "seats"),
        ({"seats": {"type": "integer", "pattern": "[0-9]+"}}, "pattern", "seats"),
        (
            {"who": {"type": "object", "properties": {"x": {"format": "email"}}}},
            "format",
            "who.properties.x",
        ),
        (
            {"ids": {"type": "array", "items": {"type": "string", "const": "a"}}},
            "const",
            "ids.items",
        ),
    ],
)
def test_an_unsupported_keyword_is_refused_when_the_tool_is_built(properties, keyword, path):
    with pytest.raises(UserError) as caught:
        _tool(properties)
    message = str(caught.value)
    assert message.startswith("tool 'reserve': parameters schema keyword ")
    assert f"{keyword!r} at properties.{path}.{keyword}:" in message


def test_an_invalid_schema_is_refused_with_the_meta_schema_error():
    with pytest.raises(
        UserError,
        match=r"not a valid JSON Schema \(Draft 2020-12\) at "
        r"properties.seats.minimum: 'one' is not of type 'number'",
    ):
        _tool({"seats": {"type": "integer", "minimum": "one"}})
    with pytest.raises(UserError, match=r"properties.seats.type: 'int' is not valid"):
        _tool({"seats": {"type": "int"}})
    with pytest.raises(UserError, match="must be an object schema"):
        DomainTool("x", "", {"type": "array"}, lambda db: "")


def test_additional_properties_as_a_schema_is_refused():
    with pytest.raises(UserError, match="only true or false is supported"):
        _tool({}, additionalProperties={"type": "string"})


def test_the_supported_keywords_are_all_checked():
    tool = _tool(
        {
            "seats": {"type": "integer", "minimum": 1, "maximum": 9, "description": "how many"},
            "code": {"type": "string", "minLength": 2, "maxLength": 3, "pattern": "[A-Z]+"},
            "names": {"type": "array", "items": {"type": "string"}, "maxItems": 2},
            "cabin": {"type": "string", "enum": ["economy", "business"]},
        },
        required=["seats"],
        additionalProperties=False,
    )
    schema = tool.parameters
    assert validate_arguments(schema, {"seats": 2, "code": "AB", "names": ["a"]}) is None
    assert "at most 9" in validate_arguments(schema, {"seats": 10})
    assert "at least 1" in validate_arguments(schema, {"seats": 0})
    assert "at least 2 character" in validate_arguments(schema, {"seats": 1, "code": "A"})
    assert "at most 3 character" in validate_arguments(schema, {"seats": 1, "code": "ABCD"})
    assert "must match" in validate_arguments(schema, {"seats": 1, "code": "ab"})
    assert "at most 2 element" in validate_arguments(schema, {"seats": 1, "names": ["a"] * 3})
    assert "one of" in validate_arguments(schema, {"seats": 1, "cabin": "first"})
    assert "unknown argument" in validate_arguments(schema, {"seats": 1, "extra": 1})
