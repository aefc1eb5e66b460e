"""`@tool`: schemas from type hints, validation, and errors the model can recover from."""

from __future__ import annotations

import pytest

from palaestra.core import ToolCall
from palaestra.tools import Tool, ToolOutcome, as_tools, execute_tool_call, tool


@tool
def add(a: int, b: int = 2) -> int:
    """Add two integers.

    Args:
        a: The first number.
        b: The second number.
    """
    return a + b


@tool(name="divide")
async def _divide(x: float, y: float) -> dict[str, float]:
    """Divide x by y."""
    return {"quotient": x / y}


def test_schema_from_type_hints_and_docstring():
    spec = add.spec
    assert spec.name == "add"
    assert spec.description == "Add two integers."
    assert spec.parameters["required"] == ["a"]
    assert spec.parameters["properties"]["a"] == {
        "type": "integer",
        "description": "The first number.",
    }
    assert spec.parameters["properties"]["b"]["default"] == 2
    assert spec.parameters["additionalProperties"] is False


async def test_valid_call_returns_text():
    outcome = await add.call({"a": 3, "b": 4})
    assert (outcome.content, outcome.is_error) == ("7", False)
    outcome = await _divide.call({"x": 1, "y": 4})
    assert outcome.content == '{"quotient": 0.25}'


async def test_bad_arguments_become_a_recoverable_error():
    outcome = await add.call({"a": "three"})
    assert outcome.is_error
    assert "invalid arguments for tool 'add'" in outcome.content
    assert "a:" in outcome.content and '"required": ["a"]' in outcome.content
    missing = await add.call({})
    assert missing.is_error and "Field required" in missing.content
    extra = await add.call({"a": 1, "c": 2})
    assert extra.is_error and "c:" in extra.content


async def test_exception_in_tool_becomes_error_observation():
    outcome = await _divide.call({"x": 1, "y": 0})
    assert outcome.is_error
    assert "ZeroDivisionError" in outcome.content and "divide" in outcome.content


async def test_a_tool_may_return_its_own_outcome_marked_as_an_error():
    @tool
    def lookup(key: str) -> ToolOutcome | str:
        """Look a key up."""
        if key != "a":
            return ToolOutcome(f"Error: no key {key!r}; known keys: a", is_error=True)
        return "1"

    assert await lookup.call({"key": "a"}) == ToolOutcome("1")
    missing = await lookup.call({"key": "b"})
    assert missing == ToolOutcome("Error: no key 'b'; known keys: a", is_error=True)


async def test_unparsable_json_arguments():
    outcome = await add.call({"__raw__": "{a: 1"})
    assert outcome.is_error and "not valid JSON" in outcome.content


async def test_unknown_tool_lists_available():
    tools = as_tools([add, _divide])
    outcome = await execute_tool_call(tools, ToolCall(id="1", name="mul", arguments={}))
    assert outcome.is_error
    assert "unknown tool 'mul'" in outcome.content and "add, divide" in outcome.content


def test_plain_functions_adapted_and_duplicates_refused():
    def shout(text: str) -> str:
        """Upper-case it."""
        return text.upper()

    tools = as_tools([shout])
    assert isinstance(tools["shout"], Tool)
    with pytest.raises(ValueError, match="two tools are named"):
        as_tools([add, add])


def test_framework_misuse_raises():
    with pytest.raises(TypeError):
        Tool(42)  # type: ignore[arg-type]

    def varargs(*items: int) -> int:
        return sum(items)

    with pytest.raises(TypeError, match=r"\*args"):
        Tool(varargs)
