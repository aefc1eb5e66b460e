"""The four payloads of every model call, serialised without building their objects.

A model call records an observation, a model request, a model response and an action.
Building each as a validated pydantic payload only to serialise it at once costs about
twice serialising its parts directly (per payload: docs/benchmarks.md), and these four
are most of what a run records. The functions here return an `Encoded` payload (its
kind and its parts, from which it writes exactly the JSON the payload class would give;
tests hold the two equal) when the parts have the exact types the payload class
declares; anything else takes the validated way and gets the payload object, so a wrong
type still fails with pydantic's error.

`Context.emit` takes either. A reader that wants typed payloads (online contracts) calls
`Encoded.decode()`, which builds the validated payload from the same parts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from pydantic import TypeAdapter
from pydantic_core import to_json

from palaestra.core._events import (
    SAMPLING_PARAMS,
    ActionEvent,
    ModelRequestEvent,
    ModelResponseEvent,
    ObservationEvent,
    Payload,
)
from palaestra.core._types import Action, Message, Observation, ToolSpec, Usage

_observation_json = Observation.__pydantic_serializer__.to_json
_action_json = Action.__pydantic_serializer__.to_json
_message_json = Message.__pydantic_serializer__.to_json
_usage_json = Usage.__pydantic_serializer__.to_json
_messages_json = TypeAdapter(list[Message]).serializer.to_json
_tools_json = TypeAdapter(list[ToolSpec]).serializer.to_json
_MESSAGES = {Message}
_TOOLS = {ToolSpec}
_PARAMS = frozenset(SAMPLING_PARAMS)


class _Form(NamedTuple):
    """How one payload class is written from its parts, in field order."""

    type: type[Payload]
    fields: tuple[str, ...]
    render: Callable[..., str]


class Encoded:
    """A payload to be serialised from its parts: its `kind`, `to_json()` (the payload's
    fields, exactly as `payload.__pydantic_serializer__.to_json` gives them) and
    `decode()` (the validated payload object). Both are made when the recorder appends
    the event, from the same objects, so they agree, as they did when the payload object
    was built first and serialised on appending."""

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


def _optional_str(value: str | None) -> str:
    return "null" if value is None else to_json(value).decode()


def _observation(observation: Observation) -> str:
    return f'{{"observation":{_observation_json(observation).decode()}}}'


def _action(action: Action) -> str:
    return f'{{"action":{_action_json(action).decode()}}}'


def _request(
    model: str, messages: list[Message], tools: list[ToolSpec], params: dict[str, Any]
) -> str:
    return (
        f'{{"model":{to_json(model).decode()},"messages":{_messages_json(messages).decode()},'
        f'"tools":{_tools_json(tools).decode() if tools else "[]"},'
        f'"params":{to_json(params, inf_nan_mode="null").decode()}}}'
    )


def _response(
    message: Message, usage: Usage, finish_reason: str | None, model: str | None, attempt: int
) -> str:
    return (
        f'{{"message":{_message_json(message).decode()},"usage":{_usage_json(usage).decode()},'
        f'"finish_reason":{_optional_str(finish_reason)},"model":{_optional_str(model)},'
        f'"attempt":{attempt},"error":null,"retry_after_s":null}}'
    )


_OBSERVATION = _Form(ObservationEvent, ("observation",), _observation)
_ACTION = _Form(ActionEvent, ("action",), _action)
_REQUEST = _Form(ModelRequestEvent, ("model", "messages", "tools", "params"), _request)
_RESPONSE = _Form(
    ModelResponseEvent, ("message", "usage", "finish_reason", "model", "attempt"), _response
)


def observation_payload(observation: Observation) -> Encoded | ObservationEvent:
    """The `observation` payload recording `observation`."""
    if type(observation) is not Observation:
        return ObservationEvent(observation=observation)
    return Encoded(_OBSERVATION, observation)


def action_payload(action: Action) -> Encoded | ActionEvent:
    """The `action` payload recording `action`."""
    if type(action) is not Action:
        return ActionEvent(action=action)
    return Encoded(_ACTION, action)


def model_request_payload(
    model: str, messages: list[Message], tools: list[ToolSpec], params: dict[str, Any]
) -> Encoded | ModelRequestEvent:
    """The `model_request` payload of a request to `model`; the lists are copied, as
    validation would."""
    if (
        type(model) is not str
        or type(messages) is not list
        or set(map(type, messages)) != _MESSAGES
        or type(tools) is not list
        or (tools and set(map(type, tools)) != _TOOLS)
        or type(params) is not dict
        or not params.keys() <= _PARAMS
    ):
        return ModelRequestEvent(model=model, messages=messages, tools=tools, params=params)
    return Encoded(_REQUEST, model, list(messages), list(tools), dict(params))


def model_response_payload(
    message: Message,
    usage: Usage,
    finish_reason: str | None,
    model: str | None,
    attempt: int,
    prompt_token_ids: list[int] | None = None,
    token_ids: list[int] | None = None,
    logprobs: list[float] | None = None,
) -> Encoded | ModelResponseEvent:
    """The `model_response` payload of a successful attempt (failed attempts, which
    carry an error and no message, are recorded as `ModelResponseEvent`s)."""
    if (
        type(message) is not Message
        or type(usage) is not Usage
        or (finish_reason is not None and type(finish_reason) is not str)
        or (model is not None and type(model) is not str)
        or type(attempt) is not int
        or prompt_token_ids is not None
        or token_ids is not None
        or logprobs is not None
    ):
        return ModelResponseEvent(
            message=message,
            usage=usage,
            finish_reason=finish_reason,
            model=model,
            attempt=attempt,
            prompt_token_ids=prompt_token_ids,
            token_ids=token_ids,
            logprobs=logprobs,
        )
    return Encoded(_RESPONSE, message, usage, finish_reason, model, attempt)
