"""The recorder serialises events itself (no Event objects on the hot path): its JSON must
be exactly `Event.to_json()`, and its hash exactly `episode_hash`."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from palaestra.core import Event, Usage, episode_hash
from palaestra.runtime import EpisodeRecorder
from palaestra.runtime._recorder import BudgetExceeded, row_event
from tests.core.test_events import payloads

names = st.text(min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    episode_id=names,
    items=st.lists(
        st.tuples(names, payloads, st.floats(0, 1e4, allow_nan=False), st.booleans()),
        min_size=1,
        max_size=6,
    ),
    clock=st.floats(0, 2e9, allow_nan=False),
)
def test_recorder_json_is_event_to_json(episode_id, items, clock):
    rec = EpisodeRecorder(episode_id, run_seed=0, clock=lambda: clock)
    expected = []
    for step, (agent, payload, duration, linked) in enumerate(items):
        parent = step - 1 if linked and step else None
        seq = rec.emit(step, agent, payload, parent=parent, duration_s=duration)
        expected.append(
            Event(
                episode_id=episode_id,
                seq=seq,
                step=step,
                agent=agent,
                kind=payload.kind,
                parent=parent,
                payload=payload,
                time=clock,
                duration_s=duration,
            )
        )
    rows = rec.drain()
    assert [row[5] for row in rows] == [e.to_json() for e in expected]
    assert [row_event(row) for row in rows] == expected
    assert rec.hexdigest() == episode_hash(expected)
    assert rec.drain() == []  # nothing kept once handed over


def test_usage_and_token_budget():
    rec = EpisodeRecorder("e", run_seed=0, max_tokens=10)
    rec.add_usage(Usage(input_tokens=4, output_tokens=3, cost_usd=0.5))
    assert rec.usage == Usage(input_tokens=4, output_tokens=3, cost_usd=0.5)
    try:
        rec.add_usage(Usage(input_tokens=4))
    except BudgetExceeded as exc:
        assert "11 > 10" in str(exc)
    else:
        raise AssertionError("budget not enforced")


def test_rng_is_per_episode_agent_purpose_and_persists():
    a = EpisodeRecorder("e", run_seed=1)
    b = EpisodeRecorder("e", run_seed=1)
    first = [a.rng("x", "p").random() for _ in range(3)]
    assert first == [b.rng("x", "p").random() for _ in range(3)]
    assert len(set(first)) == 3  # one generator for the whole episode, not re-seeded
    assert a.rng("y", "p").random() != EpisodeRecorder("e", run_seed=1).rng("x", "p").random()
