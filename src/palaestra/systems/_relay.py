"""Actions as members see and compare them, and keeping members' conversations whole.

Several members of a system may propose an action for the same environment step, but
only one action reaches the environment. Two things follow, shared by `Independent`,
`Decentralized` and `Hybrid`:

- **Comparing and showing actions.** `action_key` normalises an action for voting (text
  stripped and case-folded; tool calls by name and arguments, ids ignored) and
  `render_action` writes it in one line for the other members and the log
  (``add({"n": 1})``).
- **Relaying what happened.** A chat model that called a tool expects the tool's result
  as the next message; a member whose call was *not* the one executed would otherwise
  see a result for a call it never made (or none at all), which providers reject.
  `relay` gives each member its own view of the next observation: the environment's
  tool results renamed to the member's own call ids when it proposed the executed calls;
  otherwise a "not executed" answer to each of its calls, followed by a user message
  saying what the system executed and with what result. `not_executed` answers a
  member's pending calls between discussion rounds the same way.
"""

from __future__ import annotations

import json
from collections.abc import Hashable, Sequence

from palaestra.core import Action, Message, Observation, ToolCall

NOT_CHOSEN = "Not executed: the system chose another action (see the next message)."
"""Tool result given to a member for a call of its that the system did not execute."""


def _arguments(call: ToolCall) -> str:
    return json.dumps(call.arguments, sort_keys=True, ensure_ascii=False)


def action_key(action: Action) -> Hashable:
    """What two actions must share to count as the same vote: their tool calls (name
    and arguments, in order; ids and any accompanying text ignored) if they call tools,
    else their text, stripped and case-folded."""
    if action.tool_calls:
        return ("tools", tuple((call.name, _arguments(call)) for call in action.tool_calls))
    return ("text", (action.text or "").strip().casefold())


def render_action(action: Action) -> str:
    """One line for other agents and the log: the text, then each tool call as
    ``name({"arg": value})``."""
    parts = [(action.text or "").strip()]
    parts += [f"{call.name}({_arguments(call)})" for call in action.tool_calls]
    return " ".join(part for part in parts if part)


def is_valid(action: Action, tools: Sequence[str]) -> bool:
    """A usable answer: some text or tool calls, and every tool call names one of the
    environment's `tools` (a call to a tool that does not exist is not an action)."""
    if action.tool_calls:
        return all(call.name in tools for call in action.tool_calls)
    return bool((action.text or "").strip())


def not_executed(calls: Sequence[ToolCall], note: str = NOT_CHOSEN) -> list[Message]:
    """A `tool` message answering each call with `note`, so the caller's conversation
    stays well-formed when its calls were not run."""
    return [Message(role="tool", content=note, tool_call_id=call.id) for call in calls]


def _summary(results: Sequence[Message], executed: Action | None) -> str:
    calls = {call.id: call for call in executed.tool_calls} if executed else {}
    lines = []
    for message in results:
        call = calls.get(message.tool_call_id or "")
        what = f"{call.name}({_arguments(call)})" if call else "a tool call"
        lines.append(f"The system executed {what}; result: {message.content or ''}")
    return "\n".join(lines)


def relay(
    base: Observation,
    *,
    executed: Action | None,
    own: Action | None,
    text: str | None = None,
) -> Observation:
    """The observation `base` as one member should see it, given the action the system
    executed at the previous step (`executed`) and the member's own proposal (`own`).

    `text` replaces the observation's text (e.g. an instruction plus the task); it is
    then also given as the last user message, so that chat operators, which read
    `messages` when there are any, see it.
    """
    text = base.text if text is None else text
    calls = own.tool_calls if own is not None else []
    results = [m for m in base.messages if m.role == "tool"]
    if not calls and not results and text == base.text:
        return base  # nothing to relay (the common case: a text answer, a first step)
    matched = (
        own is not None
        and executed is not None
        and bool(calls)
        and action_key(own) == action_key(executed)
    )
    summary = ""
    if matched:
        assert executed is not None
        ids = {e.id: o.id for e, o in zip(executed.tool_calls, calls, strict=True)}
        messages = [
            m.model_copy(update={"tool_call_id": ids.get(m.tool_call_id or "", m.tool_call_id)})
            if m.role == "tool"
            else m
            for m in base.messages
        ]
        if text == base.text:  # the member's own call, answered: nothing else to say
            return base.model_copy(update={"messages": messages})
    else:
        messages = not_executed(calls) + [m for m in base.messages if m.role != "tool"]
        summary = _summary(results, executed)
    # Say it in a user message: chat operators read `messages` rather than `text` when
    # there are any, and do not add the text after a trailing tool result.
    has_user = any(m.role == "user" for m in messages)
    parts = (summary,) if has_user and text == base.text else (summary, text)
    body = "\n\n".join(part for part in parts if part)
    if body:
        messages.append(Message(role="user", content=body))
    return base.model_copy(update={"messages": messages, "text": text})
