"""Tools an operator can call: a name, a JSON-schema of parameters, an async call.

`@tool` turns a type-hinted Python function (sync or async) into a `Tool`: the schema
comes from the type hints (through pydantic), the description from the docstring, and
each argument's description from its `Args:` section. Arguments are validated before the
function runs.

Errors are classified by who must act (CONVENTIONS.md): an unknown tool, arguments that
do not fit the schema, or an exception raised by the tool's own code are the *model's*
problem and come back as a `ToolOutcome` with `is_error=True` and a message telling the
model what to do next. Misuse of this module by the framework (a non-callable, a
signature that cannot be described) raises.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from palaestra.core import ToolCall, ToolSpec


@dataclass(frozen=True)
class ToolOutcome:
    """What a tool call produced: text for the model, and whether it is an error."""

    content: str
    is_error: bool = False


class Tool:
    """A callable tool with a JSON-schema description.

    `fn` receives validated keyword arguments and returns anything; non-string results
    are JSON-encoded for the model. A `ToolOutcome` is passed on as it is: how a tool
    reports a mistake of the model's (a missing file) as an error worded for it.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
    ):
        if not callable(fn):
            raise TypeError(f"expected a callable for a tool, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or fn.__name__
        doc = inspect.getdoc(fn) or ""
        self.description = description if description is not None else _summary(doc)
        self._args_model = _arguments_model(fn, self.name, _arg_docs(doc))
        self._is_async = inspect.iscoroutinefunction(fn)
        schema = self._args_model.model_json_schema()
        schema.pop("title", None)
        for prop in schema.get("properties", {}).values():
            prop.pop("title", None)
        self.parameters: dict[str, Any] = schema

    @property
    def spec(self) -> ToolSpec:
        """What a model is told about this tool."""
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutcome:
        """Validate `arguments` and run the tool; model-side problems become errors."""
        if "__raw__" in arguments:
            return ToolOutcome(
                f"Error: the arguments for tool '{self.name}' were not valid JSON "
                f"({str(arguments['__raw__'])[:200]!r}). Call it again with a JSON object "
                f"matching its parameters: {json.dumps(self.parameters)}",
                is_error=True,
            )
        try:
            validated = self._args_model.model_validate(dict(arguments))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}"
                for err in exc.errors()
            )
            return ToolOutcome(
                f"Error: invalid arguments for tool '{self.name}': {problems}. "
                f"Expected parameters: {json.dumps(self.parameters)}",
                is_error=True,
            )
        kwargs = {field: getattr(validated, field) for field in type(validated).model_fields}
        try:
            result = self.fn(**kwargs)
            if self._is_async or inspect.isawaitable(result):
                result = await result
        except Exception as exc:  # the tool's own failure: the model may recover
            return ToolOutcome(
                f"Error: tool '{self.name}' failed: {type(exc).__name__}: {exc}. "
                "Check the arguments or try another approach.",
                is_error=True,
            )
        if isinstance(result, ToolOutcome):  # the tool marks its own result (an error)
            return result
        return ToolOutcome(_to_text(result))

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    *, name: str | None = None, description: str | None = None
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a `Tool` from a type-hinted function: `@tool` or `@tool(name=...)`."""
    if fn is not None:
        return Tool(fn, name=name, description=description)

    def wrap(inner: Callable[..., Any]) -> Tool:
        return Tool(inner, name=name, description=description)

    return wrap


def as_tools(items: Sequence[Tool | Callable[..., Any]]) -> dict[str, Tool]:
    """Tools by name from tools or plain functions (adapted once, at the edge)."""
    out: dict[str, Tool] = {}
    for item in items:
        t = item if isinstance(item, Tool) else Tool(item)
        if t.name in out:
            raise ValueError(f"two tools are named {t.name!r}; tool names must be unique")
        out[t.name] = t
    return out


async def execute_tool_call(tools: Mapping[str, Tool], call: ToolCall) -> ToolOutcome:
    """Run `call` against `tools`; an unknown tool name is an error for the model."""
    found = tools.get(call.name)
    if found is None:
        available = ", ".join(sorted(tools)) or "(none)"
        return ToolOutcome(
            f"Error: unknown tool '{call.name}'. Available tools: {available}.",
            is_error=True,
        )
    return await found.call(call.arguments)


def _to_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, BaseModel):
        return result.model_dump_json()
    try:
        return json.dumps(result, default=str)
    except (TypeError, ValueError):
        return str(result)


def _summary(doc: str) -> str:
    """The docstring up to its `Args:`/`Returns:` sections."""
    parts = re.split(r"\n\s*(?:Args|Arguments|Parameters|Returns|Raises):\s*\n", doc, maxsplit=1)
    return parts[0].strip()


def _arg_docs(doc: str) -> dict[str, str]:
    """Per-argument descriptions from a Google-style `Args:` section."""
    match = re.search(r"\n\s*(?:Args|Arguments|Parameters):\s*\n(.*?)(?:\n\s*\n|\Z)", doc, re.S)
    if not match:
        return {}
    out: dict[str, str] = {}
    current = None
    for line in match.group(1).splitlines():
        item = re.match(r"\s*(\w+)\s*(?:\([^)]*\))?:\s*(.*)", line)
        if item:
            current = item.group(1)
            out[current] = item.group(2).strip()
        elif current and line.strip():
            out[current] += " " + line.strip()
    return out


def _arguments_model(fn: Callable[..., Any], name: str, docs: dict[str, str]) -> type[BaseModel]:
    try:
        hints = get_type_hints(fn)
    except Exception as exc:
        raise TypeError(f"cannot read the type hints of tool {name!r}: {exc}") from exc
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"tool {name!r}: *args/**kwargs cannot be described as a schema")
        annotation = hints.get(param.name, Any)
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (annotation, Field(default, description=docs.get(param.name)))
    model: type[BaseModel] = create_model(
        f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields
    )
    return model
