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
    clock=st.one_of(  # readings print via repr in [1e-4, 1e15), else via to_json
        st.floats(0, 2e9, allow_nan=False),
        st.floats(1e14, 1e17, allow_nan=False),
        st.integers(0, 2**40),
    ),
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


async def test_child_contexts_are_placed_where_created_whatever_the_timing():
    import asyncio

    from palaestra.core import MessageEvent
    from palaestra.runtime._recorder import AgentContext

    def play(delays: tuple[float, float]):
        async def body() -> list[tuple[str, str, int | None, str]]:
            rec = EpisodeRecorder("e", run_seed=0, clock=lambda: 0.0)
            opened = rec.emit(0, "env", MessageEvent(sender="env", recipients=[], content="0"))
            turn = AgentContext(rec, "boss", 0, opened)
            asked = turn.emit(MessageEvent(sender="boss", recipients=["a", "b"], content="go"))
            workers = [turn.child(name, parent=asked) for name in ("a", "b")]

            async def work(ctx: AgentContext, delay: float) -> int:
                await asyncio.sleep(delay)
                first = ctx.emit(
                    MessageEvent(sender=ctx.agent, recipients=[], content="1"),
                    parent=ctx.turn_event,
                )
                await asyncio.sleep(delay)
                return ctx.emit(
                    MessageEvent(sender=ctx.agent, recipients=[], content="2"), parent=first
                )

            last = await asyncio.gather(*(work(w, d) for w, d in zip(workers, delays, strict=True)))
            turn.emit(MessageEvent(sender="boss", recipients=[], content="done"), parent=last[1])
            rec.flush_turn(turn)
            events = [row_event(row) for row in rec.drain()]
            return [(e.agent, e.payload.content, e.parent, e.kind) for e in events]  # type: ignore[union-attr]

        return body()

    fast_a = await play((0.0, 0.01))
    fast_b = await play((0.01, 0.0))
    assert (
        fast_a
        == fast_b
        == [
            ("env", "0", None, "message"),
            ("boss", "go", None, "message"),
            ("boss/a", "1", 1, "message"),
            ("boss/a", "2", 2, "message"),
            ("boss/b", "1", 1, "message"),
            ("boss/b", "2", 4, "message"),
            ("boss", "done", 5, "message"),
        ]
    )


def test_child_may_not_hang_under_a_later_event():
    from palaestra.core import MessageEvent
    from palaestra.runtime._recorder import AgentContext

    rec = EpisodeRecorder("e", run_seed=0)
    turn = AgentContext(rec, "boss", 0, 0)
    worker = turn.child("w")
    later = turn.emit(MessageEvent(sender="boss", recipients=["w"], content="x"))
    worker.emit(MessageEvent(sender="boss/w", recipients=[], content="y"), parent=later)
    try:
        rec.flush_turn(turn)
    except RuntimeError as exc:
        assert "recorded after it" in str(exc)
    else:
        raise AssertionError("a forward parent reference must be refused")
    try:
        turn.child("a/b")
    except ValueError as exc:
        assert "without '/'" in str(exc)
    else:
        raise AssertionError("a child name with '/' must be refused")
