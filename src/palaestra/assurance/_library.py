"""Built-in step contracts, and the registry of every built-in contract by name.

Each built-in is a factory with keyword-only parameters (the same names as in a YAML
`contracts:` entry) returning a `Contract`; `BUILTINS` maps each YAML name to its
parameter model and factory, and `builtin(name, **params)` builds one by name.
docs/contracts.md gives every definition precisely.

Where "calls" are counted below, they are both an operator's own tool calls (`tool_call`
events) and calls to the environment's tools (the `tool_calls` of `action` events).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from palaestra.assurance._contracts import (
    CheckResult,
    Contract,
    EpisodeView,
    OnViolation,
    StepContract,
    TraceContract,
)
from palaestra.assurance._schema import arguments_problem
from palaestra.core import Event, ToolCall


class Params(BaseModel):
    """Base of the parameters of a built-in contract (unknown keys are an error)."""

    model_config = ConfigDict(extra="forbid")


def calls_of(event: Event) -> list[ToolCall]:
    """The tool calls an event makes: a `tool_call`'s call or an `action`'s calls."""
    p: Any = event.payload
    if event.kind == "tool_call":
        return [p.call]
    if event.kind == "action":
        return list(p.action.tool_calls)
    return []


def root(agent: str) -> str:
    """The top-level agent of an internal agent (`a/b/c` → `a`)."""
    return agent.split("/", 1)[0]


# -- tool_args_schema --------------------------------------------------------------------


class ToolArgsSchemaParams(Params):
    pass


class _SchemaCheck:
    __slots__ = ("specs",)

    def __init__(self) -> None:
        self.specs: dict[str, dict[str, dict[str, Any]]] = {}

    def check(self, event: Event, view: EpisodeView) -> CheckResult:
        p: Any = event.payload
        kind = event.kind
        if kind == "observation" or kind == "model_request":
            tools = p.observation.tools if kind == "observation" else p.tools
            if tools:
                known = self.specs.setdefault(event.agent, {})
                for spec in tools:
                    known[spec.name] = spec.parameters
            return None
        known = self.specs.get(event.agent) or self.specs.get(root(event.agent)) or {}
        for call in calls_of(event):
            schema = known.get(call.name)
            if schema is None:
                continue  # not offered to the agent: `allowed_tools` judges that
            problem = arguments_problem(schema, call.arguments)
            if problem:
                return (
                    f"call {call.name}({_short(call.arguments)}) does not match the tool's "
                    f"JSON schema: {problem}"
                )
        return None

    def finish(self, view: EpisodeView) -> CheckResult:
        return None


def tool_args_schema(*, name: str = "tool_args_schema", on_violation: OnViolation = "record"):
    """Step: every call's arguments match the JSON schema of the tool as last offered to
    the calling agent (in an `observation`'s `tools` or a `model_request`'s `tools`).
    Calls of tools never offered to the agent are not judged here."""
    return TraceContract(
        name,
        _SchemaCheck,
        kinds=frozenset({"observation", "model_request", "tool_call", "action"}),
        on_violation=on_violation,
    )


# -- max_message_tokens ------------------------------------------------------------------


class MaxMessageTokensParams(Params):
    max_tokens: int = Field(ge=1)
    """The most tokens one text may have."""
    count: Literal["words", "usage"] = "words"
    """`words`: whitespace-separated tokens of the text; `usage`: a model reply's
    `usage.output_tokens` as the provider reported it (texts without usage: words)."""
    kinds: list[Literal["message", "action", "model_response"]] = [
        "message",
        "action",
        "model_response",
    ]
    """Which texts are measured: messages to other agents, actions' text, model replies."""


def max_message_tokens(
    *,
    max_tokens: int,
    count: Literal["words", "usage"] = "words",
    kinds: list[str] | None = None,
    name: str = "max_message_tokens",
    on_violation: OnViolation = "record",
) -> Contract:
    """Step: no message, action text or model reply is longer than `max_tokens` tokens
    (counted as `count` says)."""
    chosen = frozenset(kinds or ("message", "action", "model_response"))

    def check(event: Event) -> CheckResult:
        p: Any = event.payload
        kind = event.kind
        if kind == "message":
            text = p.content
        elif kind == "action":
            text = p.action.text or ""
        else:
            if p.message is None:
                return None
            if count == "usage" and p.usage.output_tokens:
                n = p.usage.output_tokens
                if n > max_tokens:
                    return f"the model reply has {n} output tokens (usage); at most {max_tokens}"
                return None
            text = p.message.content or ""
        n = len(text.split())
        if n > max_tokens:
            return f"the {kind} has {n} tokens (words); at most {max_tokens} allowed"
        return None

    return StepContract(name, lambda e, v: check(e), kinds=chosen, on_violation=on_violation)


# -- allowed_tools -----------------------------------------------------------------------


class AllowedToolsParams(Params):
    allow: dict[str, list[str]]
    """Agent name glob → tool name globs it may call; the first matching glob wins."""
    others: Literal["allow", "deny"] = "allow"
    """Agents no glob matches: may call anything (`allow`) or nothing (`deny`)."""


def allowed_tools(
    *,
    allow: dict[str, list[str]],
    others: Literal["allow", "deny"] = "allow",
    name: str = "allowed_tools",
    on_violation: OnViolation = "record",
) -> Contract:
    """Step: an agent only calls tools its entry of `allow` names (first matching agent
    glob; internal agents `a/b` match as themselves, then as their root `a`)."""
    cache: dict[str, list[str] | None] = {}

    def rule_of(agent: str) -> list[str] | None:
        if agent not in cache:
            found: list[str] | None = None
            for candidate in (agent, root(agent)):
                match = next((g for g in allow if fnmatch.fnmatchcase(candidate, g)), None)
                if match is not None:
                    found = allow[match]
                    break
            cache[agent] = found
        return cache[agent]

    def check(event: Event) -> CheckResult:
        rule = rule_of(event.agent)
        if rule is None and others == "allow":
            return None
        tools = rule or []
        for call in calls_of(event):
            if not any(fnmatch.fnmatchcase(call.name, g) for g in tools):
                may = ", ".join(tools) or "none"
                return f"agent {event.agent!r} called {call.name!r}; it may call: {may}"
        return None

    return StepContract(
        name, lambda e, v: check(e), kinds=frozenset({"tool_call", "action"}),
        on_violation=on_violation,
    )  # fmt: skip


# -- no_secrets --------------------------------------------------------------------------

SECRET_PATTERNS: dict[str, str] = {
    "openai_key": r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}",
    "aws_access_key": r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    "aws_secret_key": r"(?i)aws_secret_access_key\W{0,4}[A-Za-z0-9/+=]{40}\b",
    "github_token": r"\bgh[pousr]_[A-Za-z0-9]{36,}\b",
    "private_key": r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----",
    "credit_card": r"\b\d(?:[ -]?\d){12,18}\b",
}
"""The built-in detectors (name → regex); `credit_card` matches also pass a Luhn check."""


def luhn_ok(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum (card numbers do)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        d = ord(char) - 48
        if index % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


class NoSecretsParams(Params):
    detectors: list[str] = Field(default_factory=lambda: list(SECRET_PATTERNS))
    """Built-in detectors to use (default all): see `SECRET_PATTERNS`."""
    patterns: dict[str, str] = Field(default_factory=dict)
    """Further detectors: name → regex (searched)."""
    kinds: list[Literal["action", "message", "tool_call"]] = ["action", "message", "tool_call"]
    """What leaves the system: actions (text, data, call arguments), messages to other
    agents, own tool calls' arguments."""

    @field_validator("detectors")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [d for d in value if d not in SECRET_PATTERNS]
        if unknown:
            raise ValueError(
                f"unknown detector {unknown[0]!r}; valid: {', '.join(SECRET_PATTERNS)}"
            )
        return value

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, value: dict[str, str]) -> dict[str, str]:
        for key, regex in value.items():
            try:
                re.compile(regex)
            except re.error as exc:
                raise ValueError(f"pattern {key!r} is not a valid regex: {exc}") from None
        return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def _mask(secret: str) -> str:
    return secret[:4] + "…" + f"({len(secret)} chars)"


def no_secrets(
    *,
    detectors: list[str] | None = None,
    patterns: dict[str, str] | None = None,
    kinds: list[str] | None = None,
    name: str = "no_secrets",
    on_violation: OnViolation = "record",
) -> Contract:
    """Step: no secret-looking string leaves the system: none of the detectors matches
    an action (text, data, call arguments), a message, or an own tool call's arguments.
    The verdict masks what it found."""
    chosen = {d: SECRET_PATTERNS[d] for d in (detectors or list(SECRET_PATTERNS))}
    chosen.update(patterns or {})
    compiled = [(d, re.compile(r)) for d, r in chosen.items()]

    def texts(event: Event) -> Iterator[str]:
        p: Any = event.payload
        if event.kind == "message":
            yield p.content
        elif event.kind == "tool_call":
            yield from _strings(p.call.arguments)
        else:
            action = p.action
            if action.text:
                yield action.text
            yield from _strings(action.data)
            for call in action.tool_calls:
                yield from _strings(call.arguments)

    def check(event: Event) -> CheckResult:
        for text in texts(event):
            for detector, regex in compiled:
                for match in regex.finditer(text):
                    found = match.group(0)
                    if detector == "credit_card":
                        digits = re.sub(r"\D", "", found)
                        if not luhn_ok(digits):
                            continue
                    return (
                        f"a {detector} secret ({_mask(found)}) leaves the system (a "
                        f"`{event.kind}` event of {event.agent!r}); expected no secrets in "
                        "what agents send"
                    )
        return None

    return StepContract(
        name,
        lambda e, v: check(e),
        kinds=frozenset(kinds or ("action", "message", "tool_call")),
        on_violation=on_violation,
    )


def _short(arguments: dict[str, Any], limit: int = 80) -> str:
    text = json.dumps(arguments, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


Factory = Callable[..., Contract]
