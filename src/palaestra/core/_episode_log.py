"""`EpisodeLog`: the one read model of an episode — its events, indexed once.

Every reader of a recorded episode (assurance's contracts and evidence rules, eval's
scorers and metrics, the exporters, train's trajectories, the viewer) asks the same
questions of the same events: which event has seq N, which events are of a kind or an
agent, what caused an event and what it caused, which result answers a tool call, which
responses answer a model request, how the episode started, ended and was scored. This
class answers them, each from one index built on first use (so a reader pays only for
the questions it asks) and never rebuilt: the log is immutable once constructed.

The pairings follow how the recorder nests events (`palaestra.operators` recording):

- an operator's own tool: `tool_call`, then its `tool_result` whose `parent` is the call;
- a model call: `model_request`, then one `model_response` per attempt whose `parent` is
  the request (failed attempts first, the reply last);
- an environment's tool: the agent's `action` carries the `ToolCall`s and the results
  arrive in that agent's next `observation` as `data["tool_results"]` entries with the
  call's `id` (the convention of the built-in tool environments): `action_with_call`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from types import MappingProxyType
from typing import Any

from palaestra.core._errors import UserError
from palaestra.core._events import (
    ActionEvent,
    EnvStep,
    EpisodeEnd,
    EpisodeStart,
    Event,
    ObservationEvent,
    ScoreEvent,
    ToolCallEvent,
    WorkspaceManifest,
)
from palaestra.core._target import Target
from palaestra.core._types import ToolCall

_EMPTY: tuple[Event, ...] = ()


class EpisodeLog:
    """One episode's events (in the order given, which is seq order for a stored log)
    with every index a reader needs, each built lazily, once.

    ```python
    log = EpisodeLog(store.events(run_id, episode_id))   # or store.episode_log(...)
    log.start, log.end, log.env_score                    # the episode's frame
    log.of_kind("tool_call"); log.of_agent("coder")      # selections, in log order
    log.parent(event); log.children(event); log.ancestors(event)   # the cause tree
    log.result_of(call); log.responses_of(request)       # call/result pairings
    ```

    Construction copies the events into a tuple and checks they belong to one episode;
    nothing else happens until an index is asked for. Attributes cannot be set.
    """

    def __init__(self, events: Iterable[Event]) -> None:
        frozen = tuple(events)
        if frozen:
            episode = frozen[0].episode_id
            for event in frozen:
                if event.episode_id != episode:
                    raise UserError(
                        f"an EpisodeLog holds one episode's events; got events of "
                        f"{episode!r} and {event.episode_id!r} (read them per episode, e.g. "
                        "Store.events(run_id, episode_id))"
                    )
        object.__setattr__(self, "_events", frozen)

    @classmethod
    def of(cls, events: EpisodeLog | Iterable[Event]) -> EpisodeLog:
        """`events` as an `EpisodeLog`: itself when it already is one (its indexes kept),
        else a new log of them."""
        return events if isinstance(events, EpisodeLog) else cls(events)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"EpisodeLog is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"EpisodeLog is immutable: cannot delete {name!r}")

    def __repr__(self) -> str:
        return f"EpisodeLog({self.episode_id!r}, {len(self._events)} events)"

    # -- the events ------------------------------------------------------------------------

    _events: tuple[Event, ...]

    @property
    def events(self) -> tuple[Event, ...]:
        """All events, in the order given."""
        return self._events

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self._events)

    @property
    def episode_id(self) -> str:
        """The episode's id ("" for an empty log)."""
        return self._events[0].episode_id if self._events else ""

    # -- by seq ----------------------------------------------------------------------------

    @cached_property
    def by_seq(self) -> Mapping[int, Event]:
        """seq -> event (read-only)."""
        return MappingProxyType({e.seq: e for e in self._events})

    def get(self, seq: int | None) -> Event | None:
        """The event with `seq`, or None (also for `seq=None`, so `log.get(e.parent)`
        reads naturally)."""
        return None if seq is None else self.by_seq.get(seq)

    @cached_property
    def _position(self) -> Mapping[int, int]:
        return {e.seq: i for i, e in enumerate(self._events)}

    def before(self, event: Event) -> tuple[Event, ...]:
        """The events logged before `event`, in order."""
        return self._events[: self._position[event.seq]]

    # -- by kind, agent, step --------------------------------------------------------------

    @cached_property
    def _by_kind(self) -> dict[str, tuple[Event, ...]]:
        found: dict[str, list[Event]] = {}
        for event in self._events:
            found.setdefault(event.kind, []).append(event)
        return {kind: tuple(events) for kind, events in found.items()}

    def of_kind(self, *kinds: str) -> tuple[Event, ...]:
        """The events of any of `kinds`, in log order."""
        if len(kinds) == 1:
            return self._by_kind.get(kinds[0], _EMPTY)
        wanted = set(kinds)
        return tuple(e for e in self._events if e.kind in wanted)

    @cached_property
    def kinds(self) -> Mapping[str, int]:
        """kind -> number of events of that kind (kinds in order of first appearance)."""
        return MappingProxyType({kind: len(events) for kind, events in self._by_kind.items()})

    @cached_property
    def _by_agent(self) -> dict[str, tuple[Event, ...]]:
        found: dict[str, list[Event]] = {}
        for event in self._events:
            found.setdefault(event.agent, []).append(event)
        return {agent: tuple(events) for agent, events in found.items()}

    @property
    def agents(self) -> tuple[str, ...]:
        """Every `agent` value in the log (`env` included), in order of first appearance."""
        return tuple(self._by_agent)

    def of_agent(self, agent: str, *, internal: bool = False) -> tuple[Event, ...]:
        """The events of `agent`, in log order; with `internal=True` also those of its
        internal agents (`agent/...`)."""
        if not internal:
            return self._by_agent.get(agent, _EMPTY)
        prefix = agent + "/"
        return tuple(e for e in self._events if e.agent == agent or e.agent.startswith(prefix))

    @cached_property
    def steps(self) -> Mapping[int, tuple[Event, ...]]:
        """Environment step -> its events, in log order (steps ascending as logged)."""
        found: dict[int, list[Event]] = {}
        for event in self._events:
            found.setdefault(event.step, []).append(event)
        return MappingProxyType({step: tuple(events) for step, events in found.items()})

    @cached_property
    def env_steps(self) -> Mapping[int, EnvStep]:
        """Step -> the environment's `env_step` payload ending it (rewards, terminated)."""
        return MappingProxyType(
            {e.step: e.payload for e in self.of_kind("env_step") if isinstance(e.payload, EnvStep)}
        )

    # -- the parent tree -------------------------------------------------------------------

    def parent(self, event: Event) -> Event | None:
        """The event that caused `event` (its `parent`), if logged."""
        return self.get(event.parent)

    @cached_property
    def _children(self) -> dict[int, tuple[Event, ...]]:
        found: dict[int, list[Event]] = {}
        for event in self._events:
            if event.parent is not None:
                found.setdefault(event.parent, []).append(event)
        return {seq: tuple(events) for seq, events in found.items()}

    def children(self, event: Event | int) -> tuple[Event, ...]:
        """The events `event` (or the event with that seq) caused directly, in log order."""
        seq = event if isinstance(event, int) else event.seq
        return self._children.get(seq, _EMPTY)

    def ancestors(self, event: Event) -> tuple[Event, ...]:
        """The chain of causes of `event`: its parent, the parent's parent, ... (nearest
        first; stops at a root or at a parent that is not logged, and on a cycle)."""
        chain: list[Event] = []
        seen = {event.seq}
        current = self.parent(event)
        while current is not None and current.seq not in seen:
            chain.append(current)
            seen.add(current.seq)
            current = self.parent(current)
        return tuple(chain)

    @property
    def roots(self) -> tuple[Event, ...]:
        """The events without a parent, in log order."""
        return tuple(e for e in self._events if e.parent is None)

    # -- pairings --------------------------------------------------------------------------

    def result_of(self, call: Event) -> Event | None:
        """The `tool_result` answering an operator's `tool_call` event (its child)."""
        for child in self.children(call):
            if child.kind == "tool_result":
                return child
        return None

    def call_of(self, result: Event) -> Event | None:
        """The `tool_call` event a `tool_result` answers (its parent), if logged."""
        call = self.parent(result)
        return call if call is not None and call.kind == "tool_call" else None

    def responses_of(self, request: Event) -> tuple[Event, ...]:
        """The `model_response` events answering a `model_request` (one per attempt:
        failed attempts first, the reply last), in log order."""
        return tuple(c for c in self.children(request) if c.kind == "model_response")

    def request_of(self, response: Event) -> Event | None:
        """The `model_request` event a `model_response` answers (its parent), if logged."""
        request = self.parent(response)
        return request if request is not None and request.kind == "model_request" else None

    @cached_property
    def _env_calls(self) -> dict[tuple[str, str], tuple[Event, ...]]:
        found: dict[tuple[str, str], list[Event]] = {}
        for event in self.of_kind("action"):
            payload = event.payload
            if isinstance(payload, ActionEvent):
                for call in payload.action.tool_calls:
                    found.setdefault((event.agent, call.id), []).append(event)
        return {key: tuple(events) for key, events in found.items()}

    def action_with_call(self, agent: str, call_id: str, before: int) -> Event | None:
        """The latest `action` of `agent` logged before seq `before` whose tool calls
        include `call_id`: the call an environment's tool result (in the agent's next
        observation) answers."""
        position = self._position
        limit = position.get(before, len(self._events))
        found = None
        for action in self._env_calls.get((agent, call_id), _EMPTY):
            if position[action.seq] < limit:
                found = action
        return found

    # -- the episode's frame ---------------------------------------------------------------

    @cached_property
    def start_event(self) -> Event | None:
        """The `episode_start` event (the first one), if logged."""
        starts = self.of_kind("episode_start")
        return starts[0] if starts else None

    @property
    def start(self) -> EpisodeStart | None:
        """The episode's start: env, task, seed, epoch, agents, operators."""
        event = self.start_event
        return event.payload if event is not None else None  # type: ignore[return-value]

    @cached_property
    def _end_event(self) -> Event | None:
        ends = self.of_kind("episode_end")
        return ends[-1] if ends else None

    @property
    def end_event(self) -> Event | None:
        """The `episode_end` event (the last one), None while the episode runs."""
        return self._end_event

    @property
    def end(self) -> EpisodeEnd | None:
        """The episode's end: outcome and reason; None while it runs."""
        event = self.end_event
        return event.payload if event is not None else None  # type: ignore[return-value]

    @cached_property
    def scores(self) -> tuple[ScoreEvent, ...]:
        """Every `score` payload, in log order: the environment's own (no `scorer`) and
        each scorer's."""
        return tuple(e.payload for e in self.of_kind("score") if isinstance(e.payload, ScoreEvent))

    @cached_property
    def env_score(self) -> ScoreEvent | None:
        """The environment's own score (the last `score` without a scorer name)."""
        own = [s for s in self.scores if not s.scorer]
        return own[-1] if own else None

    def score_of(self, scorer: str) -> ScoreEvent | None:
        """The last score recorded by the scorer named `scorer` ("" is the env's own)."""
        found = [s for s in self.scores if s.scorer == scorer]
        return found[-1] if found else None

    @cached_property
    def workspace(self) -> WorkspaceManifest | None:
        """What the episode's workspace held at its end (the last `workspace` event),
        or None where the episode held none."""
        found = self.of_kind("workspace")
        payload = found[-1].payload if found else None
        return payload if isinstance(payload, WorkspaceManifest) else None

    @property
    def env_target(self) -> Target:
        """The target the environment recorded on its score (empty if none)."""
        score = self.env_score
        return Target.of(None if score is None else score.target)

    # -- an agent's side (what scorers and judges read) -----------------------------------

    def main_agent(self) -> str:
        """The episode's first agent (`agent` when unknown)."""
        start = self.start
        agents = start.agents if start else []
        return agents[0] if agents else "agent"

    def actions(self, agent: str | None = None) -> list[Event]:
        """`action` events of `agent` (default: the main agent), in order."""
        who = agent or self.main_agent()
        return [e for e in self.of_agent(who) if isinstance(e.payload, ActionEvent)]

    def texts(self, agent: str | None = None) -> list[str]:
        """The non-empty action texts of `agent` (default: the main agent), in order."""
        out = []
        for event in self.actions(agent):
            assert isinstance(event.payload, ActionEvent)
            if event.payload.action.text:
                out.append(event.payload.action.text)
        return out

    def tool_calls(self, agent: str | None = None) -> list[ToolCall]:
        """Every tool call of `agent` (and its internal agents), environment tools (in
        actions) and its own tools (`tool_call` events) alike, in log order."""
        calls: list[ToolCall] = []
        for event in self.of_agent(agent or self.main_agent(), internal=True):
            if isinstance(event.payload, ActionEvent):
                calls.extend(event.payload.action.tool_calls)
            elif isinstance(event.payload, ToolCallEvent):
                calls.append(event.payload.call)
        return calls

    def first_prompt(self, agent: str | None = None) -> str:
        """The task as the agent first saw it: the last user message of its first
        observation (its text when it has no messages)."""
        for event in self.of_agent(agent or self.main_agent()):
            if isinstance(event.payload, ObservationEvent):
                observation = event.payload.observation
                users = [m.content for m in observation.messages if m.role == "user"]
                return (users[-1] if users else observation.text) or ""
        return ""

    def transcript(self, agent: str | None = None, *, limit: int = 12000) -> str:
        """The agent's side of the episode as text: what it saw and what it did (the
        end kept when longer than `limit` characters)."""
        who = agent or self.main_agent()
        lines: list[str] = []
        for event in self.of_agent(who):
            if isinstance(event.payload, ObservationEvent):
                lines.append(f"[observation] {event.payload.observation.text}")
            elif isinstance(event.payload, ActionEvent):
                action = event.payload.action
                if action.text:
                    lines.append(f"[{who}] {action.text}")
                for call in action.tool_calls:
                    lines.append(f"[{who} calls] {call.name}({json.dumps(call.arguments)})")
        text = "\n".join(lines)
        return text if len(text) <= limit else "..." + text[-limit:]
