"""The event codec (`palaestra.core._event_codec`), the one writer of an event's bytes:
on the events of a real run and on generated ones its text is exactly pydantic's JSON of
the `Event` and decodes to the same event; `Encoded` payloads are exactly the JSON of the
payload objects they stand for, the same object when decoded, and the validated way for
anything that is not of the exact types."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

import palaestra
import palaestra.core._event_codec as codec
from palaestra.core import (
    Action,
    ActionEvent,
    Encoded,
    EpisodeEncoder,
    EpisodeHasher,
    Event,
    ModelResponseEvent,
    Observation,
    ObservationEvent,
    Payload,
    ToolSpec,
    Usage,
    action_payload,
    decode_event,
    encode_event,
    episode_hash,
    event_row,
    observation_payload,
    row_event,
    trusted_event,
)
from palaestra.core._event_codec import HEADER, hashable_json, payload_json
from palaestra.runtime import EpisodeRecorder
from palaestra.store import Store
from tests.core.test_events import json_value, messages, payloads, text, tool_calls

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

tool_specs = st.builds(
    ToolSpec,
    name=text,
    description=text,
    parameters=st.dictionaries(text, json_value, max_size=2),
)
observations = st.builds(
    Observation,
    text=text,
    data=st.dictionaries(text, json_value, max_size=3),
    tools=st.lists(tool_specs, max_size=2),
    messages=st.lists(messages, max_size=2),
)
actions = st.builds(
    Action,
    text=st.none() | text,
    tool_calls=st.lists(tool_calls, max_size=2),
    data=st.dictionaries(text, json_value, max_size=2),
)


def json_of(payload: Payload) -> str:
    return payload.model_dump_json()


def check(encoded: Encoded | Payload, expected: Payload) -> None:
    assert isinstance(encoded, Encoded), f"took the validated way: {encoded!r}"
    assert encoded.kind == expected.kind
    assert encoded.to_json() == json_of(expected)
    assert encoded.decode() == expected


@settings(max_examples=150, deadline=None)
@given(observation=observations, action=actions)
def test_observation_and_action_payloads_are_the_events_json(observation, action):
    check(observation_payload(observation), ObservationEvent(observation=observation))
    check(action_payload(action), ActionEvent(action=action))


def test_other_types_take_the_validated_way():
    class Noted(Observation):
        pass

    noted = observation_payload(Noted(text="x"))
    assert type(noted) is ObservationEvent
    assert payload_json(noted) == noted.model_dump_json()
    assert type(action_payload(Action.model_validate({"text": "x"}))) is Encoded
    with pytest.raises(ValidationError):
        action_payload("left")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        observation_payload({"text": 3})  # type: ignore[arg-type]


def test_recorder_writes_the_same_log_for_encoded_and_typed_payloads():
    pairs = [
        (
            observation_payload(Observation(text="hi")),
            ObservationEvent(observation=Observation(text="hi")),
        ),
        (action_payload(Action(text="ok")), ActionEvent(action=Action(text="ok"))),
    ]
    encoded_rec = EpisodeRecorder("e", run_seed=0, clock=lambda: 1.5)
    typed_rec = EpisodeRecorder("e", run_seed=0, clock=lambda: 1.5)
    for encoded, typed in pairs:
        assert isinstance(encoded, Encoded)
        encoded_rec.emit(0, "a", encoded, duration_s=0.25)
        typed_rec.emit(0, "a", typed, duration_s=0.25)
    rows = encoded_rec.drain()
    assert rows == typed_rec.drain()
    events = [Event.from_json(row[5]) for row in rows]
    assert [e.payload for e in events] == [typed for _, typed in pairs]
    assert encoded_rec.hexdigest() == typed_rec.hexdigest() == episode_hash(events)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> list[Event]:
    """The events of a built-in experiment (examples/assurance/contracts.yaml: a tool-use
    environment, its baseline and a scripted LLM agent, contracts checked online)."""
    db = tmp_path_factory.mktemp("codec") / "runs.db"
    result = palaestra.run(EXAMPLES / "assurance" / "contracts.yaml", store=db)
    with Store(db) as store:
        events = [e for row in result.episodes for e in store.events(result.run_id, row.episode_id)]
    return events


def check_event(event: Event) -> None:
    reference = event.model_dump_json()
    text = encode_event(event)
    assert text == reference
    assert list(json.loads(text))[: len(HEADER)] == list(HEADER)
    assert decode_event(text) == event
    assert event_row(event) == (
        event.episode_id,
        event.seq,
        event.kind,
        event.agent,
        event.step,
        reference,
    )
    assert row_event(event_row(event)) == event


def test_recorded_events_encode_as_pydantic_does_and_decode_to_themselves(recorded):
    kinds = {e.kind for e in recorded}
    assert {"model_request", "model_response", "contract_verdict"} <= kinds
    assert {"episode_start", "observation", "action", "env_step", "score", "episode_end"} <= kinds
    assert any(e.duration_s for e in recorded) and all(e.time for e in recorded)
    for event in recorded:
        check_event(event)


def test_recorded_texts_are_what_the_store_holds(recorded, tmp_path):
    """The store's text of each event (written by the recorder, through the writer
    process) is the codec's, and its hash is `episode_hash` over the decoded events."""
    texts = [encode_event(e) for e in recorded]
    assert [decode_event(t) for t in texts] == recorded
    by_episode: dict[str, list[Event]] = {}
    for event in recorded:
        by_episode.setdefault(event.episode_id, []).append(event)
    for events in by_episode.values():
        hasher = EpisodeHasher()
        encoder = EpisodeEncoder(events[0].episode_id)
        hasher.update_hashables(
            [encoder.hashable(e.seq, e.step, e.agent, e.kind, e.parent, e.payload) for e in events]
        )
        assert hasher.hexdigest() == episode_hash(events)
        assert [hashable_json(e) for e in events] == [
            (encoder.hashable(e.seq, e.step, e.agent, e.kind, e.parent, e.payload) + "}").encode()
            for e in events
        ]


@settings(max_examples=200, deadline=None)
@given(
    payload=payloads,
    seq=st.integers(0, 10**6),
    parent=st.none() | st.integers(0, 10**6),
    when=st.floats(0, 1e17, allow_nan=False),
    duration=st.floats(0, 1e6, allow_nan=False),
    agent=st.text(min_size=1, max_size=12),
)
def test_generated_events_encode_as_pydantic_does(payload, seq, parent, when, duration, agent):
    check_event(
        Event(
            episode_id='e\u00e9"',
            seq=seq,
            step=seq // 3,
            agent=agent,
            kind=payload.kind,
            parent=parent,
            payload=payload,
            time=when,
            duration_s=duration,
        )
    )


def test_trusted_event_is_model_construct_both_ways(recorded, monkeypatch):
    """`trusted_event` sets pydantic's slots only where that gives what the public
    `Event.model_construct` gives; both ways give the recorded events themselves."""
    ways = (codec._event_by_slots, codec._event_by_construct)
    assert codec._slots_agree() and codec._build_event is codec._event_by_slots
    for event in recorded:
        values = dict(event)
        built = [way(dict(values)) for way in ways]
        for one in built:
            assert one == event
            assert one.model_fields_set == set(Event.model_fields)
            assert one.model_dump_json() == event.model_dump_json()
        assert built[0].__pydantic_private__ == built[1].__pydantic_private__
        assert built[0].model_extra == built[1].model_extra
    fields = dict(recorded[0])
    event = trusted_event(**fields)
    assert event == recorded[0]
    event.step = 7  # an ordinary model: assignment works, and counts as set
    assert event.step == 7 and "step" in event.model_fields_set

    def broken(values):
        raise AttributeError("__pydantic_fields_set__")

    monkeypatch.setattr(codec, "_event_by_slots", broken)
    assert not codec._slots_agree()  # another pydantic: the public way is chosen


@settings(max_examples=300, deadline=None)
@given(
    message=st.none() | messages,
    finish=st.none() | text,
    model=st.none() | text,
    attempt=st.integers(1, 10),
    error=st.none() | text,
    retry=st.none() | st.floats(0, 1e4, allow_nan=False),
    resent=st.booleans(),
    token_ids=st.none() | st.lists(st.integers(0, 50_000), max_size=3),
    logprobs=st.none() | st.lists(st.floats(-50, 0, allow_nan=False), max_size=3),
)
def test_model_responses_are_written_as_pydantic_writes_them(
    message, finish, model, attempt, error, retry, resent, token_ids, logprobs
):
    """The codec writes the common model response from its fields (see `_response_json`);
    every combination of fields gives pydantic's JSON."""
    response = ModelResponseEvent(
        message=message,
        usage=Usage(input_tokens=attempt, output_tokens=3, cost_usd=0.5),
        finish_reason=finish,
        model=model,
        attempt=attempt,
        error=error,
        retry_after_s=retry,
        resent=resent,
        prompt_token_ids=token_ids,
        token_ids=token_ids,
        logprobs=logprobs,
    )
    assert payload_json(response) == response.model_dump_json()
