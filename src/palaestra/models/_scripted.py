"""`ScriptedModel`: a model that answers from a script, for tests, demos and benchmarks.

It is the test double users need to check their own agents offline (like pydantic-ai's
`TestModel` / `FunctionModel`): give it the replies in order, or a function that answers
every request. Each agent (`request.agent`) reads the script with its own cursor, so
several agents sharing one instance stay deterministic however their calls interleave.

Usage is deterministic too: tokens are counted as whitespace-separated words of the
prompt and of the reply. Calls cost no time and build as few objects as possible on the
hot path (it serves tens of thousands of calls in the overhead benchmark).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, TypeAlias

from pydantic import TypeAdapter

from palaestra.core import Message, ModelError, ToolCall, Usage, UserError
from palaestra.models._protocol import ModelRequest, ModelResponse

ReplyValue: TypeAlias = str | Message | ModelResponse
"""What a script item (or a reply function) produces: assistant text, an assistant
message (text and/or tool calls), or a full response (usage, finish reason...)."""

ReplyFn: TypeAlias = Callable[[ModelRequest], ReplyValue | Awaitable[ReplyValue]]
"""A function answering one request, sync or async."""

Reply: TypeAlias = ReplyValue | ReplyFn
"""One item of a script."""


_MEMO_LIMIT = 4096
"""Texts a word-count memo holds before it starts over."""
_MEMO_TEXT = 2048
"""Longer texts are counted each time (a memo of them would hold on to much memory)."""


def count_words(messages: Sequence[Message], memo: dict[str, int] | None = None) -> int:
    """Whitespace-separated words in the messages' text and tool calls (name + JSON
    arguments): the scripted model's deterministic stand-in for a token count. `memo`
    remembers the counts of texts seen before (a conversation sends its system prompt and
    earlier messages again with every call)."""
    total = 0
    for message in messages:
        content = message.content
        if content:
            found = None if memo is None else memo.get(content)
            if found is None:
                found = len(content.split())
                if memo is not None and len(content) <= _MEMO_TEXT:
                    if len(memo) >= _MEMO_LIMIT:
                        memo.clear()
                    memo[content] = found
            total += found
        for call in message.tool_calls:
            total += 1 + len(json.dumps(call.arguments).split())
    return total


_new_message = TypeAdapter(Message).validator.validate_python
_new_usage = TypeAdapter(Usage).validator.validate_python
"""The validators called directly (pydantic's public `TypeAdapter.validator`): what
`Message(...)` / `Usage(...)` run, without their Python `__init__` frame."""


def _assistant(text: str) -> Message:
    return _new_message({"role": "assistant", "content": text})


class ScriptedModel:
    """A model that replies from a script (or a function), deterministically.

    `replies` are served in order, one per call, with a separate cursor per agent; each
    item is assistant text, a `Message`, a `ModelResponse`, or a function of the
    `ModelRequest` returning one of those (sync or async). `fn` instead answers every
    request. With `cycle=True` the script starts over when it runs out; otherwise the
    next call raises `ModelError`.

    Tool calls built with `ScriptedModel.call(...)` get their ids when served:
    `call_0`, `call_1`, ... counted per agent, so the same script gives the same ids.

    Example::

        model = ScriptedModel([ScriptedModel.call("add", a=1, b=2), "The sum is 3."])
    """

    def __init__(
        self,
        replies: Sequence[Reply] | None = None,
        *,
        fn: ReplyFn | None = None,
        name: str = "scripted",
        cycle: bool = False,
    ) -> None:
        if replies is not None and fn is not None:
            raise UserError("ScriptedModel: give either `replies` or `fn`, not both")
        if replies is None and fn is None:
            raise UserError(
                "ScriptedModel needs `replies` (a list of texts, Messages, ModelResponses "
                "or functions of the request) or `fn` (a function answering every request)"
            )
        if isinstance(replies, str | Message | ModelResponse):
            raise UserError(
                f"ScriptedModel: `replies` must be a list of replies, got a single "
                f"{type(replies).__name__}; wrap it in a list"
            )
        self._replies: list[Reply] = list(replies) if replies is not None else []
        for index, item in enumerate(self._replies):
            _check_item(item, f"replies[{index}]")
        if fn is not None and not callable(fn):
            raise UserError(f"ScriptedModel: `fn` must be callable, got {type(fn).__name__}")
        self._fn = fn
        self._name = name
        self._cycle = cycle
        self._cursors: dict[str, int] = {}
        self._call_ids: dict[str, int] = {}
        self._words: dict[str, int] = {}

    @property
    def name(self) -> str:
        """The name recorded in the log (`scripted` unless given)."""
        return self._name

    @staticmethod
    def call(name: str, /, **arguments: Any) -> Message:
        """An assistant message that calls tool `name` with `arguments`.

        The call's id is filled in when the reply is served (`call_{n}`, counted per
        agent). Build a `Message` with several `ToolCall`s to call tools in parallel.
        """
        return Message(
            role="assistant", tool_calls=[ToolCall(id="", name=name, arguments=arguments)]
        )

    def calls_made(self, agent: str = "") -> int:
        """How many replies this agent has been served."""
        return self._cursors.get(agent, 0)

    def reset(self) -> None:
        """Rewind every agent's cursor and tool-call counter to the start."""
        self._cursors.clear()
        self._call_ids.clear()

    async def generate(self, request: ModelRequest) -> ModelResponse:
        """Serve the agent's next reply (or `fn`'s answer) with word-count usage."""
        agent = request.agent
        if self._fn is not None:
            self._cursors[agent] = self._cursors.get(agent, 0) + 1
            item: Reply = self._fn
        else:
            # Take the cursor before any await, so concurrent agents cannot race.
            position = self._cursors.get(agent, 0)
            total = len(self._replies)
            if position >= total and not (self._cycle and total):
                raise ModelError(
                    f"ScriptedModel {self._name!r} has no reply left for agent {agent!r}: "
                    f"{total} replies were scripted and all were used "
                    "(script more replies, pass cycle=True, or use fn=)"
                )
            self._cursors[agent] = position + 1
            item = self._replies[position % total]
        value: Any = item
        if callable(item):
            value = item(request)
            if type(value) is not str:  # text, the common case, needs no checks
                if inspect.isawaitable(value):
                    value = await value
                _check_value(value, f"reply function {getattr(item, '__name__', item)!r}")
        return self._respond(value, request)

    def _respond(self, value: ReplyValue, request: ModelRequest) -> ModelResponse:
        if isinstance(value, str):  # first: it needs no ids, and is what most calls get
            return ModelResponse(
                message=_assistant(value),
                usage=_new_usage(
                    {
                        "input_tokens": count_words(request.messages, self._words),
                        "output_tokens": len(value.split()),
                    }
                ),
                finish_reason="stop",
                model=self._name,
            )
        if isinstance(value, ModelResponse):
            message = self._with_ids(value.message, request.agent)
            if message is value.message:
                return value
            return replace(value, message=message)
        message = value
        message = self._with_ids(message, request.agent)
        usage = Usage(
            input_tokens=count_words(request.messages, self._words),
            output_tokens=count_words((message,)),
        )
        finish = "tool_calls" if message.tool_calls else "stop"
        return ModelResponse(message=message, usage=usage, finish_reason=finish, model=self._name)

    def _with_ids(self, message: Message, agent: str) -> Message:
        """A copy of `message` whose empty tool-call ids are numbered for this agent."""
        if not message.tool_calls or all(call.id for call in message.tool_calls):
            return message
        calls = []
        for call in message.tool_calls:
            if not call.id:
                number = self._call_ids.get(agent, 0)
                self._call_ids[agent] = number + 1
                call = call.model_copy(update={"id": f"call_{number}"})
            calls.append(call)
        return message.model_copy(update={"tool_calls": calls})


def _check_item(item: object, where: str) -> None:
    if callable(item):
        return
    _check_value(item, where)


def _check_value(value: object, where: str) -> None:
    if isinstance(value, str | ModelResponse):
        return
    if isinstance(value, Message):
        if value.role != "assistant":
            raise UserError(
                f"ScriptedModel: {where} is a {value.role!r} message; replies must be "
                "assistant messages"
            )
        return
    raise UserError(
        f"ScriptedModel: {where} has type {type(value).__name__}; expected a str, a Message, "
        "a ModelResponse, or a function of the request returning one of those"
    )
