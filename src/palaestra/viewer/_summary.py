"""What the timeline shows of one event without opening it: a one-line summary and a few
typed facts (tokens, latency, tool name, decision, verdict), read from the stored JSON.

The viewer works on the event's JSON as plain data (`json.loads`, no pydantic
validation): a page of events is summarised in well under a millisecond per event, and
an event written by a newer palaestra with a field this one does not know still shows.
Every accessor tolerates a missing field, so a malformed payload gives a shorter
summary, never a failed page.
"""

from __future__ import annotations

import json
from typing import Any

SUMMARY_LIMIT = 160
"""Longest summary line, in characters."""


def clip(text: Any, limit: int = 100) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    if text is None:
        return ""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _compact(value: Any, limit: int) -> str:
    return clip(json.dumps(value, ensure_ascii=False, separators=(",", ":")), limit)


def _calls(calls: Any, limit: int = 60) -> str:
    if not isinstance(calls, list):
        return ""
    return ", ".join(
        f"{c.get('name', '?')}({_compact(c.get('arguments', {}), limit)})"
        for c in calls
        if isinstance(c, dict)
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _summary(kind: str, p: dict[str, Any]) -> str:
    if kind == "episode_start":
        agents = p.get("agents") or []
        return (
            f"{p.get('env', '?')} task={p.get('task', '?')} seed={p.get('seed', '?')} "
            f"epoch={p.get('epoch', 0)} agents={', '.join(map(str, agents)) or '-'}"
        )
    if kind == "observation":
        obs = _dict(p.get("observation"))
        text = obs.get("text") or (_compact(obs.get("data"), 120) if obs.get("data") else "")
        tools = obs.get("tools") or []
        return clip(text, 130) + (f"  [{len(tools)} tools]" if tools else "")
    if kind == "model_request":
        messages = p.get("messages") or []
        last = _dict(messages[-1]) if messages else {}
        said = clip(last.get("content") or _calls(last.get("tool_calls")), 90)
        return f"{p.get('model', '?')} ({len(messages)} messages) {last.get('role', '-')}: {said}"
    if kind == "model_response":
        if p.get("error"):
            resent = " (re-sent at once)" if p.get("resent") else ""
            return f"attempt {p.get('attempt', 1)} failed{resent}: {clip(p['error'], 120)}"
        msg = _dict(p.get("message"))
        calls = _calls(msg.get("tool_calls"))
        text = clip(msg.get("content"), 100)
        return " | ".join(part for part in (f"calls {calls}" if calls else "", text) if part)
    if kind == "tool_call":
        call = _dict(p.get("call"))
        return f"{call.get('name', '?')}({_compact(call.get('arguments', {}), 120)})"
    if kind == "tool_result":
        prefix = "ERROR " if p.get("is_error") else ""
        return f"{prefix}{p.get('name', '')}: {clip(p.get('content'), 120)}"
    if kind == "message":
        recipients = ", ".join(map(str, p.get("recipients") or []))
        round_ = f" [round {p['round']}]" if p.get("round") is not None else ""
        return f"{p.get('sender', '?')} → {recipients}{round_}: {clip(p.get('content'), 110)}"
    if kind == "action":
        action = _dict(p.get("action"))
        parts = []
        if action.get("tool_calls"):
            parts.append("calls " + _calls(action["tool_calls"], 50))
        if action.get("text"):
            parts.append(clip(action["text"], 100))
        if action.get("data"):
            parts.append(_compact(action["data"], 80))
        return " | ".join(parts) or "(empty action)"
    if kind == "env_step":
        rewards = {k: round(v, 3) for k, v in _dict(p.get("rewards")).items() if v}
        flags = " ".join(f for f in ("terminated", "truncated") if p.get(f))
        return f"rewards {rewards or 0} {flags}".strip()
    if kind == "memory_read":
        hit = f"hit {p.get('matched_key')!s}" if p.get("hit") else "miss"
        return f"{p.get('memory') or 'memory'}[{p.get('key', '?')}]: {hit}"
    if kind == "memory_write":
        admitted = "admitted" if p.get("admitted", True) else f"rejected: {p.get('reason', '')}"
        return f"{p.get('memory') or 'memory'}[{p.get('key', '?')}] {admitted}"
    if kind == "governance":
        target = f" on {p['target']}" if p.get("target") else ""
        return f"{str(p.get('decision', '?')).upper()}{target} by rule {p.get('rule', '?')}"
    if kind == "fault":
        detail = _compact(p["detail"], 80) if p.get("detail") else ""
        return f"injected {p.get('fault', '?')} at {p.get('target', '?')} {detail}".strip()
    if kind == "contract_verdict":
        verdict = "passed" if p.get("passed") else "VIOLATED"
        where = f" at #{p['first_violation']}" if p.get("first_violation") is not None else ""
        return f"{p.get('contract', '?')} {verdict}{where} {clip(p.get('detail'), 90)}".strip()
    if kind == "workspace":
        entries: Any = p.get("files")
        listed: list[Any] = entries if isinstance(entries, list) else []
        files = [str(_dict(f).get("path", "?")) for f in listed]
        cut = " (truncated)" if p.get("truncated") else ""
        head = f"{p.get('total_files', 0)} files, {p.get('total_bytes', 0)} bytes{cut}"
        return f"{head}: {clip(', '.join(files), 100)}" if files else head
    if kind == "score":
        value = p.get("value")
        shown = f"{value:.3f}" if isinstance(value, int | float) else "?"
        return f"score {shown} success={p.get('success')} {clip(p.get('explanation'), 100)}"
    if kind == "episode_end":
        text = f"{p.get('outcome', '?')} ({p.get('reason', '?')}) steps={p.get('steps', 0)}"
        return text + (f" error: {clip(p['error'], 120)}" if p.get("error") else "")
    return _compact(p, 120)


def _facts(kind: str, p: dict[str, Any]) -> dict[str, Any]:
    """Typed facts the timeline shows as badges."""
    facts: dict[str, Any] = {}
    if kind == "model_request":
        facts["model"] = p.get("model")
    elif kind == "model_response":
        usage = _dict(p.get("usage"))
        facts["input_tokens"] = usage.get("input_tokens", 0)
        facts["output_tokens"] = usage.get("output_tokens", 0)
        if usage.get("cost_usd"):
            facts["cost_usd"] = usage["cost_usd"]
        if p.get("model"):
            facts["model"] = p["model"]
        facts["attempt"] = p.get("attempt", 1)
        facts["error"] = bool(p.get("error"))
    elif kind == "tool_call":
        facts["tool"] = _dict(p.get("call")).get("name")
    elif kind == "tool_result":
        facts["tool"] = p.get("name")
        facts["error"] = bool(p.get("is_error"))
    elif kind == "governance":
        facts["decision"] = p.get("decision")
        facts["rule"] = p.get("rule")
    elif kind == "fault":
        facts["fault"] = p.get("fault")
    elif kind == "contract_verdict":
        facts["passed"] = p.get("passed")
        facts["contract"] = p.get("contract")
    elif kind == "workspace":
        facts["files"] = p.get("total_files", 0)
        facts["truncated"] = bool(p.get("truncated"))
    elif kind == "score":
        facts["value"] = p.get("value")
        facts["success"] = p.get("success")
    elif kind == "episode_end":
        facts["outcome"] = p.get("outcome")
        facts["reason"] = p.get("reason")
        usage = _dict(p.get("usage"))
        facts["input_tokens"] = usage.get("input_tokens", 0)
        facts["output_tokens"] = usage.get("output_tokens", 0)
        facts["error"] = p.get("outcome") == "error"
    elif kind == "message":
        facts["recipients"] = p.get("recipients") or []
    return facts


def describe_event(data: dict[str, Any]) -> dict[str, Any]:
    """The timeline entry of one stored event (its parsed JSON): place, who, kind,
    `summary` (one line), `facts` (typed badges) and wall-clock `time` / `duration_s`
    (a model attempt's latency, a tool's run time)."""
    kind = str(data.get("kind", "?"))
    payload = _dict(data.get("payload"))
    try:
        summary = _summary(kind, payload)
    except (TypeError, ValueError, KeyError, AttributeError):  # a payload of another shape
        summary = _compact(payload, 120)
    return {
        "seq": data.get("seq"),
        "step": data.get("step"),
        "agent": data.get("agent"),
        "kind": kind,
        "parent": data.get("parent"),
        "time": data.get("time"),
        "duration_s": data.get("duration_s", 0.0),
        "summary": clip(summary, SUMMARY_LIMIT),
        "facts": _facts(kind, payload),
    }
