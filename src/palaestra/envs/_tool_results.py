"""What an agent sees after its tool calls ran: one shape for every environment that
executes calls itself (``tooluse.*``, ``code.*``, ``mas.*``).

A result is a dict with ``id``, ``name``, ``content`` and ``error`` (the call's id and
tool name, the text the tool returned, whether it failed). Built here once so that the
text, the tool messages and the counts in ``info`` stay the same everywhere (they feed
the event log's hashes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from palaestra.core import Message, Observation, ToolSpec


def tool_messages(results: Sequence[dict[str, Any]]) -> list[Message]:
    """One ``tool`` message per result, answering its call by id."""
    return [
        Message(role="tool", content=r["content"], name=r["name"], tool_call_id=r["id"])
        for r in results
    ]


def tool_results_observation(
    results: Sequence[dict[str, Any]], *, data: dict[str, Any], tools: list[ToolSpec]
) -> Observation:
    """The observation after a turn of tool calls: each result under its tool name and
    call id in the text, and as a tool message."""
    text = "\n\n".join(f"[{r['name']} ({r['id']})]\n{r['content']}" for r in results)
    return Observation(text=text, data=data, tools=tools, messages=tool_messages(results))


def tool_counts(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ``info`` entries every such step reports."""
    return {
        "source": "tool",
        "tool_calls": len(results),
        "tool_errors": sum(r["error"] for r in results),
    }
