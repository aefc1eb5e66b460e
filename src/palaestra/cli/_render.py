"""Text renderings for the CLI: run lists, episode lines, event timelines.

Recorded text goes through `printable` (cli/_terminal.py) here, so a line's width is
that of what the terminal shows; `main` escapes all standard output again (idempotent).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from palaestra.cli._terminal import printable

if TYPE_CHECKING:
    from palaestra.core import Event


def when(unix_time: float | None) -> str:
    """A stored Unix time as ISO 8601 in UTC, to the second, with its offset
    (``2026-12-08T00:13:23+00:00``); ``-`` for none. Every time the CLI prints goes
    through here, so they read the same everywhere."""
    if unix_time is None:
        return "-"
    return datetime.fromtimestamp(unix_time, UTC).isoformat(timespec="seconds")


def _clip(text: str | None, limit: int = 100) -> str:
    """`text` on one line (runs of whitespace, newlines included, made one space), cut to
    `limit` characters, control and bidi characters escaped."""
    if text is None:
        return ""
    flat = " ".join(str(text).split())
    return printable(flat if len(flat) <= limit else flat[: limit - 3] + "...")


def event_summary(event: Event) -> str:
    """One line saying what an event holds (terminal-safe: see `printable`)."""
    return printable(_summary(event), keep="")


def _summary(event: Event) -> str:
    p: Any = event.payload
    kind = event.kind
    if kind == "episode_start":
        return f"{p.env} task={p.task} seed={p.seed} epoch={p.epoch} agents={len(p.agents)}"
    if kind == "observation":
        obs = p.observation
        tools = f" tools={len(obs.tools)}" if obs.tools else ""
        return _clip(obs.text or json.dumps(obs.data)) + tools
    if kind == "model_request":
        last = p.messages[-1] if p.messages else None
        said = _clip(last.content if last else "", 70)
        return f"{p.model} messages={len(p.messages)} last[{last.role if last else '-'}]: {said}"
    if kind == "model_response":
        if p.error:
            resent = " (re-sent at once)" if p.resent else ""
            return f"attempt {p.attempt} FAILED{resent}: {_clip(p.error, 80)}"
        msg = p.message
        calls = ", ".join(c.name for c in msg.tool_calls) if msg and msg.tool_calls else ""
        text = _clip(msg.content if msg else "", 70)
        usage = f" [{p.usage.input_tokens}+{p.usage.output_tokens} tok]"
        return (f"calls {calls} " if calls else "") + text + usage
    if kind == "tool_call":
        return f"{p.call.name}({_clip(json.dumps(p.call.arguments), 80)})"
    if kind == "tool_result":
        return ("ERROR " if p.is_error else "") + _clip(p.content, 90)
    if kind == "message":
        round_ = f" [round {p.round}]" if p.round is not None else ""
        return f"{p.sender} → {', '.join(p.recipients)}{round_}: {_clip(p.content, 80)}"
    if kind == "action":
        a = p.action
        parts = []
        if a.tool_calls:
            parts.append(
                "calls "
                + ", ".join(f"{c.name}({_clip(json.dumps(c.arguments), 40)})" for c in a.tool_calls)
            )
        if a.text:
            parts.append(_clip(a.text, 80))
        if a.data:
            parts.append(_clip(json.dumps(a.data), 80))
        return " | ".join(parts) or "(empty)"
    if kind == "env_step":
        flags = [f for f in ("terminated", "truncated") if getattr(p, f)]
        rewards = {k: round(v, 3) for k, v in p.rewards.items() if v}
        return f"rewards={rewards or 0} {' '.join(flags)}".strip()
    if kind == "workspace":
        listed = ", ".join(f.path for f in p.files)
        cut = " (truncated)" if p.truncated else ""
        head = f"{p.total_files} files, {p.total_bytes} bytes{cut}"
        return f"{head}: {_clip(listed, 80)}" if listed else head
    if kind == "score":
        return f"value={p.value:.3f} success={p.success} {_clip(p.explanation, 70)}"
    if kind == "contract_verdict":
        if p.passed:
            return f"PASS {p.contract}"
        where = f" at seq {p.first_violation}" if p.first_violation is not None else ""
        who = f" ({p.agent}, step {p.step})" if p.agent is not None else ""
        return f"FAIL {p.contract}{where}{who}: {_clip(p.detail, 90)}"
    if kind == "episode_end":
        usage = p.usage
        text = (
            f"{p.outcome} ({p.reason}) steps={p.steps} reward={p.total_reward:.3f} "
            f"tokens={usage.input_tokens + usage.output_tokens} wall={event.duration_s:.2f}s"
        )
        return text + (f" error: {_clip(p.error, 120)}" if p.error else "")
    return _clip(json.dumps(p.model_dump(mode="json")), 100)


AGENT_WIDTH = 40
"""Widest agent column (indent included) before names are clipped."""


def timeline(events: list[Event]) -> str:
    """Events as an indented tree: each event under its parent (a tool call under its
    model turn, a member's turn under the message that consulted it), and an internal
    agent (``agent/team/worker``) at least as deep as its nesting in the system."""
    depth: dict[int, int] = {}
    heads = []
    for event in events:
        level = depth.get(event.parent, -1) + 1 if event.parent is not None else 0
        if event.agent != "env":
            level = max(level, event.agent.count("/"))
        depth[event.seq] = level
        heads.append("  " * level + printable(event.agent))
    width = min(max((len(h) for h in heads), default=0), AGENT_WIDTH)
    violated = violations(events)
    lines = []
    for event, head in zip(events, heads, strict=True):
        if len(head) > width:
            head = head[: width - 3] + "..."
        mark = violated.get(event.seq)
        lines.append(
            f"{event.seq:>5} s{event.step:<3} {head:<{width}} "
            f"{event.kind:<15} {event_summary(event)}"
            + (f"  <-- violates {', '.join(mark)}" if mark else "")
        )
    return "\n".join(lines)


def violations(events: list[Event]) -> dict[int, list[str]]:
    """Seq of each first violating event → the contracts its log says it violates."""
    out: dict[int, list[str]] = {}
    for event in events:
        p: Any = event.payload
        if event.kind == "contract_verdict" and not p.passed and p.first_violation is not None:
            out.setdefault(p.first_violation, []).append(p.contract)
    return out
