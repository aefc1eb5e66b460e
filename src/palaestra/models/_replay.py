"""`ReplayModel`: serve a recorded episode's model replies again, and notice divergence.

Replay is how palaestra checks determinism: rerun an episode with the model replaced by
its own recording; the same config and seed must then produce the same requests, so the
same events. Each agent replays its recorded calls in log order. A request whose content
(messages and tools, compared as canonical JSON) differs from the recorded one raises
`ReplayDivergence`, naming the agent, the call, and the first differing message.

Failed calls replay as the same failure: the recorded failed attempts (errors, waits,
transport re-sends) come back as `failed_attempts`, and a call that never got a reply
raises the error recorded for it (its class and message: in `episode_end.error` where it
ended the episode, or in the call's last failure where its caller recorded it, as a
judge does), so the replayed log of an episode that ended in a model error, or whose
judge failed, is the recorded one, event for event. A call still waiting for its reply
when the episode's wall-time budget ran out (`reason: budget`, nothing recorded after
the request) raises `TimeoutError`, as the budget's timer did, so the replay is cut at
the same call.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from palaestra.core import (
    EpisodeEnd,
    Event,
    ModelError,
    ModelReplyError,
    ModelRequestEvent,
    ModelResponseEvent,
    ReplayDivergence,
)
from palaestra.models._protocol import Attempt, ModelRequest, ModelResponse

_SHOW = 120
"""Characters of each side shown in a divergence message."""
_MODEL_ERRORS: dict[str, type[ModelError]] = {
    cls.__name__: cls for cls in (ModelError, ModelReplyError)
}
"""The model errors an `episode_end.error` ("Name: message") is raised as again."""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _dump(items: Iterable[Any]) -> list[str]:
    # Defaults left out: shorter divergence messages, and equal values still compare equal.
    return [_canonical(item.model_dump(mode="json", exclude_defaults=True)) for item in items]


def _shorten(expected: str, got: str) -> tuple[str, str]:
    """Both strings cut to a window that starts just before their first difference."""
    start = 0
    for a, b in zip(expected, got, strict=False):
        if a != b:
            break
        start += 1
    start = max(0, start - 30)

    def cut(text: str) -> str:
        piece = text[start : start + _SHOW]
        return ("…" if start else "") + piece + ("…" if start + _SHOW < len(text) else "")

    return cut(expected), cut(got)


@dataclass
class _Entry:
    """One recorded model call: the request, its successful reply, its failed tries."""

    request: ModelRequestEvent
    episode_id: str = ""
    response: ModelResponseEvent | None = None
    failures: list[ModelResponseEvent] = field(default_factory=list)
    messages_json: list[str] | None = None
    tools_json: list[str] | None = None


class ReplayModel:
    """A model that answers each agent's calls with that agent's recorded replies.

    Build it from a log with `ReplayModel.from_events(events)`. Its `name` is
    `replay:{recorded model spec}`. Failed attempts that preceded a recorded reply are
    handed back as the response's `failed_attempts`, so a replayed log shows them too; a
    call that never got a reply (the provider failed for good) raises the recorded error
    again, with the recorded attempts attached (see the module docstring).
    """

    def __init__(
        self,
        entries: dict[str, list[_Entry]],
        *,
        name: str,
        ends: dict[str, EpisodeEnd] | None = None,
    ) -> None:
        self._entries = entries
        self._name = name
        self._cursors: dict[str, int] = {}
        self._ends = dict(ends or {})
        """The `episode_end` of each episode, by episode id: how its failed calls end."""

    @classmethod
    def from_events(cls, events: Iterable[Event], *, name: str | None = None) -> ReplayModel:
        """Collect, per agent and in log order, each `model_request` and its reply.

        The reply of a request is the `model_response` event without `error` whose
        `parent` is the request's seq (in the same episode); responses with `error` are
        failed attempts. An episode's `episode_end` says how its calls without a reply end
        (see the module docstring). `name` replaces the recorded model spec in
        `replay:{spec}`.
        """
        entries: dict[str, list[_Entry]] = {}
        by_seq: dict[tuple[str, int], _Entry] = {}
        specs: list[str] = []
        ends: dict[str, EpisodeEnd] = {}
        for event in events:
            payload = event.payload
            if isinstance(payload, EpisodeEnd):
                ends[event.episode_id] = payload
                continue
            if isinstance(payload, ModelRequestEvent):
                entry = _Entry(request=payload, episode_id=event.episode_id)
                entries.setdefault(event.agent, []).append(entry)
                by_seq[(event.episode_id, event.seq)] = entry
                if payload.model not in specs:
                    specs.append(payload.model)
            elif isinstance(payload, ModelResponseEvent) and event.parent is not None:
                found = by_seq.get((event.episode_id, event.parent))
                if found is None:
                    continue
                if payload.error is not None:
                    if found.response is None:
                        found.failures.append(payload)
                elif found.response is None and payload.message is not None:
                    found.response = payload
        if name is None:
            name = "+".join(specs) if specs else "empty"
        return cls(entries, name=f"replay:{name}", ends=ends)

    @property
    def name(self) -> str:
        """`replay:{spec}`, the recorded model spec (several joined with `+`)."""
        return self._name

    @property
    def agents(self) -> list[str]:
        """Agents that have recorded model calls."""
        return list(self._entries)

    def calls(self, agent: str) -> int:
        """How many model calls the recording holds for `agent`."""
        return len(self._entries.get(agent, ()))

    def remaining(self, agent: str) -> int:
        """Recorded calls of `agent` not yet replayed."""
        return self.calls(agent) - self._cursors.get(agent, 0)

    async def generate(self, request: ModelRequest) -> ModelResponse:
        """Return the recorded reply to the agent's next call, if the request matches."""
        agent = request.agent
        index = self._cursors.get(agent, 0)
        recorded = self._entries.get(agent, [])
        if index >= len(recorded):
            known = ", ".join(repr(a) for a in self._entries) or "none"
            calls = f"{len(recorded)} model call{'' if len(recorded) == 1 else 's'}"
            raise ReplayDivergence(
                f"replay diverged: the recording has only {calls} for agent {agent!r}, and "
                f"the replay asked for another (model call {index}; agents with recorded "
                f"calls: {known})",
                expected=None,
                got=_as_event(request),
            )
        entry = recorded[index]
        self._cursors[agent] = index + 1
        self._compare(entry, request, index)
        response = entry.response
        if response is None or response.message is None:
            raise self._failure(entry, agent, index)
        return ModelResponse(
            message=response.message.model_copy(deep=True),
            usage=response.usage.model_copy(),
            finish_reason=response.finish_reason,
            model=response.model,
            latency_s=0.0,
            failed_attempts=_attempts(entry),
        )

    def _failure(self, entry: _Entry, agent: str, index: int) -> Exception:
        """The error a recorded call without a reply raises again, with its attempts: the
        model error (class and message) recorded as the call's last failure, by a caller
        that records the exception itself (a judge: `"ModelError: ..."`), else the one its
        episode ended with; or the wall-time budget's `TimeoutError`, where that cut the
        call short."""
        attempts = _attempts(entry)
        end = self._ends.get(entry.episode_id)
        if not attempts and end is not None and end.reason == "budget":
            return TimeoutError(f"the recorded call was cut short: {end.error}")
        for recorded in (
            attempts[-1].error if attempts else None,
            end.error if end is not None and end.reason == "error" else None,
        ):
            name, sep, message = (recorded or "").partition(": ")
            if sep and name in _MODEL_ERRORS:
                cls = _MODEL_ERRORS[name]
                return cls(message, attempts=max(1, len(attempts)), failed_attempts=list(attempts))
        # neither says how it ended (a log cut short, or an error caught and not recorded)
        last = attempts[-1].error if attempts else "no reply was recorded"
        message = f"replay: agent {agent!r} call {index}: the recorded call failed: {last}"
        return ModelError(message, attempts=max(1, len(attempts)), failed_attempts=list(attempts))

    def _compare(self, entry: _Entry, request: ModelRequest, index: int) -> None:
        if entry.messages_json is None or entry.tools_json is None:
            entry.messages_json = _dump(entry.request.messages)
            entry.tools_json = _dump(entry.request.tools)
        got_messages = _dump(request.messages)
        if got_messages != entry.messages_json:
            what = _first_difference("message", entry.messages_json, got_messages)
        else:
            got_tools = _dump(request.tools)
            if got_tools == entry.tools_json:
                return
            what = _first_difference("tool", entry.tools_json, got_tools)
        raise ReplayDivergence(
            f"replay diverged for agent {request.agent!r} at model call {index}: {what}",
            expected=entry.request,
            got=_as_event(request, model=entry.request.model),
        )


def _attempts(entry: _Entry) -> list[Attempt]:
    """The recorded failed attempts of a call, as the provider reported them (latency 0:
    wall-clock time is not part of what a replay reproduces)."""
    return [
        Attempt(
            error=f.error or "",
            latency_s=0.0,
            retry_after_s=f.retry_after_s,
            resent=f.resent,
        )
        for f in entry.failures
    ]


def _first_difference(label: str, expected: list[str], got: list[str]) -> str:
    for position, (want, have) in enumerate(zip(expected, got, strict=False)):
        if want != have:
            want_s, have_s = _shorten(want, have)
            return f"{label} {position} differs: expected {want_s}, got {have_s}"
    position = min(len(expected), len(got))
    if len(got) > len(expected):
        extra, _ = _shorten(got[position], "")
        return (
            f"the recording has {len(expected)} {label}s, the request {len(got)}; "
            f"{label} {position} is new: {extra}"
        )
    missing, _ = _shorten(expected[position], "")
    return (
        f"the recording has {len(expected)} {label}s, the request only {len(got)}; "
        f"{label} {position} is missing: expected {missing}"
    )


def _as_event(request: ModelRequest, *, model: str = "") -> ModelRequestEvent:
    """The request in the recorded form, for `ReplayDivergence.got`."""
    return ModelRequestEvent.model_construct(
        model=model,
        messages=list(request.messages),
        tools=list(request.tools),
        params=request.params(),
    )
