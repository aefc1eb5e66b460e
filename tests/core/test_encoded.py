"""Encoded payloads: exactly the JSON of the payload objects they stand for, the same
object when decoded, and the validated way for anything that is not of the exact types."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from palaestra.core import (
    Action,
    ActionEvent,
    Encoded,
    Event,
    Message,
    ModelRequestEvent,
    ModelResponseEvent,
    Observation,
    ObservationEvent,
    Payload,
    ToolSpec,
    Usage,
    action_payload,
    episode_hash,
    model_request_payload,
    model_response_payload,
    observation_payload,
)
from palaestra.runtime import EpisodeRecorder
from tests.core.test_events import json_value, messages, text, tool_calls, usage

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
params = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2, allow_nan=False),
        "top_p": st.floats(0, 1, allow_nan=False),
        "max_tokens": st.integers(1, 10**6),
        "seed": st.integers(0, 2**31),
        "stop": st.lists(text, max_size=2),
    },
)


def json_of(payload: Payload) -> str:
    return payload.__pydantic_serializer__.to_json(payload).decode()


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


@settings(max_examples=150, deadline=None)
@given(
    model=text,
    conversation=st.lists(messages, min_size=1, max_size=4),
    tools=st.lists(tool_specs, max_size=2),
    sampling=params,
)
def test_model_request_payload_is_the_events_json(model, conversation, tools, sampling):
    encoded = model_request_payload(model, conversation, tools, sampling)
    check(
        encoded,
        ModelRequestEvent(model=model, messages=conversation, tools=tools, params=sampling),
    )
    conversation.append(Message(role="user", content="later"))  # the request was copied
    assert isinstance(encoded, Encoded) and len(encoded.decode().messages) == len(conversation) - 1


@settings(max_examples=150, deadline=None)
@given(
    message=messages,
    spent=usage,
    finish=st.none() | text,
    model=st.none() | text,
    attempt=st.integers(1, 10),
)
def test_model_response_payload_is_the_events_json(message, spent, finish, model, attempt):
    check(
        model_response_payload(message, spent, finish, model, attempt),
        ModelResponseEvent(
            message=message, usage=spent, finish_reason=finish, model=model, attempt=attempt
        ),
    )


def test_non_finite_sampling_parameters_serialise_as_the_event_does():
    request = model_request_payload(
        "m", [Message(role="user", content="hi")], [], {"temperature": math.nan}
    )
    event = ModelRequestEvent(
        model="m", messages=[Message(role="user", content="hi")], params={"temperature": math.nan}
    )
    assert isinstance(request, Encoded) and request.to_json() == json_of(event)


def test_other_types_take_the_validated_way():
    hi = Message(role="user", content="hi")
    # A dict is validated into a Message, as the payload class does it.
    request = model_request_payload("m", [{"role": "user", "content": "hi"}], [], {})  # type: ignore[list-item]
    assert request == ModelRequestEvent(model="m", messages=[hi])
    assert type(model_request_payload("m", [], [], {})) is ModelRequestEvent
    unusual = model_request_payload("m", [hi], [], {"logit_bias": {"1": 2}})
    assert type(unusual) is ModelRequestEvent and unusual.params == {"logit_bias": {"1": 2}}
    with pytest.raises(ValidationError, match="model"):
        model_request_payload(3, [hi], [], {})  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="messages"):
        model_request_payload("m", [hi, 5], [], {})  # type: ignore[list-item]

    reply = Message(role="assistant", content="ok")
    trained = model_response_payload(reply, Usage(), "stop", "m", 1, [1, 2], [3], [-0.5])
    assert type(trained) is ModelResponseEvent and trained.token_ids == [3]
    assert "prompt_token_ids" in json_of(trained)
    with pytest.raises(ValidationError, match="finish_reason"):
        model_response_payload(reply, Usage(), 7, "m", 1)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="usage"):
        model_response_payload(reply, "lots", None, None, 1)  # type: ignore[arg-type]

    class Noted(Observation):
        pass

    assert type(observation_payload(Noted(text="x"))) is ObservationEvent
    with pytest.raises(ValidationError):
        action_payload("left")  # type: ignore[arg-type]


def test_recorder_writes_the_same_log_for_encoded_and_typed_payloads():
    hi = Message(role="user", content="hi")
    reply = Message(role="assistant", content="ok")
    pairs = [
        (
            observation_payload(Observation(text="hi")),
            ObservationEvent(observation=Observation(text="hi")),
        ),
        (
            model_request_payload("m", [hi], [], {"seed": 3}),
            ModelRequestEvent(model="m", messages=[hi], params={"seed": 3}),
        ),
        (
            model_response_payload(reply, Usage(input_tokens=1), "stop", "m", 1),
            ModelResponseEvent(
                message=reply, usage=Usage(input_tokens=1), finish_reason="stop", model="m"
            ),
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
