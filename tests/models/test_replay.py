"""ReplayModel: round trip from a built log, divergence messages, exhaustion, failures."""

from __future__ import annotations

import pytest

from palaestra.core import (
    EpisodeEnd,
    Event,
    Message,
    ModelError,
    ModelReplyError,
    ModelRequestEvent,
    ModelResponseEvent,
    Observation,
    ObservationEvent,
    ReplayDivergence,
    ToolCall,
    ToolSpec,
    Usage,
    make_event,
)
from palaestra.models._protocol import ModelRequest
from palaestra.models._replay import ReplayModel

SYSTEM = Message(role="system", content="You are a careful agent.")
TOOLS = [ToolSpec(name="add", description="Add two numbers")]


class Log:
    """Builds an episode log event by event, as the runtime records one."""

    def __init__(self, episode: str = "ep-1") -> None:
        self.episode = episode
        self.events: list[Event] = []

    def add(self, agent: str, payload, parent: int | None = None) -> int:  # noqa: ANN001
        seq = len(self.events)
        self.events.append(make_event(self.episode, seq, 0, agent, payload, parent=parent))
        return seq

    def call(
        self,
        agent: str,
        messages: list[Message],
        reply: Message,
        *,
        tools: list[ToolSpec] | None = None,
        failures: int = 0,
    ) -> None:
        request = self.add(
            agent,
            ModelRequestEvent(model="openai:gpt-x", messages=messages, tools=tools or []),
        )
        for attempt in range(1, failures + 1):
            self.add(
                agent,
                ModelResponseEvent(attempt=attempt, error="HTTP 503: busy", retry_after_s=0.5),
                parent=request,
            )
        self.add(
            agent,
            ModelResponseEvent(
                message=reply,
                usage=Usage(input_tokens=10 + len(messages), output_tokens=3),
                finish_reason="stop",
                model="gpt-x-2024",
                attempt=failures + 1,
            ),
            parent=request,
        )


def user(text: str) -> Message:
    return Message(role="user", content=text)


def assistant(text: str) -> Message:
    return Message(role="assistant", content=text)


def two_agent_log() -> Log:
    log = Log()
    log.add("env", ObservationEvent(observation=Observation(text="start")))
    call = Message(role="assistant", tool_calls=[ToolCall(id="c1", name="add", arguments={"a": 1})])
    log.call("alice", [SYSTEM, user("hi alice")], call, tools=TOOLS)
    log.call("bob", [SYSTEM, user("hi bob")], assistant("bob here"), failures=2)
    log.call(
        "alice",
        [SYSTEM, user("hi alice"), call, Message(role="tool", content="1", tool_call_id="c1")],
        assistant("the answer is 1"),
        tools=TOOLS,
    )
    return log


def request(agent: str, messages: list[Message], tools: list[ToolSpec] | None = None):
    return ModelRequest(messages=messages, tools=tools or [], agent=agent, seed=7)


async def test_round_trip_serves_recorded_replies_per_agent() -> None:
    log = two_agent_log()
    # Through JSON, as a stored log is read back.
    events = [Event.from_json(e.to_json()) for e in log.events]
    model = ReplayModel.from_events(events)
    assert model.name == "replay:openai:gpt-x"
    assert model.calls("alice") == 2 and model.calls("bob") == 1

    bob = await model.generate(request("bob", [SYSTEM, user("hi bob")]))
    assert bob.message == assistant("bob here")
    assert bob.usage == Usage(input_tokens=12, output_tokens=3)
    assert bob.finish_reason == "stop" and bob.model == "gpt-x-2024"
    assert [a.error for a in bob.failed_attempts] == ["HTTP 503: busy"] * 2

    first = await model.generate(request("alice", [SYSTEM, user("hi alice")], TOOLS))
    assert first.message.tool_calls == [ToolCall(id="c1", name="add", arguments={"a": 1})]
    assert first.failed_attempts == []
    second_messages = events[1].payload.messages + [  # type: ignore[attr-defined]
        first.message,
        Message(role="tool", content="1", tool_call_id="c1"),
    ]
    second = await model.generate(request("alice", second_messages, TOOLS))
    assert second.message.content == "the answer is 1"
    assert model.remaining("alice") == 0


async def test_served_messages_are_copies() -> None:
    model = ReplayModel.from_events(two_agent_log().events)
    reply = await model.generate(request("bob", [SYSTEM, user("hi bob")]))
    reply.message.content = "mutated"
    again = ReplayModel.from_events(two_agent_log().events)
    assert (await again.generate(request("bob", [SYSTEM, user("hi bob")]))).message.content == (
        "bob here"
    )


async def test_divergent_message_names_agent_call_and_first_difference() -> None:
    model = ReplayModel.from_events(two_agent_log().events)
    await model.generate(request("alice", [SYSTEM, user("hi alice")], TOOLS))
    changed = [SYSTEM, user("hi alice"), assistant("something else"), user("x")]
    with pytest.raises(ReplayDivergence) as info:
        await model.generate(request("alice", changed, TOOLS))
    text = str(info.value)
    assert "'alice'" in text
    assert "model call 1" in text
    assert "message 2 differs" in text
    assert "something else" in text  # what we got
    assert '"tool_calls":[{"arguments":{"a":1},"id":"c1"' in text  # what was recorded
    assert isinstance(info.value.expected, ModelRequestEvent)
    assert info.value.expected.messages[2].tool_calls[0].id == "c1"
    assert info.value.got.messages[2].content == "something else"


async def test_long_messages_are_shortened_around_the_difference() -> None:
    log = Log()
    long_text = "word " * 200
    log.call("a", [user(long_text + "END")], assistant("ok"))
    model = ReplayModel.from_events(log.events)
    with pytest.raises(ReplayDivergence) as info:
        await model.generate(request("a", [user(long_text + "FIN")]))
    text = str(info.value)
    assert "END" in text and "FIN" in text
    assert len(text) < 600


async def test_extra_or_missing_messages_and_changed_tools_diverge() -> None:
    model = ReplayModel.from_events(two_agent_log().events)
    with pytest.raises(ReplayDivergence, match="the request only 1; message 1 is missing"):
        await model.generate(request("bob", [SYSTEM]))

    model = ReplayModel.from_events(two_agent_log().events)
    with pytest.raises(ReplayDivergence, match="message 2 is new"):
        await model.generate(request("bob", [SYSTEM, user("hi bob"), user("more")]))

    model = ReplayModel.from_events(two_agent_log().events)
    other_tools = [ToolSpec(name="sub", description="Subtract")]
    with pytest.raises(ReplayDivergence, match="tool 0 differs") as info:
        await model.generate(request("alice", [SYSTEM, user("hi alice")], other_tools))
    assert "sub" in str(info.value) and "add" in str(info.value)


async def test_sampling_params_are_not_compared() -> None:
    model = ReplayModel.from_events(two_agent_log().events)
    req = request("bob", [SYSTEM, user("hi bob")])
    req.temperature = 0.9
    assert (await model.generate(req)).message.content == "bob here"


async def test_exhausted_recording_says_how_many_calls_it_has() -> None:
    model = ReplayModel.from_events(two_agent_log().events)
    await model.generate(request("bob", [SYSTEM, user("hi bob")]))
    with pytest.raises(ReplayDivergence) as info:
        await model.generate(request("bob", [SYSTEM, user("hi bob")]))
    assert "only 1 model call for agent 'bob'" in str(info.value)
    assert info.value.expected is None
    with pytest.raises(ReplayDivergence, match="only 0 model calls for agent 'carol'"):
        await model.generate(request("carol", [user("hello")]))


async def test_a_call_that_failed_for_good_fails_again() -> None:
    log = Log()
    seq = log.add("a", ModelRequestEvent(model="openai:m", messages=[user("q")]))
    log.add("a", ModelResponseEvent(error="HTTP 401: bad key"), parent=seq)
    model = ReplayModel.from_events(log.events)
    with pytest.raises(ModelError, match="HTTP 401: bad key"):
        await model.generate(request("a", [user("q")]))


def failed_call_log(end: EpisodeEnd | None) -> Log:
    """One call that failed for good after a transport re-send and two 503s."""
    log = Log()
    seq = log.add("a", ModelRequestEvent(model="openai:m", messages=[user("q")]))
    failures = [
        ModelResponseEvent(
            attempt=1, error="connection error: dropped", retry_after_s=0.0, resent=True
        ),
        ModelResponseEvent(attempt=2, error="HTTP 503: busy", retry_after_s=0.25),
        ModelResponseEvent(attempt=3, error="HTTP 503: busy"),
    ]
    for failure in failures:
        log.add("a", failure, parent=seq)
    if end is not None:
        log.add("env", end)
    return log


async def test_a_failed_call_raises_the_recorded_error_with_its_attempts() -> None:
    message = "openai:m at http://h/v1 failed after 3 attempts (status 503): HTTP 503: busy."
    end = EpisodeEnd(outcome="error", reason="error", error=f"ModelError: {message}")
    model = ReplayModel.from_events(failed_call_log(end).events)
    with pytest.raises(ModelError) as caught:
        await model.generate(request("a", [user("q")]))
    error = caught.value
    assert type(error) is ModelError and str(error) == message and error.attempts == 3
    attempts = error.failed_attempts
    assert [(a.error, a.retry_after_s, a.resent) for a in attempts] == [  # type: ignore[attr-defined]
        ("connection error: dropped", 0.0, True),
        ("HTTP 503: busy", 0.25, False),
        ("HTTP 503: busy", None, False),
    ]


async def test_a_reply_error_is_raised_as_one_again() -> None:
    end = EpisodeEnd(outcome="error", reason="error", error="ModelReplyError: not JSON")
    model = ReplayModel.from_events(failed_call_log(end).events)
    with pytest.raises(ModelReplyError, match="^not JSON$"):
        await model.generate(request("a", [user("q")]))


async def test_a_failure_the_episode_did_not_end_with_says_it_is_a_replay() -> None:
    end = EpisodeEnd(outcome="error", reason="error", error="RuntimeError: env exploded")
    for log in (failed_call_log(end), failed_call_log(None)):
        model = ReplayModel.from_events(log.events)
        with pytest.raises(ModelError, match="replay: agent 'a' call 0.*HTTP 503: busy") as caught:
            await model.generate(request("a", [user("q")]))
        assert len(caught.value.failed_attempts) == 3


async def test_a_failure_its_caller_recorded_is_raised_again() -> None:
    # a judge records the exception it caught as the call's one failed response
    log = Log()
    seq = log.add("judge", ModelRequestEvent(model="openai:m", messages=[user("grade")]))
    log.add("judge", ModelResponseEvent(error="ModelReplyError: no JSON in reply"), parent=seq)
    model = ReplayModel.from_events(log.events)
    with pytest.raises(ModelReplyError, match="^no JSON in reply$"):
        await model.generate(request("judge", [user("grade")]))


async def test_a_call_cut_by_the_wall_time_budget_is_cut_again() -> None:
    log = Log()
    log.add("a", ModelRequestEvent(model="openai:m", messages=[user("q")]))
    error = "wall-time budget of 0.3 s exceeded (limits.max_wall_s)"
    log.add("env", EpisodeEnd(outcome="failure", reason="budget", error=error))
    model = ReplayModel.from_events(log.events)
    with pytest.raises(TimeoutError, match="cut short: wall-time budget"):
        await model.generate(request("a", [user("q")]))


async def test_episodes_are_kept_apart_and_name_can_be_given() -> None:
    first, second = Log("ep-1"), Log("ep-2")
    first.call("a", [user("one")], assistant("reply one"))
    second.call("a", [user("two")], assistant("reply two"))
    model = ReplayModel.from_events([*first.events, *second.events], name="orig")
    assert model.name == "replay:orig"
    assert (await model.generate(request("a", [user("one")]))).message.content == "reply one"
    assert (await model.generate(request("a", [user("two")]))).message.content == "reply two"
