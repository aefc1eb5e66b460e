"""OpenTelemetry GenAI export: a run's event logs as traces, through the OpenTelemetry SDK.

One trace per episode, spans named and attributed after the GenAI semantic conventions
(status: development; `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`):

```
invoke_workflow {env}                      the episode (root)
  invoke_agent {agent}                     one agent turn: an observation and what it caused
    chat {model}                           one model call (a request and its attempts)
      execute_tool {tool}                  an operator's own tool (tool_call -> tool_result)
        ...                                (nested by the log's `parent` links)
    execute_tool {tool}                    an environment tool the turn's action called
    invoke_agent {member}                  a member of a system consulted within the turn
```

Nesting follows the log's `parent` links: an event's span hangs under the span of its
nearest ancestor that has one. A turn starts at an `observation`, or at the first event
of an agent whose parent event is another agent's (a message consulting a member).
Start and end times come from the events' `time` (a model call ends at its last
response, a tool at its result, a turn or the episode at its last descendant).
Environment steps, scores (as `gen_ai.evaluation.result`), governance decisions, faults
and contract verdicts become span events. Message content (`gen_ai.input.messages`,
`gen_ai.output.messages`, `gen_ai.system_instructions`, `gen_ai.tool.call.arguments`,
`gen_ai.tool.call.result`) is opt-in: `content=True`.

The SDK is an optional dependency: `pip install 'palaestra[otel]'`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from palaestra.core import EpisodeLog, Event, Message, UserError

_NS = 1_000_000_000
_REQUEST_PARAMS = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "max_tokens": "gen_ai.request.max_tokens",
    "seed": "gen_ai.request.seed",
    "top_k": "gen_ai.request.top_k",
    "frequency_penalty": "gen_ai.request.frequency_penalty",
    "presence_penalty": "gen_ai.request.presence_penalty",
}


def _sdk() -> Any:
    try:
        from opentelemetry.sdk import trace as sdk_trace
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise UserError(
            "the OpenTelemetry export needs the OpenTelemetry SDK: pip install 'palaestra[otel]'"
        ) from None
    return sdk_trace


def provider_name(model: str) -> str:
    """`gen_ai.provider.name` of a model spec: `openai:gpt-4o` -> openai; palaestra's own
    models (scripted, local, replay...) -> `palaestra.<kind>`."""
    kind = model.split(":", 1)[0] if ":" in model else model.split("[", 1)[0]
    return "openai" if kind == "openai" else f"palaestra.{kind or 'model'}"


def model_name(model: str) -> str:
    """`gen_ai.request.model` of a model spec: the part after the provider prefix."""
    return model.split(":", 1)[1] if ":" in model else model


def _parts(message: Message) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if message.role == "tool":
        return [
            {"type": "tool_call_response", "id": message.tool_call_id, "response": message.content}
        ]
    if message.content:
        parts.append({"type": "text", "content": message.content})
    for call in message.tool_calls:
        parts.append(
            {"type": "tool_call", "id": call.id, "name": call.name, "arguments": call.arguments}
        )
    return parts


def _messages_json(messages: Iterable[Message]) -> str:
    out = []
    for m in messages:
        entry: dict[str, Any] = {"role": m.role, "parts": _parts(m)}
        if m.name:
            entry["name"] = m.name
        out.append(entry)
    return json.dumps(out, ensure_ascii=False)


@dataclass
class _Node:
    """A span to be emitted: name, kind of operation, times, attributes, children."""

    name: str
    start: float
    end: float
    attributes: dict[str, Any] = field(default_factory=dict)
    children: list[_Node] = field(default_factory=list)
    events: list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)
    error: str | None = None

    def extend(self, time: float) -> None:
        self.end = max(self.end, time)


def _attrs(values: dict[str, Any]) -> dict[str, Any]:
    """Drop None; OpenTelemetry attributes are str, bool, int, float or lists of those."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if value is None:
            continue
        if isinstance(value, dict) or (isinstance(value, list) and not _homogeneous(value)):
            # e.g. a workspace manifest's files (a list of objects): JSON text
            value = json.dumps(value, ensure_ascii=False, sort_keys=True)
        out[key] = value
    return out


def _homogeneous(values: list[Any]) -> bool:
    """Whether `values` is a valid attribute list: items all str, all bool, all int or
    all float."""
    kinds = {type(item) for item in values}
    return len(kinds) <= 1 and kinds <= {str, bool, int, float}


class _EpisodeTree:
    """The span tree of one episode, built in one pass over its events (read through
    its `EpisodeLog`: parents by seq, the first model request of each agent)."""

    def __init__(self, log: EpisodeLog, run_id: str, content: bool) -> None:
        self.log = log
        self.content = content
        self.by_seq: dict[int, _Node] = {}
        """Seq of an event -> the span it opened or joined (spans, not events)."""
        self.turns: dict[tuple[int, str], _Node] = {}
        self.turns_under: dict[int, list[_Node]] = {}
        self.open_env_calls: dict[str, tuple[_Node, _Node]] = {}
        """Environment tool calls awaiting their env_step: call id -> (span, its turn)."""
        self.awaiting_result: dict[str, _Node] = {}
        """Environment tool calls whose step ran: call id -> span (the next observation
        may carry their results)."""
        start = log.events[0]
        payload = start.payload
        env = getattr(payload, "env", "episode")
        self.root = _Node(
            f"invoke_workflow {env}",
            start.time,
            start.time,
            _attrs(
                {
                    "gen_ai.operation.name": "invoke_workflow",
                    "gen_ai.workflow.name": env,
                    "gen_ai.conversation.id": start.episode_id,
                    "palaestra.run_id": run_id,
                    "palaestra.episode_id": start.episode_id,
                    "palaestra.task": getattr(payload, "task", None),
                    "palaestra.seed": getattr(payload, "seed", None),
                    "palaestra.epoch": getattr(payload, "epoch", None),
                }
            ),
        )
        self.operators: dict[str, str] = dict(getattr(payload, "operators", {}) or {})
        self.providers: dict[str, str] = {}
        for event in log.of_kind("model_request"):
            self.providers.setdefault(event.agent, provider_name(event.payload.model))  # type: ignore[attr-defined]
        for event in log.events:
            self._add(event)

    # -- placing --------------------------------------------------------------------------

    def _event(self, seq: int) -> Event:
        return self.log.by_seq[seq]

    def _container(self, event: Event) -> _Node:
        """The span an event hangs under: its turn or nearest ancestor with a span."""
        parent = event.parent
        if parent is not None:
            parent_event = self._event(parent)
            if parent_event.agent != event.agent and event.agent != "env":
                return self._turn(event, parent)
        while parent is not None:
            node = self.by_seq.get(parent)
            if node is not None:
                return node
            parent = self._event(parent).parent
        return self.root

    def _turn(self, event: Event, parent: int) -> _Node:
        key = (parent, event.agent)
        node = self.turns.get(key)
        if node is None:
            outer = self._container(self._event(parent))
            if parent in self.by_seq:
                outer = self.by_seq[parent]
            node = self._agent_node(event.agent, event.time, event.step)
            outer.children.append(node)
            self.turns[key] = node
            self.turns_under.setdefault(parent, []).append(node)
        return node

    def _agent_node(self, agent: str, time: float, step: int) -> _Node:
        return _Node(
            f"invoke_agent {agent}",
            time,
            time,
            _attrs(
                {
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.provider.name": self.providers.get(agent, "palaestra"),
                    "gen_ai.agent.name": agent,
                    "gen_ai.agent.id": f"{self.root.attributes['palaestra.episode_id']}/{agent}",
                    "gen_ai.agent.description": self.operators.get(agent) or None,
                    "gen_ai.conversation.id": self.root.attributes["palaestra.episode_id"],
                    "palaestra.step": step,
                }
            ),
        )

    def _place(self, event: Event, node: _Node, under: _Node | None = None) -> None:
        (under or self._container(event)).children.append(node)
        self.by_seq[event.seq] = node

    def _extend_ancestors(self, event: Event, time: float) -> None:
        self.root.extend(time)
        parent: int | None = event.seq
        while parent is not None:
            node = self.by_seq.get(parent)
            if node is not None:
                node.extend(time)
            for turn in self.turns_under.get(parent, ()):
                turn.extend(time)
            parent = self._event(parent).parent

    # -- events ---------------------------------------------------------------------------

    def _add(self, event: Event) -> None:
        p: Any = event.payload
        kind = event.kind
        if kind == "episode_start":
            return
        if kind == "observation":
            node = self._agent_node(event.agent, event.time, event.step)
            self._place(event, node, self.root if event.parent is None else None)
        elif kind == "model_request":
            attrs = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider_name(p.model),
                "gen_ai.request.model": model_name(p.model),
                "gen_ai.agent.name": event.agent,
                "gen_ai.conversation.id": event.episode_id,
            }
            for key, name in _REQUEST_PARAMS.items():
                if isinstance(p.params.get(key), int | float):
                    attrs[name] = p.params[key]
            if self.content:
                system = [m for m in p.messages if m.role == "system"]
                if system:
                    attrs["gen_ai.system_instructions"] = json.dumps(
                        [{"type": "text", "content": m.content} for m in system], ensure_ascii=False
                    )
                attrs["gen_ai.input.messages"] = _messages_json(
                    m for m in p.messages if m.role != "system"
                )
                if p.tools:
                    attrs["gen_ai.tool.definitions"] = json.dumps(
                        [
                            {
                                "type": "function",
                                "name": t.name,
                                "description": t.description,
                                "parameters": t.parameters,
                            }
                            for t in p.tools
                        ],
                        ensure_ascii=False,
                    )
            self._place(
                event, _Node(f"chat {model_name(p.model)}", event.time, event.time, _attrs(attrs))
            )
        elif kind == "model_response":
            chat = self.by_seq.get(event.parent) if event.parent is not None else None
            if chat is None:
                return
            self._response(event, p, chat)
        elif kind == "tool_call":
            self._place(event, self._tool_node(p.call, event.time, "function"))
        elif kind == "tool_result":
            tool = self.by_seq.get(event.parent) if event.parent is not None else None
            if tool is None:
                return
            self.by_seq[event.seq] = tool
            self._tool_result(tool, p.content, p.is_error)
            self._extend_ancestors(event, event.time)
        elif kind == "action":
            container = self._container(event)
            self.by_seq[event.seq] = container
            for call in p.action.tool_calls:
                node = self._tool_node(call, event.time, "function")
                node.attributes["palaestra.tool.executor"] = "environment"
                container.children.append(node)
                self.open_env_calls[call.id] = (node, container)
            self._extend_ancestors(event, event.time)
        elif kind == "env_step":
            for call_id, (node, turn) in self.open_env_calls.items():
                node.extend(event.time)
                turn.extend(event.time)
                self.awaiting_result[call_id] = node
            self.open_env_calls.clear()
            self.root.events.append(
                (
                    "palaestra.env_step",
                    event.time,
                    _attrs(
                        {
                            "palaestra.step": event.step,
                            "palaestra.rewards": p.rewards,
                            "palaestra.terminated": p.terminated,
                            "palaestra.truncated": p.truncated,
                        }
                    ),
                ),
            )
            self.root.extend(event.time)
        elif kind == "score":
            self.root.attributes.update(
                {"palaestra.score": p.value, "palaestra.success": p.success}
            )
            self.root.events.append(
                (
                    "gen_ai.evaluation.result",
                    event.time,
                    _attrs(
                        {
                            "gen_ai.evaluation.name": "environment",
                            "gen_ai.evaluation.score.value": p.value,
                            "gen_ai.evaluation.score.label": "pass" if p.success else "fail",
                            "gen_ai.evaluation.explanation": p.explanation or None,
                        }
                    ),
                ),
            )
        elif kind == "episode_end":
            self.root.attributes.update(
                _attrs(
                    {
                        "palaestra.outcome": p.outcome,
                        "palaestra.reason": p.reason,
                        "palaestra.steps": p.steps,
                        "palaestra.total_reward": p.total_reward,
                        "gen_ai.usage.input_tokens": p.usage.input_tokens,
                        "gen_ai.usage.output_tokens": p.usage.output_tokens,
                    }
                )
            )
            if p.outcome == "error":
                self.root.error = p.error or "error"
            self.root.extend(event.time)
        else:
            self._side_event(event, p)
        if kind == "observation":
            self._observation_results(p.observation.messages, event.time)

    def _response(self, event: Event, p: Any, node: _Node) -> None:
        """A model response (or failed attempt): usage, model, finish reason, content."""
        self.by_seq[event.seq] = node
        a = node.attributes
        a["gen_ai.usage.input_tokens"] = (
            a.get("gen_ai.usage.input_tokens", 0) + p.usage.input_tokens
        )
        a["gen_ai.usage.output_tokens"] = (
            a.get("gen_ai.usage.output_tokens", 0) + p.usage.output_tokens
        )
        if p.usage.cached_tokens:
            a["gen_ai.usage.cache_read.input_tokens"] = p.usage.cached_tokens
        a["palaestra.attempts"] = p.attempt
        if p.model:
            a["gen_ai.response.model"] = p.model
        if p.finish_reason:
            a["gen_ai.response.finish_reasons"] = [p.finish_reason]
        if p.usage.cost_usd:
            a["palaestra.cost_usd"] = a.get("palaestra.cost_usd", 0.0) + p.usage.cost_usd
        node.error = p.error
        if p.error:
            node.events.append(("exception", event.time, {"exception.message": p.error}))
        elif self.content and p.message is not None:
            out = {
                "role": "assistant",
                "parts": _parts(p.message),
                "finish_reason": p.finish_reason or "stop",
            }
            a["gen_ai.output.messages"] = json.dumps([out], ensure_ascii=False)
        self._extend_ancestors(event, event.time)

    def _observation_results(self, messages: list[Message], time: float) -> None:
        for m in messages:
            pending = self.awaiting_result.pop(m.tool_call_id or "", None)
            if m.role == "tool" and pending is not None:
                self._tool_result(pending, m.content or "", False)

    def _side_event(self, event: Event, p: Any) -> None:
        """governance, fault, contract_verdict, message, memory: span events."""
        data = p.model_dump(mode="json")
        attrs = {f"palaestra.{k}": v for k, v in data.items() if k not in ("value", "content")}
        attrs["palaestra.agent"] = event.agent
        if self.content and "content" in data:
            attrs["palaestra.content"] = data["content"]
        name = f"palaestra.{event.kind}"
        if event.kind == "message":
            self.by_seq[event.seq] = self._container(event)
        self._container(event).events.append((name, event.time, _attrs(attrs)))

    def _tool_node(self, call: Any, time: float, tool_type: str) -> _Node:
        attrs = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": call.name,
            "gen_ai.tool.call.id": call.id,
            "gen_ai.tool.type": tool_type,
        }
        if self.content:
            attrs["gen_ai.tool.call.arguments"] = json.dumps(call.arguments, ensure_ascii=False)
        return _Node(f"execute_tool {call.name}", time, time, attrs)

    def _tool_result(self, node: _Node, content: str, is_error: bool) -> None:
        if self.content:
            node.attributes["gen_ai.tool.call.result"] = content
        if is_error:
            node.error = content[:200] or "tool error"
            node.attributes["error.type"] = "tool_error"


def _emit(tracer: Any, node: _Node, context: Any) -> int:
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    span = tracer.start_span(
        node.name,
        context=context,
        kind=SpanKind.INTERNAL,
        attributes=node.attributes,
        start_time=int(node.start * _NS),
    )
    for name, time, attrs in node.events:
        span.add_event(name, attributes=attrs, timestamp=int(time * _NS))
    if node.error:
        span.set_status(Status(StatusCode.ERROR, node.error))
        span.set_attribute("error.type", node.attributes.get("error.type", "error"))
    count = 1
    child_context = trace.set_span_in_context(span)
    for child in node.children:
        count += _emit(tracer, child, child_context)
    span.end(end_time=int(max(node.end, node.start) * _NS))
    return count


def episode_spans(
    events: EpisodeLog | Sequence[Event], *, run_id: str = "", content: bool = False
) -> Any:
    """The span tree of one episode (for inspection and tests; `emit_episode` sends it)."""
    return _EpisodeTree(EpisodeLog.of(events), run_id, content).root


def emit_episode(
    tracer: Any,
    events: EpisodeLog | Sequence[Event],
    *,
    run_id: str = "",
    content: bool = False,
) -> int:
    """Send one episode's spans through an OpenTelemetry tracer; returns how many."""
    log = EpisodeLog.of(events)
    if not log.events:
        return 0
    from opentelemetry.context import Context

    return _emit(tracer, _EpisodeTree(log, run_id, content).root, Context())


def make_exporter(*, endpoint: str | None = None, console: bool = False) -> Any:
    """An OTLP/HTTP span exporter for `endpoint` (e.g. http://localhost:4318/v1/traces;
    a bare host:port gets `/v1/traces`), or a console exporter (JSON per span, stdout)."""
    _sdk()
    if console or not (endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        import sys

        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stdout)
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:  # pragma: no cover
        raise UserError("the OTLP exporter is missing: pip install 'palaestra[otel]'") from None
    if endpoint and not endpoint.rstrip("/").endswith("/v1/traces"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    return OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()


class _Checked:
    """A span exporter that remembers how many spans its inner exporter failed to send."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.failed = 0

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        result = self.inner.export(spans)
        if result != SpanExportResult.SUCCESS:
            self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return bool(self.inner.force_flush(timeout_millis))


def export_otel(
    store: Any,
    run_id: str,
    *,
    exporter: Any = None,
    endpoint: str | None = None,
    console: bool = False,
    content: bool = False,
    service_name: str = "palaestra",
) -> int:
    """Export run `run_id` as OpenTelemetry GenAI spans; returns the spans sent.

    `exporter` is any OpenTelemetry `SpanExporter` (e.g. `InMemorySpanExporter` in
    tests); otherwise one is made from `endpoint` (OTLP/HTTP) or `console`. Episodes are
    read and sent one at a time; the exporter is flushed and shut down at the end.
    """
    sdk_trace = _sdk()
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    if store.get_run(run_id) is None:
        raise UserError(f"no run {run_id!r} in store {store.path}")
    own = exporter is None
    checked = _Checked(exporter or make_exporter(endpoint=endpoint, console=console))
    provider = sdk_trace.TracerProvider(
        resource=Resource.create({"service.name": service_name, "palaestra.run_id": run_id})
    )
    batch = own and not console and not isinstance(checked.inner, _console_type())
    exporter_: Any = checked  # duck-typed SpanExporter
    processor = BatchSpanProcessor(exporter_) if batch else SimpleSpanProcessor(exporter_)
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("palaestra.store.otel")
    total = 0
    try:
        for row in store.episodes(run_id):
            total += emit_episode(
                tracer, store.events(run_id, row.episode_id), run_id=run_id, content=content
            )
        provider.force_flush()
    finally:
        provider.shutdown()
    if checked.failed:
        raise UserError(
            f"{checked.failed} of {total} spans of run {run_id!r} could not be sent"
            + (f" to {endpoint}" if endpoint else "")
            + ": is the OpenTelemetry collector running and the endpoint right?"
        )
    return total


def _console_type() -> type:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    return ConsoleSpanExporter
