"""The event schema: lossless JSON round trip, kind/payload agreement, the log hash."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from palaestra.core import (
    PAYLOADS,
    SCHEMA_VERSION,
    Action,
    ActionEvent,
    EnvStep,
    EpisodeEnd,
    EpisodeStart,
    Event,
    FileEntry,
    Message,
    MessageEvent,
    ModelRequestEvent,
    ModelResponseEvent,
    Observation,
    ObservationEvent,
    ScoreEvent,
    ToolCall,
    ToolCallEvent,
    ToolResultEvent,
    ToolSpec,
    Usage,
    WorkspaceManifest,
    episode_hash,
    make_event,
)
from palaestra.core._event_codec import hashable_json

EXPECTED_KINDS = {
    "episode_start",
    "observation",
    "model_request",
    "model_response",
    "tool_call",
    "tool_result",
    "message",
    "action",
    "env_step",
    "memory_read",
    "memory_write",
    "governance",
    "fault",
    "contract_verdict",
    "workspace",
    "score",
    "episode_end",
}

text = st.text(max_size=30)
json_scalar = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text
json_value = st.recursive(
    json_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
tool_calls = st.builds(
    ToolCall, id=text, name=text, arguments=st.dictionaries(text, json_value, max_size=3)
)
messages = st.builds(
    Message,
    role=st.sampled_from(["system", "user", "assistant", "tool"]),
    content=st.none() | text,
    tool_calls=st.lists(tool_calls, max_size=2),
)
usage = st.builds(
    Usage,
    input_tokens=st.integers(0, 10**6),
    output_tokens=st.integers(0, 10**6),
    cost_usd=st.floats(0, 100, allow_nan=False),
)
finite = st.floats(-1e6, 1e6, allow_nan=False)
payloads = st.one_of(
    st.builds(
        EpisodeStart,
        env=text,
        task=text,
        seed=st.integers(0, 2**31),
        agents=st.lists(text, max_size=3),
        params=st.dictionaries(text, json_value, max_size=3),
    ),
    st.builds(
        ObservationEvent,
        observation=st.builds(
            Observation,
            text=text,
            data=st.dictionaries(text, json_value, max_size=3),
            tools=st.lists(st.builds(ToolSpec, name=text, description=text), max_size=2),
        ),
    ),
    st.builds(ModelRequestEvent, model=text, messages=st.lists(messages, max_size=3)),
    st.builds(ModelResponseEvent, message=messages, usage=usage, error=st.none() | text),
    st.builds(ToolCallEvent, call=tool_calls),
    st.builds(ToolResultEvent, call_id=text, name=text, content=text, is_error=st.booleans()),
    st.builds(MessageEvent, sender=text, recipients=st.lists(text, max_size=3), content=text),
    st.builds(
        ActionEvent,
        action=st.builds(
            Action, text=st.none() | text, tool_calls=st.lists(tool_calls, max_size=2)
        ),
    ),
    st.builds(
        EnvStep,
        rewards=st.dictionaries(text, finite, max_size=3),
        terminated=st.booleans(),
        truncated=st.booleans(),
    ),
    st.builds(ScoreEvent, value=st.floats(0, 1), success=st.booleans()),
    st.builds(
        WorkspaceManifest,
        files=st.lists(
            st.builds(
                FileEntry,
                path=text,
                kind=st.sampled_from(["file", "dir", "symlink", "other"]),
                size=st.integers(0, 2**40),
                sha256=st.none() | st.text("0123456789abcdef", min_size=64, max_size=64),
                target=st.none() | text,
            ),
            max_size=3,
        ),
        total_files=st.integers(0, 10**7),
        total_bytes=st.integers(0, 2**40),
        truncated=st.booleans(),
    ),
    st.builds(
        EpisodeEnd,
        outcome=st.sampled_from(["success", "failure", "error"]),
        reason=st.sampled_from(["done", "max_steps", "error", "budget"]),
        usage=usage,
    ),
)
events = st.builds(
    make_event,
    st.text(min_size=1, max_size=20),
    st.integers(0, 10**6),
    st.integers(0, 10**4),
    text,
    payloads,
    parent=st.none() | st.integers(0, 10**6),
    time=st.floats(0, 2e9, allow_nan=False),
    duration_s=st.floats(0, 1e6, allow_nan=False),
)


def test_every_design_kind_has_a_payload_class():
    assert set(PAYLOADS) == EXPECTED_KINDS


@settings(max_examples=300, deadline=None)
@given(events)
def test_json_round_trip_is_lossless(event):
    again = Event.from_json(event.to_json())
    assert again == event
    assert type(again.payload) is type(event.payload)
    assert again.to_json() == event.to_json()


@settings(max_examples=100, deadline=None)
@given(st.lists(events, min_size=1, max_size=5))
def test_hash_survives_round_trip(log):
    assert episode_hash(log) == episode_hash([Event.from_json(e.to_json()) for e in log])


def _response(latency: float, time: float, content: str = "hi") -> Event:
    payload = ModelResponseEvent(message=Message(role="assistant", content=content))
    return make_event("ep", 1, 0, "a", payload, parent=0, time=time, duration_s=latency)


def test_hash_ignores_wall_clock_fields_only():
    base = _response(0.5, 100.0)
    assert episode_hash([base]) == episode_hash([_response(9.0, 999.0)])
    assert episode_hash([base]) != episode_hash([_response(0.5, 100.0, content="ho")])
    moved = base.model_copy(update={"seq": 2})
    assert episode_hash([base]) != episode_hash([moved])
    # a payload dict with a "time" key is content, not wall clock
    info = EnvStep(info={"b": 1, "time": 5})
    other = EnvStep(info={"b": 1, "time": 6})
    assert episode_hash([make_event("e", 0, 0, "env", info)]) != episode_hash(
        [make_event("e", 0, 0, "env", other)]
    )


def test_hashable_json_is_the_stored_json_without_wall_clock():
    event = _response(0.25, 1234.5)
    stored = json.loads(event.to_json())
    hashed = json.loads(hashable_json(event))
    assert stored.pop("time") == 1234.5 and stored.pop("duration_s") == 0.25
    assert hashed == stored


def test_kind_selects_payload_class_and_rejects_mismatch():
    event = Event.model_validate(
        {
            "episode_id": "e",
            "seq": 0,
            "step": 0,
            "agent": "env",
            "kind": "score",
            "payload": {"value": 1.0, "success": True},
        }
    )
    assert isinstance(event.payload, ScoreEvent)
    with pytest.raises(ValidationError):
        Event.model_validate(
            {
                "episode_id": "e",
                "seq": 0,
                "step": 0,
                "agent": "env",
                "kind": "score",
                "payload": {"sender": "a", "recipients": [], "content": "x"},
            }
        )
    with pytest.raises(ValidationError):
        Event.model_validate(
            {"episode_id": "e", "seq": 0, "step": 0, "agent": "env", "kind": "nope", "payload": {}}
        )


def test_negative_seq_rejected_and_schema_version_recorded():
    with pytest.raises(ValidationError):
        Event(
            episode_id="e",
            seq=-1,
            step=0,
            agent="a",
            kind="score",
            payload=ScoreEvent(value=0, success=False),
        )
    start = make_event("e", 0, 0, "env", EpisodeStart(env="x", task="t", seed=1))
    assert json.loads(start.to_json())["payload"]["schema_version"] == SCHEMA_VERSION


def test_non_finite_numbers_are_refused():
    """NaN would be written as null and could not be read back: refuse it up front."""
    with pytest.raises(ValidationError, match="finite number"):
        EnvStep(rewards={"a": float("nan")})
    with pytest.raises(ValidationError, match="finite number"):
        Usage(cost_usd=float("inf"))
