"""SFT data: chat-format training samples (OpenAI format) from a run's event logs.

One record per conversation of an agent:

```
{"messages": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."},
              {"role": "assistant", "content": null, "tool_calls": [{"id": "call_0",
                "type": "function", "function": {"name": "f", "arguments": "{\\"x\\": 1}"}}]},
              {"role": "tool", "tool_call_id": "call_0", "content": "..."}, ...],
 "tools": [{"type": "function", "function": {"name": "f", "description": "...",
            "parameters": {...JSON schema...}}}],
 "metadata": {"run_id": ..., "episode_id": ..., "agent": ..., "env": ..., "task": ...,
              "score": ..., "success": ..., "source": "model" | "actions"}}
```

**Agents with a model** (LLM operators): a sample is a model request's messages plus its
successful response. Every call of a growing conversation repeats the earlier ones, so
samples are deduplicated by prefix: a call's sample is dropped when a later call of the
same agent in the episode starts with exactly that sample (the conversation went on), and
kept otherwise. A conversation therefore gives one sample, its last call; a conversation
that was reset, trimmed, or a member consulted afresh gives its own. Failed attempts (no
message) give nothing.

**Agents without a model** (baselines, scripted operators, e.g. tau-bench's ground-truth
agent): one sample from their observations (the chat `messages` they carry, or the text
as a user message), messages received (user, with the sender's `name`) and their actions
(assistant turns with tool calls or text): expert demonstrations.

By default only successful episodes are used (`all_episodes=True` for all). A tool call
whose arguments were not valid JSON keeps the model's raw text as `arguments`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from palaestra.core import EpisodeLog, Event, Message, ToolCall, ToolSpec, UserError
from palaestra.store._jsonl import _opened
from palaestra.store._rows import EpisodeRow


def _call_json(call: ToolCall) -> dict[str, Any]:
    raw = call.arguments.get("__raw__")
    arguments = (
        raw
        if isinstance(raw, str) and len(call.arguments) == 1
        else json.dumps(call.arguments, ensure_ascii=False)
    )
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    }


def openai_message(message: Message) -> dict[str, Any]:
    """One message in the OpenAI chat format."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.name and message.role in ("user", "assistant", "system"):
        out["name"] = message.name
    if message.tool_calls:
        out["tool_calls"] = [_call_json(c) for c in message.tool_calls]
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id
    return out


def openai_tool(spec: ToolSpec) -> dict[str, Any]:
    """One tool in the OpenAI `tools` format."""
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": spec.description,
            "parameters": spec.parameters,
        },
    }


def _model_samples(
    log: EpisodeLog, agent: str
) -> list[tuple[list[dict[str, Any]], list[ToolSpec]]]:
    kept: list[tuple[list[dict[str, Any]], list[ToolSpec]]] = []
    for event in log.of_agent(agent):
        if event.kind != "model_response":
            continue
        request_event = log.request_of(event)
        if request_event is None or request_event.agent != agent:
            continue
        message = event.payload.message  # type: ignore[attr-defined]
        if message is None:
            continue
        request: Any = request_event.payload
        sample = [openai_message(m) for m in request.messages] + [openai_message(message)]
        kept = [
            (k, tools) for k, tools in kept if not (len(k) <= len(sample) and sample[: len(k)] == k)
        ]
        kept.append((sample, list(request.tools)))
    return kept


def _action_sample(
    events: Sequence[Event], agent: str
) -> tuple[list[dict[str, Any]], list[ToolSpec]]:
    messages: list[dict[str, Any]] = []
    tools: dict[str, ToolSpec] = {}
    for event in events:
        p: Any = event.payload
        if event.kind == "observation" and event.agent == agent:
            for spec in p.observation.tools:
                tools.setdefault(spec.name, spec)
            if p.observation.messages:
                messages += [openai_message(m) for m in p.observation.messages]
            elif p.observation.text:
                messages.append({"role": "user", "content": p.observation.text})
        elif event.kind == "action" and event.agent == agent:
            action = p.action
            if action.tool_calls or action.text is not None:
                out: dict[str, Any] = {"role": "assistant", "content": action.text}
                if action.tool_calls:
                    out["tool_calls"] = [_call_json(c) for c in action.tool_calls]
                messages.append(out)
        elif event.kind == "message":
            if p.sender == agent:
                messages.append({"role": "assistant", "content": p.content})
            elif agent in p.recipients:
                messages.append({"role": "user", "content": p.content, "name": p.sender})
    has_reply = any(m["role"] == "assistant" for m in messages)
    return (messages if has_reply else []), list(tools.values())


def episode_sft(
    events: EpisodeLog | Sequence[Event],
    *,
    run_id: str = "",
    row: EpisodeRow | None = None,
    agents: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The SFT records of one episode (all its agents, or those named)."""
    log = EpisodeLog.of(events)
    if not log.events:
        return []
    start: Any = log.events[0].payload
    names = list(getattr(start, "agents", []))
    for agent in log.agents:
        if agent != "env" and agent not in names:
            names.append(agent)
    score = log.scores[0] if log.scores else None
    records = []
    for agent in names:
        if agents is not None and agent not in agents:
            continue
        with_model = any(e.kind == "model_request" for e in log.of_agent(agent))
        samples = _model_samples(log, agent) if with_model else [_action_sample(log.events, agent)]
        for messages, tools in samples:
            if not messages:
                continue
            records.append(
                {
                    "messages": messages,
                    "tools": [openai_tool(t) for t in tools],
                    "metadata": {
                        "run_id": run_id or (row.run_id if row else ""),
                        "episode_id": log.episode_id,
                        "agent": agent,
                        "env": getattr(start, "env", ""),
                        "task": getattr(start, "task", ""),
                        "score": getattr(score, "value", None),
                        "success": getattr(score, "success", None),
                        "source": "model" if with_model else "actions",
                    },
                }
            )
    return records


def iter_sft(
    store: Any,
    run_id: str,
    *,
    all_episodes: bool = False,
    agents: Sequence[str] | None = None,
) -> Iterator[dict[str, Any]]:
    """SFT records of a run, episode by episode: successful episodes only unless
    `all_episodes`; every agent unless `agents` names some."""
    if store.get_run(run_id) is None:
        raise UserError(f"no run {run_id!r} in store {store.path}")
    for row in store.episodes(run_id, status="finished"):
        if not all_episodes and not (row.success or row.outcome == "success"):
            continue
        yield from episode_sft(
            store.events(run_id, row.episode_id), run_id=run_id, row=row, agents=agents
        )


def export_sft(
    store: Any,
    run_id: str,
    fp_or_path: str | Path | IO[str],
    *,
    all_episodes: bool = False,
    agents: Sequence[str] | None = None,
    metadata: bool = True,
) -> int:
    """Write the run's SFT records as JSONL; returns how many. `metadata=False` writes
    only `messages` and `tools` (what OpenAI's fine-tuning upload accepts)."""
    written = 0
    with _opened(fp_or_path, "w") as (fp, _name):
        for record in iter_sft(store, run_id, all_episodes=all_episodes, agents=agents):
            if not metadata:
                record.pop("metadata")
            fp.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
    return written


def _hf_message(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "role": message["role"],
        "content": message.get("content"),
        "name": message.get("name"),
        "tool_call_id": message.get("tool_call_id"),
        "tool_calls": message.get("tool_calls", []),
    }


def to_hf_dataset(
    store: Any,
    run_id: str,
    *,
    all_episodes: bool = False,
    agents: Sequence[str] | None = None,
) -> Any:
    """The run's SFT records as a Hugging Face `datasets.Dataset` (in memory).

    Columns: `messages` (every message with all of role, content, name, tool_call_id,
    tool_calls, None where absent, so the Arrow schema is fixed), `tools` (a JSON string:
    tool schemas differ too much for one Arrow type; `json.loads` it, or pass it to a chat
    template), and the metadata fields as columns. Needs `pip install 'palaestra[hf]'`.
    """
    try:
        import datasets
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise UserError("to_hf_dataset needs `datasets`: pip install 'palaestra[hf]'") from None
    call = datasets.Features(
        {
            "id": datasets.Value("string"),
            "type": datasets.Value("string"),
            "function": {"name": datasets.Value("string"), "arguments": datasets.Value("string")},
        }
    )
    features = datasets.Features(
        {
            "messages": datasets.List(
                {
                    "role": datasets.Value("string"),
                    "content": datasets.Value("string"),
                    "name": datasets.Value("string"),
                    "tool_call_id": datasets.Value("string"),
                    "tool_calls": datasets.List(call),
                }
            ),
            "tools": datasets.Value("string"),
            "run_id": datasets.Value("string"),
            "episode_id": datasets.Value("string"),
            "agent": datasets.Value("string"),
            "env": datasets.Value("string"),
            "task": datasets.Value("string"),
            "score": datasets.Value("float64"),
            "success": datasets.Value("bool"),
            "source": datasets.Value("string"),
        }
    )
    rows = [
        {
            "messages": [_hf_message(m) for m in record["messages"]],
            "tools": json.dumps(record["tools"], ensure_ascii=False),
            **record["metadata"],
        }
        for record in iter_sft(store, run_id, all_episodes=all_episodes, agents=agents)
    ]
    return datasets.Dataset.from_list(rows, features=features)
