"""ScriptedModel: per-agent scripts, reply forms, tool-call helper, exhaustion, usage."""

from __future__ import annotations

import asyncio

import pytest

from palaestra.core import Message, ModelError, ToolCall, Usage, UserError
from palaestra.models._protocol import ModelRequest, ModelResponse
from palaestra.models._scripted import _MEMO_LIMIT, ScriptedModel, count_words


def ask(text: str, agent: str = "a") -> ModelRequest:
    return ModelRequest(messages=[Message(role="user", content=text)], agent=agent)


def test_word_counts_are_the_same_with_the_memo_and_it_stays_bounded() -> None:
    texts = [f"w{i} " * (i % 5 + 1) for i in range(_MEMO_LIMIT + 10)] + ["long " * 1000]
    conversations = [[Message(role="user", content=t), Message(role="system", content=None)]
                     for t in texts]  # fmt: skip
    memo: dict[str, int] = {}
    for messages in conversations + conversations[:20]:  # again: served from the memo
        assert (
            count_words(messages, memo)
            == count_words(messages)
            == len(
                messages[0].content.split()  # type: ignore[union-attr]
            )
        )
        assert len(memo) <= _MEMO_LIMIT
    assert "long " * 1000 not in memo  # long texts are counted each time
    call = Message(
        role="assistant",
        content="x y",
        tool_calls=[ToolCall(id="c", name="f", arguments={"a": "b c"})],
    )
    assert count_words([call], memo) == 2 + 1 + len('{"a": "b c"}'.split())


async def test_replies_in_order_with_word_count_usage() -> None:
    model = ScriptedModel(["hello there", "second reply here"])
    first = await model.generate(ask("one two three"))
    second = await model.generate(ask("four"))
    assert first.message == Message(role="assistant", content="hello there")
    assert first.usage == Usage(input_tokens=3, output_tokens=2)
    assert first.finish_reason == "stop"
    assert first.model == "scripted"
    assert second.message.content == "second reply here"
    assert second.usage.output_tokens == 3
    assert model.calls_made("a") == 2


async def test_each_agent_reads_the_script_with_its_own_cursor() -> None:
    model = ScriptedModel(["r0", "r1", "r2"])
    order = ["a", "b", "a", "c", "b", "a"]
    got = [(await model.generate(ask("x", agent))).message.content for agent in order]
    assert got == ["r0", "r0", "r1", "r0", "r1", "r2"]


async def test_concurrent_agents_stay_deterministic() -> None:
    async def slow_echo(request: ModelRequest) -> str:
        await asyncio.sleep(0.001 * len(request.agent))
        return f"{request.agent}:{request.messages[-1].content}"

    model = ScriptedModel([slow_echo, "done"])

    async def run(agent: str) -> list[str | None]:
        first = await model.generate(ask("hi", agent))
        second = await model.generate(ask("bye", agent))
        return [first.message.content, second.message.content]

    results = await asyncio.gather(*(run(name) for name in ["aaa", "b", "cc"]))
    assert results == [["aaa:hi", "done"], ["b:hi", "done"], ["cc:hi", "done"]]


async def test_exhausted_script_names_agent_and_count() -> None:
    model = ScriptedModel(["only"])
    await model.generate(ask("x", "alice"))
    with pytest.raises(ModelError) as info:
        await model.generate(ask("x", "alice"))
    assert "'alice'" in str(info.value)
    assert "1 replies were scripted" in str(info.value)
    # Another agent still has its own full script.
    assert (await model.generate(ask("x", "bob"))).message.content == "only"


async def test_cycle_starts_over() -> None:
    model = ScriptedModel(["x", "y"], cycle=True)
    got = [(await model.generate(ask("q"))).message.content for _ in range(5)]
    assert got == ["x", "y", "x", "y", "x"]


async def test_callable_replies_sync_and_async_and_fn() -> None:
    def sync_reply(request: ModelRequest) -> str:
        return f"sync saw {len(request.messages)} message(s)"

    async def async_reply(request: ModelRequest) -> Message:
        return Message(role="assistant", content=request.messages[0].content.upper())

    model = ScriptedModel([sync_reply, async_reply])
    assert (await model.generate(ask("hi"))).message.content == "sync saw 1 message(s)"
    assert (await model.generate(ask("shout"))).message.content == "SHOUT"

    echo = ScriptedModel(fn=lambda request: request.messages[-1].content or "")
    for text in ["a b", "c"]:
        assert (await echo.generate(ask(text))).message.content == text
    assert echo.calls_made("a") == 2


async def test_model_response_items_are_served_as_given() -> None:
    given = ModelResponse(
        message=Message(role="assistant", content="custom"),
        usage=Usage(input_tokens=7, output_tokens=1, cost_usd=0.5),
        finish_reason="length",
        model="m",
    )
    model = ScriptedModel([given])
    assert await model.generate(ask("x")) == given


async def test_tool_call_helper_numbers_ids_per_agent() -> None:
    model = ScriptedModel(
        [ScriptedModel.call("add", a=1, b=2), ScriptedModel.call("done"), "The sum is 3."]
    )
    first = await model.generate(ask("add them"))
    assert first.message.tool_calls == [
        ToolCall(id="call_0", name="add", arguments={"a": 1, "b": 2})
    ]
    assert first.message.content is None
    assert first.finish_reason == "tool_calls"
    # tool name + JSON arguments count as words: "add" + '{"a": 1, "b": 2}' (4 words)
    assert first.usage.output_tokens == 5
    second = await model.generate(ask("next"))
    assert second.message.tool_calls[0].id == "call_1"
    assert (await model.generate(ask("x"))).message.content == "The sum is 3."
    # The script itself is untouched, and another agent gets its own numbering.
    other = await model.generate(ask("add them", "b"))
    assert other.message.tool_calls[0].id == "call_0"


async def test_explicit_tool_call_ids_are_kept() -> None:
    message = Message(
        role="assistant", tool_calls=[ToolCall(id="mine", name="t"), ToolCall(id="", name="u")]
    )
    reply = await ScriptedModel([message]).generate(ask("x"))
    assert [call.id for call in reply.message.tool_calls] == ["mine", "call_0"]


async def test_reset_rewinds() -> None:
    model = ScriptedModel(["one"])
    await model.generate(ask("x"))
    model.reset()
    assert (await model.generate(ask("x"))).message.content == "one"


@pytest.mark.parametrize(
    ("args", "kwargs", "fragment"),
    [
        ((), {}, "needs `replies`"),
        ((["a"],), {"fn": lambda r: "b"}, "not both"),
        (("just text",), {}, "wrap it in a list"),
        (([42],), {}, "replies[0] has type int"),
        (([Message(role="user", content="hi")],), {}, "'user' message"),
    ],
)
def test_bad_scripts_are_user_errors(args: tuple, kwargs: dict, fragment: str) -> None:
    with pytest.raises(UserError) as info:
        ScriptedModel(*args, **kwargs)
    assert fragment in str(info.value)


async def test_reply_function_returning_garbage_is_a_user_error() -> None:
    model = ScriptedModel(fn=lambda request: 3)  # type: ignore[arg-type,return-value]
    with pytest.raises(UserError, match="has type int"):
        await model.generate(ask("x"))
