"""The byte layout of a recorded event: the one place that writes and reads it.

An event is stored, exported, hashed and replayed as one compact JSON object, the field
order of `Event`: ``{"episode_id":..,"seq":..,"step":..,"agent":..,"kind":..,
"parent":..,"payload":{..},"time":..,"duration_s":..}``. Pydantic's
`Event.model_dump_json()` is the reference; this module writes exactly the same bytes
without building an `Event` (the recorder's hot path), and a test holds the two equal on
the events of real runs. Everything that depends on the layout goes through here:

- `EpisodeEncoder` (the recorder): an event's text from its parts, and its hashed form;
- `encode_event` / `decode_event`: an `Event` object to its text and back;
- `EventRow`, `event_row`, `row_event`: the row the store takes (`HEADER` is the order of
  the fields that begin the text, from which the store's writer reads its columns);
- `hashable_prefix`, `EpisodeHasher`, `episode_hash`: the hashed form is the text up to
  the wall-clock fields (`time`, `duration_s`, the last two), closed with ``}``;
- `trusted_event`: an `Event` object of a recorded event's parts, without validation (the
  online contracts' view of each event as it is recorded);
- `Encoded`, `observation_payload`, `action_payload`: the runtime's own two payloads of
  every model call (what each agent observed and did), written from their parts without
  building the payload object; `Encoded.decode()` builds it when a contract wants it.
  Operators record typed payloads (`Context.emit` takes a `Payload`).

Payloads are written with pydantic's serializer for their class, reached through the
public `TypeAdapter.serializer`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from pydantic import TypeAdapter
from pydantic_core import to_json

from palaestra.core._events import (
    PAYLOADS,
    ActionEvent,
    Event,
    ModelResponseEvent,
    ObservationEvent,
    Payload,
)
from palaestra.core._types import Action, Message, Observation, Usage

EventRow = tuple[str, int, str, str, int, str]
"""(episode_id, seq, kind, agent, step, json): one recorded event as the store takes it."""

HEADER = ("episode_id", "seq", "step", "agent", "kind")
"""The fields an event's text begins with, in this order (the store's writer process,
which imports nothing of palaestra, reads its columns from them)."""

_WALL_CLOCK_SUFFIX = ',"time":'

_PAYLOAD_JSON: dict[type[Payload], Callable[..., bytes | str]] = {
    cls: TypeAdapter(cls).serializer.to_json for cls in PAYLOADS.values()
}
_model_response_json = _PAYLOAD_JSON[ModelResponseEvent]
_observation_json = TypeAdapter(Observation).serializer.to_json
_action_json = TypeAdapter(Action).serializer.to_json
_message_json = TypeAdapter(Message).serializer.to_json
_usage_json = TypeAdapter(Usage).serializer.to_json


def json_string(value: str) -> str:
    """A string as JSON, escaped as pydantic escapes it."""
    return to_json(value).decode()


def _duration(value: float) -> str:
    if value == 0 and math.copysign(1.0, value) > 0:
        return "0.0"  # most events: no call to the serializer
    return to_json(float(value)).decode()


class _Form(NamedTuple):
    """How one payload class is written from its parts, in field order."""

    type: type[Payload]
    fields: tuple[str, ...]
    render: Callable[..., str]


class Encoded:
    """A payload to be written from its parts: its `kind`, `to_json()` (exactly the
    payload object's JSON) and `decode()` (the validated payload object), both made from
    the same objects."""

    __slots__ = ("kind", "_form", "_args")

    def __init__(self, form: _Form, *args: Any) -> None:
        self.kind: str = form.type.kind
        self._form = form
        self._args = args

    def to_json(self) -> str:
        """The payload's JSON."""
        return self._form.render(*self._args)

    def decode(self) -> Payload:
        """The payload object (validated)."""
        form = self._form
        return form.type(**dict(zip(form.fields, self._args, strict=True)))

    def __repr__(self) -> str:
        return f"Encoded({self._form.type.__name__}, {self.to_json()!r})"


def _observation(observation: Observation) -> str:
    return f'{{"observation":{_observation_json(observation).decode()}}}'


def _action(action: Action) -> str:
    return f'{{"action":{_action_json(action).decode()}}}'


_OBSERVATION = _Form(ObservationEvent, ("observation",), _observation)
_ACTION = _Form(ActionEvent, ("action",), _action)


def observation_payload(observation: Observation) -> Encoded | ObservationEvent:
    """The `observation` payload recording `observation` (the payload object when
    `observation` is not exactly an `Observation`: validated, so a wrong type fails with
    pydantic's error)."""
    if type(observation) is not Observation:
        return ObservationEvent(observation=observation)
    return Encoded(_OBSERVATION, observation)


def action_payload(action: Action) -> Encoded | ActionEvent:
    """The `action` payload recording `action` (see `observation_payload`)."""
    if type(action) is not Action:
        return ActionEvent(action=action)
    return Encoded(_ACTION, action)


def _optional(value: str | None) -> str:
    return "null" if value is None else to_json(value).decode()


def _response_json(payload: ModelResponseEvent) -> bytes | str:
    """A model response's JSON written from its fields where none of the fields left out
    when unset is set (every reply of a model that reports no token ids): pydantic's
    serializer calls a Python function for each of those four; else the serializer."""
    if (
        payload.resent
        or payload.prompt_token_ids is not None
        or payload.token_ids is not None
        or payload.logprobs is not None
        or type(payload.usage) is not Usage
    ):
        return _model_response_json(payload)
    message = payload.message
    if message is None:
        message_json = "null"
    elif type(message) is Message:
        message_json = _message_json(message).decode()
    else:
        return _model_response_json(payload)
    retry = payload.retry_after_s
    return (
        f'{{"message":{message_json},"usage":{_usage_json(payload.usage).decode()},'
        f'"finish_reason":{_optional(payload.finish_reason)},"model":{_optional(payload.model)},'
        f'"attempt":{payload.attempt},"error":{_optional(payload.error)},'
        f'"retry_after_s":{"null" if retry is None else to_json(retry).decode()}}}'
    )


_PAYLOAD_JSON[ModelResponseEvent] = _response_json


def payload_json(payload: Payload | Encoded) -> str:
    """The JSON of an event's payload, as the event's JSON holds it."""
    if type(payload) is Encoded:
        return payload.to_json()
    write = _PAYLOAD_JSON.get(type(payload))  # type: ignore[arg-type]
    if write is None:  # a subclass of a payload class: its own fields too, as pydantic
        return payload.model_dump_json()  # type: ignore[union-attr]
    written = write(payload)
    return written if type(written) is str else written.decode()  # type: ignore[union-attr]


class EpisodeEncoder:
    """Writes the events of one episode from their parts, without `Event` objects.

    `hashable(...)` is an event's text up to its wall-clock fields, without the closing
    brace (what `EpisodeHasher.update_hashables` takes); `close(hashable, ...)` adds them.
    """

    __slots__ = ("_id_json", "_agent_json")

    def __init__(self, episode_id: str) -> None:
        self._id_json = json_string(episode_id)
        self._agent_json: dict[str, str] = {}

    def hashable(
        self,
        seq: int,
        step: int,
        agent: str,
        kind: str,
        parent: int | None,
        payload: Payload | Encoded,
    ) -> str:
        """The event's hashed form without its closing brace."""
        agent_json = self._agent_json.get(agent)
        if agent_json is None:
            agent_json = self._agent_json[agent] = json_string(agent)
        return (
            f'{{"episode_id":{self._id_json},"seq":{seq},"step":{step},"agent":{agent_json},'
            f'"kind":"{kind}","parent":{"null" if parent is None else parent},'
            f'"payload":{payload_json(payload)}'
        )

    @staticmethod
    def close(hashable: str, time: float, duration_s: float) -> str:
        """The event's whole text: its hashed form and its wall-clock fields."""
        when = to_json(float(time)).decode()
        return f'{hashable},"time":{when},"duration_s":{_duration(duration_s)}}}'


def encode_event(event: Event) -> str:
    """An event's text: exactly `event.model_dump_json()`."""
    encoder = EpisodeEncoder(event.episode_id)
    hashable = encoder.hashable(
        event.seq, event.step, event.agent, event.kind, event.parent, event.payload
    )
    return encoder.close(hashable, event.time, event.duration_s)


def decode_event(text: str | bytes) -> Event:
    """The event of a text (validating kind and payload)."""
    return Event.model_validate_json(text)


def event_row(event: Event) -> EventRow:
    """The store's row of an event."""
    return (event.episode_id, event.seq, event.kind, event.agent, event.step, encode_event(event))


def row_event(row: EventRow) -> Event:
    """The event of a store row (parsed from its text)."""
    return decode_event(row[5])


_EVENT_FIELDS = frozenset(Event.model_fields)
_new = object.__new__
_set = object.__setattr__


def _event_by_slots(values: dict[str, Any]) -> Event:
    """`Event.model_construct` with every field set, by setting pydantic's own slots
    (`__dict__`, `__pydantic_fields_set__`, `__pydantic_extra__`,
    `__pydantic_private__`) directly: private to pydantic, used only where
    `_slots_agree()` found it gives what `model_construct` gives."""
    event = _new(Event)
    _set(event, "__dict__", values)
    _set(event, "__pydantic_fields_set__", set(_EVENT_FIELDS))
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", None)
    return event


def _event_by_construct(values: dict[str, Any]) -> Event:
    """The public way: `Event.model_construct` with every field set."""
    return Event.model_construct(set(_EVENT_FIELDS), **values)


def _slots_agree() -> bool:
    """Whether `_event_by_slots` gives exactly what `_event_by_construct` gives with the
    pydantic installed (equal, the same fields set, extra and private, the same JSON)."""
    probe = {
        "episode_id": "e",
        "seq": 1,
        "step": 0,
        "agent": "a",
        "kind": "action",
        "parent": 0,
        "payload": ActionEvent(action=Action(text="x")),
        "time": 1.5,
        "duration_s": 0.0,
    }
    try:
        fast, public = _event_by_slots(dict(probe)), _event_by_construct(dict(probe))
        return (
            fast == public
            and fast.model_fields_set == public.model_fields_set
            and fast.model_extra == public.model_extra
            and fast.__pydantic_private__ == public.__pydantic_private__
            and fast.model_dump_json() == public.model_dump_json()
        )
    except Exception:  # another pydantic: its internals differ
        return False


_build_event = _event_by_slots if _slots_agree() else _event_by_construct


def trusted_event(
    episode_id: str,
    seq: int,
    step: int,
    agent: str,
    kind: str,
    parent: int | None,
    payload: Payload,
    time: float,
    duration_s: float = 0.0,
) -> Event:
    """The `Event` of a recorded event's parts, not validated: for values the recorder
    already holds checked (a typed payload of the kind). What `Event.model_construct`
    gives; built by setting pydantic's slots directly where that gives the same (see
    docs/benchmarks.md for what it saves)."""
    return _build_event(
        {
            "episode_id": episode_id,
            "seq": seq,
            "step": step,
            "agent": agent,
            "kind": kind,
            "parent": parent,
            "payload": payload,
            "time": time,
            "duration_s": duration_s,
        }
    )


def hashable_prefix(event_json: str) -> str:
    """An event's text without its wall-clock fields, as hashed: the text up to
    ``,"time":`` closed with ``}`` (no second serialisation)."""
    cut = event_json.rfind(_WALL_CLOCK_SUFFIX)
    if cut < 0:
        raise ValueError("not the JSON of an Event: no top-level time field")
    return event_json[:cut] + "}"


def hashable_json(event: Event) -> bytes:
    """The event's canonical JSON without its wall-clock fields.

    Left out: `time` and `duration_s`. Nothing else. The form is pydantic's JSON in field
    order, which a JSON round trip preserves; the run id is not part of an episode's log,
    so the same experiment run twice under two run ids gives the same hashes.
    """
    return hashable_prefix(encode_event(event)).encode()


def hashable_form(event: Event) -> dict[str, Any]:
    """`hashable_json` as a dict (for comparing two logs event by event)."""
    return json.loads(hashable_json(event))


class EpisodeHasher:
    """Incremental `episode_hash`, fed one event at a time while an episode runs: the
    SHA-256 of each event's hashed form followed by a newline."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def update(self, event: Event) -> None:
        self.update_hashable(hashable_json(event).decode())

    def update_hashable(self, hashable: str) -> None:
        """Feed an event by its `hashable_prefix` form."""
        self._digest.update(f"{hashable}\n".encode())

    def update_hashables(self, parts: list[str]) -> None:
        """Feed events by their `EpisodeEncoder.hashable` forms (no closing brace), in
        order, with one join and one encode for all of them."""
        if parts:
            update = self._digest.update
            update("}\n".join(parts).encode())
            update(b"}\n")

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


def episode_hash(events: Iterable[Event]) -> str:
    """Stable content hash of an episode log (hex SHA-256 of its `hashable_json` lines)."""
    hasher = EpisodeHasher()
    for event in events:
        hasher.update(event)
    return hasher.hexdigest()
