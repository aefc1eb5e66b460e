"""Evidence rule for injected faults: which boundary a `fault` event hit, whether the
faulted call was made good, and the finding it yields (a platform category).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Literal

from palaestra.assurance._log import Finding, Log, finding
from palaestra.core import Event, Fault, ModelResponseEvent, ToolCallEvent

Boundary = Literal["model", "tool", "memory", "message", "env"]
"""Where a fault was injected."""

BOUNDARY_CATEGORY: dict[str, str] = {
    "model": "model_failure",
    "tool": "tool_failure",
    "memory": "memory_failure",
    "message": "communication_failure",
    "env": "env_failure",
}

_PARENT_BOUNDARY = {
    "model_request": "model",
    "model_response": "model",
    "tool_call": "tool",
    "tool_result": "tool",
    "memory_read": "memory",
    "memory_write": "memory",
    "message": "message",
    "observation": "env",
    "action": "env",
    "env_step": "env",
    "episode_start": "env",
}
_TARGET_BOUNDARY = {
    "model": "model",
    "llm": "model",
    "tool": "tool",
    "tools": "tool",
    "memory": "memory",
    "message": "message",
    "messages": "message",
    "env": "env",
    "environment": "env",
    "observation": "env",
    "action": "env",
    "user": "env",
}

DELAY_FAULT = re.compile(r"delay|latency|slow", re.IGNORECASE)
ERROR_FAULT = re.compile(r"error|timeout|exception|unavailable|fail|rate|crash|status", re.I)


def fault_boundary(log: Log, event: Event) -> str:
    """The boundary a `fault` event hit: its `detail.boundary` if given, else from the
    kind of the event it hangs under, else from the first word of its target
    (`tool:lookup` → tool), else `env`."""
    p: Fault = event.payload  # type: ignore[assignment]
    given = p.detail.get("boundary")
    if isinstance(given, str) and given in BOUNDARY_CATEGORY:
        return given
    parent = log.parent(event)
    if parent is not None and parent.kind in _PARENT_BOUNDARY:
        return _PARENT_BOUNDARY[parent.kind]
    head = re.split(r"[:./ ]", p.target.strip().lower(), maxsplit=1)[0]
    return _TARGET_BOUNDARY.get(head, "env")


def fault_target_name(log: Log, event: Event) -> str:
    """The tool or model a fault hit: the name under its parent call, else its target
    after the boundary word (`tool:lookup` → lookup)."""
    parent = log.parent(event)
    if parent is not None and isinstance(parent.payload, ToolCallEvent):
        return parent.payload.call.name
    target: str = event.payload.target  # type: ignore[attr-defined]
    parts = re.split(r"[:./ ]", target, maxsplit=1)
    return parts[1] if len(parts) == 2 else target


def fault_recovered(log: Log, event: Event, boundary: str) -> bool:
    """Whether the faulted call was made good later by the same agent: a successful
    model response (model), a successful result of the same tool (tool), a memory hit
    or admitted write (memory). Env and message faults show no recovery. The agent is
    `detail.agent` when the fault names it (faults recorded by the environment wrapper
    are the `env`'s events), else the fault event's own agent."""
    named = event.payload.detail.get("agent")  # type: ignore[attr-defined]
    agent = named if isinstance(named, str) else event.agent
    after = [e for e in log.events if e.seq > event.seq and e.agent == agent]
    if boundary == "model":
        return any(
            isinstance(e.payload, ModelResponseEvent) and e.payload.error is None for e in after
        )
    if boundary == "tool":
        return log.tool_recovered(agent, fault_target_name(log, event), event.seq)
    if boundary == "memory":
        return any(
            (e.kind == "memory_read" and e.payload.hit)  # type: ignore[attr-defined]
            or (e.kind == "memory_write" and e.payload.admitted)  # type: ignore[attr-defined]
            for e in after
        )
    return False


def fault_findings(log: Log) -> Iterator[Finding]:
    """Each injected `fault`, labelled with its boundary's platform category. By the
    fault's name: a delay (delay, latency, slow) is decisive only when the episode ran
    out of budget; an error (error, timeout, exception, unavailable, fail, rate, crash,
    status) is decisive unless the faulted call was made good later (`fault_recovered`);
    any other fault alters content (malformed, truncated, injected text, dropped
    message), which the log cannot show being undone: decisive, medium confidence."""
    for event in log.events:
        p = event.payload
        if not isinstance(p, Fault):
            continue
        boundary = fault_boundary(log, event)
        category = BOUNDARY_CATEGORY[boundary]
        text = f"injected fault {p.fault!r} at {boundary} boundary ({p.target or '-'})"
        if DELAY_FAULT.search(p.fault):
            decisive = log.end.reason == "budget"
            note = "; the episode then ran out of budget" if decisive else "; a delay only"
            yield finding(event, category, decisive, "medium", text + note, injected=True)
        elif ERROR_FAULT.search(p.fault):
            if fault_recovered(log, event, boundary):
                yield finding(
                    event,
                    category,
                    False,
                    "low",
                    text + "; the call was made good later",
                    injected=True,
                )
            else:
                yield finding(
                    event, category, True, "high", text + "; never recovered", injected=True
                )
        else:
            yield finding(
                event,
                category,
                True,
                "medium",
                text + "; it altered what the agent saw, and the episode failed",
                injected=True,
            )
