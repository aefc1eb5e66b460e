"""Property: any event log reads back from the store (and through JSONL) exactly as written."""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from palaestra.core import (
    Action,
    ActionEvent,
    EnvStep,
    EpisodeEnd,
    Event,
    Fault,
    Governance,
    MemoryWrite,
    Message,
    MessageEvent,
    ModelRequestEvent,
    ModelResponseEvent,
    Observation,
    ObservationEvent,
    Payload,
    ScoreEvent,
    ToolCall,
    ToolCallEvent,
    ToolResultEvent,
    ToolSpec,
    Usage,
    make_event,
)
from palaestra.store import EpisodeRow, EpisodeSummary, Store, export_jsonl, import_jsonl

# Text without lone surrogates (not representable in UTF-8 JSON) and finite floats (JSON
# has no NaN or infinity): everything else, unicode included, must round-trip.
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
names = st.text("abcxyz_0123", min_size=1, max_size=6)
floats = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | floats | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
json_objects = st.dictionaries(text, json_values, max_size=3)

tool_calls = st.builds(ToolCall, id=names, name=names, arguments=json_objects)
messages = st.builds(
    Message,
    role=st.sampled_from(["system", "user", "assistant", "tool"]),
    content=st.none() | text,
    name=st.none() | names,
    tool_calls=st.lists(tool_calls, max_size=2),
)
tool_specs = st.builds(ToolSpec, name=names, description=text)
usages = st.builds(
    Usage,
    input_tokens=st.integers(0, 10**6),
    output_tokens=st.integers(0, 10**6),
    cost_usd=st.floats(0, 10, allow_nan=False),
)

payloads: st.SearchStrategy[Payload] = st.one_of(
    st.builds(
        ObservationEvent,
        observation=st.builds(
            Observation, text=text, data=json_objects, tools=st.lists(tool_specs, max_size=2)
        ),
    ),
    st.builds(
        ModelRequestEvent, model=names, messages=st.lists(messages, max_size=3), params=json_objects
    ),
    st.builds(
        ModelResponseEvent,
        message=st.none() | messages,
        usage=usages,
        error=st.none() | text,
    ),
    st.builds(ToolCallEvent, call=tool_calls),
    st.builds(ToolResultEvent, call_id=names, name=names, content=text, is_error=st.booleans()),
    st.builds(MessageEvent, sender=names, recipients=st.lists(names, max_size=3), content=text),
    st.builds(
        ActionEvent,
        action=st.builds(
            Action,
            text=st.none() | text,
            tool_calls=st.lists(tool_calls, max_size=2),
            data=json_objects,
        ),
    ),
    st.builds(
        EnvStep,
        rewards=st.dictionaries(names, floats, max_size=3),
        terminated=st.booleans(),
        info=json_objects,
    ),
    st.builds(MemoryWrite, key=text, value=json_values),
    st.builds(Governance, decision=st.sampled_from(["allow", "rewrite", "block"]), rule=text),
    st.builds(Fault, fault=names, target=names, detail=json_objects),
    st.builds(
        ScoreEvent,
        value=floats,
        success=st.booleans(),
        metrics=st.dictionaries(names, floats, max_size=2),
    ),
    st.builds(
        EpisodeEnd,
        outcome=st.sampled_from(["success", "failure", "error"]),
        reason=st.sampled_from(["done", "max_steps", "error", "budget", "truncated"]),
        usage=usages,
    ),
)


@st.composite
def episode_logs(draw: st.DrawFn) -> list[Event]:
    episode_id = draw(text.filter(bool))
    items = draw(st.lists(st.tuples(payloads, names, st.integers(0, 50), floats), max_size=12))
    return [
        make_event(episode_id, seq, step, agent, payload, parent=seq - 1 if seq else None, time=t)
        for seq, (payload, agent, step, t) in enumerate(items)
    ]


def _write(store: Store, run_id: str, logs: list[list[Event]]) -> None:
    store.create_run(run_id, experiment={"n": len(logs)}, seed=0)
    for log in logs:
        episode_id = log[0].episode_id
        store.start_episode(run_id, EpisodeRow(episode_id=episode_id, env="e", task="t", seed=0))
        store.append(run_id, log)
        summary = EpisodeSummary(episode_id=episode_id, outcome="success", reason="done")
        store.finish_episode(run_id, summary)


unique_logs = st.lists(
    episode_logs().filter(bool), min_size=1, max_size=3, unique_by=lambda log: log[0].episode_id
)
settings_ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@settings_
@given(logs=unique_logs, batch_size=st.integers(1, 7))
@pytest.mark.slow
def test_store_round_trip(
    tmp_path_factory: pytest.TempPathFactory, logs: list[list[Event]], batch_size: int
) -> None:
    with Store(tmp_path_factory.mktemp("prop") / "s.db", batch_size=batch_size) as store:
        _write(store, "r", logs)
        for log in logs:
            back = store.events("r", log[0].episode_id)
            assert back == log
            assert [e.to_json() for e in back] == [e.to_json() for e in log]
        assert list(store.iter_events("r")) == [e for log in logs for e in log]


@settings_
@given(logs=unique_logs)
def test_jsonl_round_trip(
    tmp_path_factory: pytest.TempPathFactory, logs: list[list[Event]]
) -> None:
    root = tmp_path_factory.mktemp("prop-jsonl")
    with Store(root / "a.db") as a, Store(root / "b.db") as b:
        _write(a, "r", logs)
        first, second = io.StringIO(), io.StringIO()
        export_jsonl(a, "r", first)
        import_jsonl(b, io.StringIO(first.getvalue()))
        export_jsonl(b, "r", second)
        assert first.getvalue() == second.getvalue()
        assert list(b.iter_events("r")) == [e for log in logs for e in log]


def test_strategy_covers_many_kinds() -> None:
    """The property tests above really draw events of many kinds (guards the strategy)."""
    kinds: set[Any] = set()

    @settings(max_examples=200, deadline=None)
    @given(payloads)
    def collect(payload: Payload) -> None:
        kinds.add(payload.kind)

    collect()
    assert len(kinds) >= 10
