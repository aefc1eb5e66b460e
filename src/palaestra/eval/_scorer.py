"""The scorer contract: score one episode from its log and the task's target.

A *scorer* is an async callable built by a factory (inspect-ai style, options keyword-only):

```python
scorer = includes(all=True)                      # a factory call returns the scorer
result = await scorer(EpisodeLog(events), Target(["42"]))
result.value, result.success, result.answer, result.explanation, result.metadata
```

- `EpisodeLog` is the episode's events with the few views scorers need: the episode
  start, the environment's own score, each agent's action texts and tool calls, the
  files its workspace held at the end (`workspace`).
- `Target` is what is right: the `target:` of a scorer block, else what the environment
  says (`Environment.target()`, recorded on its `score` event). `values` are the
  acceptable (or, with `all=True`, required) answers as text; `data` the target as given.
- `ScoreResult` is the verdict: `value` in [0, 1], `success`, the `answer` the scorer
  extracted, an `explanation`, sub-scores in `metrics`, JSON `metadata`, and the judge
  calls it made (`judge_calls`), which the runtime records as events.

Where the answer comes from (`answer=`, see `answer_extractor`): `final` (default: the
agent's last non-empty action text), `replies` (all its action texts, one per line),
`tool:NAME` / `tool:NAME.ARG` (the argument of its last call of tool NAME), or any
function of the `EpisodeLog`. The agent is the episode's first agent unless `agent=`
names another.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, TypeAlias, runtime_checkable

from palaestra.core import (
    ActionEvent,
    EpisodeStart,
    Event,
    Message,
    ScoreEvent,
    ToolCall,
    ToolCallEvent,
    Usage,
    UserError,
    WorkspaceManifest,
)


@dataclass(frozen=True)
class Target:
    """What is right for an episode's task.

    `values` are texts: a string target is one value, a list one value per item, a
    mapping one value per item value (its keys name the parts). `data` is the target as
    given (JSON data), for programmatic scorers and rubrics.
    """

    values: tuple[str, ...] = ()
    data: Any = None

    @classmethod
    def of(cls, data: Any) -> Target:
        """The target of JSON data (`None` gives the empty target)."""
        if data is None:
            return cls()
        if isinstance(data, Target):
            return data
        if isinstance(data, str):
            return cls((data,), data)
        if isinstance(data, dict):
            return cls(tuple(_text(v) for v in data.values()), data)
        if isinstance(data, list | tuple):
            return cls(tuple(_text(v) for v in data), list(data))
        return cls((_text(data),), data)

    @property
    def text(self) -> str:
        """The values, one per line (what a judge prompt shows)."""
        return "\n".join(self.values)

    def __bool__(self) -> bool:
        return bool(self.values) or self.data is not None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


@dataclass
class JudgeAttempt:
    """One failed send of a judge call (a retry of the provider, or the transport's
    re-send), recorded as a `model_response` of its own."""

    error: str
    latency_s: float = 0.0
    retry_after_s: float | None = None
    resent: bool = False
    """The transport sent the same request again at once on a new connection."""


def judge_attempts(attempts: Sequence[object] | None) -> list[JudgeAttempt]:
    """A provider's failed attempts (`palaestra.models.Attempt`, read by attribute:
    `palaestra.eval` imports no models) as `JudgeAttempt`s."""
    return [
        JudgeAttempt(
            error=str(getattr(a, "error", "")),
            latency_s=float(getattr(a, "latency_s", 0.0) or 0.0),
            retry_after_s=getattr(a, "retry_after_s", None),
            resent=bool(getattr(a, "resent", False)),
        )
        for a in attempts or ()
    ]


@dataclass
class JudgeCall:
    """One request to a judge model and its reply, recorded as `model_request` /
    `model_response` events under agent `judge` (or `judge/<name>`): one response per
    failed attempt, then the reply."""

    agent: str
    """Agent name in the log: `judge` for a single judge, `judge/<name>` for several."""
    model: str
    """The judge model's name (the `model` of the `model_request` event)."""
    messages: list[Message]
    """The prompt sent."""
    params: dict[str, Any] = field(default_factory=dict)
    reply: Message | None = None
    """The judge's reply; None when the call failed."""
    usage: Usage = field(default_factory=Usage)
    reply_model: str | None = None
    finish_reason: str | None = None
    latency_s: float = 0.0
    error: str | None = None
    """Why the call failed; None on success."""
    failed_attempts: list[JudgeAttempt] = field(default_factory=list)
    """Failed sends before the reply, or every send of a call that failed."""


@dataclass
class ScoreResult:
    """A scorer's verdict on one episode."""

    value: float
    """Score in [0, 1]."""
    success: bool
    """Whether the episode counts as solved by this scorer."""
    answer: str | None = None
    """The answer extracted from the log and judged (None where none was used)."""
    explanation: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    """Named sub-scores (a rubric's items by dotted path, each judge's value)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """JSON detail: grades, the rubric tree."""
    judge_calls: list[JudgeCall] = field(default_factory=list)
    """Judge model calls made, in order (recorded before the `score` event)."""
    error: str | None = None
    """Set when the scorer failed: the result is then not a verdict (value 0)."""

    @classmethod
    def failed(cls, error: str, judge_calls: list[JudgeCall] | None = None) -> ScoreResult:
        return cls(0.0, False, explanation=error, error=error, judge_calls=judge_calls or [])


@runtime_checkable
class Scorer(Protocol):
    """Scores one episode: `await scorer(log, target) -> ScoreResult`."""

    async def __call__(self, log: EpisodeLog, target: Target) -> ScoreResult: ...


class EpisodeLog:
    """One episode's events, with the views scorers use (computed once, on demand)."""

    def __init__(self, events: Sequence[Event]) -> None:
        self.events = list(events)

    @cached_property
    def start(self) -> EpisodeStart | None:
        for event in self.events:
            if isinstance(event.payload, EpisodeStart):
                return event.payload
        return None

    @property
    def episode_id(self) -> str:
        return self.events[0].episode_id if self.events else ""

    @cached_property
    def env_score(self) -> ScoreEvent | None:
        """The environment's own score (the `score` event without a scorer name)."""
        for event in self.events:
            if isinstance(event.payload, ScoreEvent) and not event.payload.scorer:
                return event.payload
        return None

    @cached_property
    def workspace(self) -> WorkspaceManifest | None:
        """What the episode's workspace held at its end (the last ``workspace`` event:
        files with kinds, sizes, SHA-256), or None where the episode held none."""
        for event in reversed(self.events):
            if isinstance(event.payload, WorkspaceManifest):
                return event.payload
        return None

    @property
    def env_target(self) -> Target:
        """The target the environment recorded on its score (empty if none)."""
        score = self.env_score
        return Target.of(None if score is None else score.target)

    def main_agent(self) -> str:
        """The episode's first agent (`agent` when unknown)."""
        agents = self.start.agents if self.start else []
        return agents[0] if agents else "agent"

    def actions(self, agent: str | None = None) -> list[Event]:
        """`action` events of `agent` (default: the main agent), in order."""
        who = agent or self.main_agent()
        return [e for e in self.events if isinstance(e.payload, ActionEvent) and e.agent == who]

    def texts(self, agent: str | None = None) -> list[str]:
        """The non-empty action texts of `agent`, in order."""
        out = []
        for event in self.actions(agent):
            assert isinstance(event.payload, ActionEvent)
            if event.payload.action.text:
                out.append(event.payload.action.text)
        return out

    def tool_calls(self, agent: str | None = None) -> list[ToolCall]:
        """Every tool call of `agent` (and its internal agents), environment tools (in
        actions) and its own tools (`tool_call` events) alike, in log order."""
        who = agent or self.main_agent()
        calls: list[ToolCall] = []
        for event in self.events:
            if event.agent != who and not event.agent.startswith(who + "/"):
                continue
            if isinstance(event.payload, ActionEvent):
                calls.extend(event.payload.action.tool_calls)
            elif isinstance(event.payload, ToolCallEvent):
                calls.append(event.payload.call)
        return calls

    def first_prompt(self, agent: str | None = None) -> str:
        """The task as the agent first saw it: the last user message of its first
        observation (its text when it has no messages)."""
        who = agent or self.main_agent()
        for event in self.events:
            if event.kind == "observation" and event.agent == who:
                observation = event.payload.observation  # type: ignore[attr-defined]
                users = [m.content for m in observation.messages if m.role == "user"]
                return (users[-1] if users else observation.text) or ""
        return ""

    def transcript(self, agent: str | None = None, *, limit: int = 12000) -> str:
        """The agent's side of the episode as text: what it saw and what it did (the
        end kept when longer than `limit` characters)."""
        who = agent or self.main_agent()
        lines: list[str] = []
        for event in self.events:
            if event.agent != who:
                continue
            if event.kind == "observation":
                observation = event.payload.observation  # type: ignore[attr-defined]
                lines.append(f"[observation] {observation.text}")
            elif isinstance(event.payload, ActionEvent):
                action = event.payload.action
                if action.text:
                    lines.append(f"[{who}] {action.text}")
                for call in action.tool_calls:
                    lines.append(f"[{who} calls] {call.name}({json.dumps(call.arguments)})")
        text = "\n".join(lines)
        return text if len(text) <= limit else "..." + text[-limit:]


AnswerFn: TypeAlias = Callable[[EpisodeLog], str | None]
"""Extracts the answer to judge from a log (None: the episode gave none)."""

ANSWER_SOURCES = ("final", "replies", "tool:NAME", "tool:NAME.ARG")


def answer_extractor(source: str | AnswerFn = "final", *, agent: str | None = None) -> AnswerFn:
    """The answer extractor named by `source` (see the module docstring), for `agent`."""
    if callable(source):
        return source
    if source == "final":

        def final(log: EpisodeLog) -> str | None:
            texts = log.texts(agent)
            return texts[-1] if texts else None

        return final
    if source == "replies":

        def replies(log: EpisodeLog) -> str | None:
            texts = log.texts(agent)
            return "\n".join(texts) if texts else None

        return replies
    if source.startswith("tool:") and len(source) > 5:
        name, _, arg = source[5:].partition(".")

        def tool(log: EpisodeLog) -> str | None:
            calls = [c for c in log.tool_calls(agent) if c.name == name]
            if not calls:
                return None
            arguments = calls[-1].arguments
            if arg:
                value = arguments.get(arg)
            elif len(arguments) == 1:
                (value,) = arguments.values()
            else:
                value = arguments.get("answer", arguments)
            return None if value is None else _text(value)

        return tool
    raise UserError(
        f"unknown answer source {source!r}; valid choices: {', '.join(ANSWER_SOURCES)} "
        "(or a Python function of the EpisodeLog)"
    )


async def maybe_await(value: Any) -> Any:
    """`value`, awaited if it is awaitable (user functions may be sync or async)."""
    if inspect.isawaitable(value):
        return await value
    return value


ScoreFn: TypeAlias = Callable[
    [EpisodeLog, Target], "ScoreResult | float | bool | Awaitable[ScoreResult | float | bool]"
]
"""A programmatic scorer: a function of the log and the target, sync or async."""


def as_result(value: Any, *, threshold: float = 1.0) -> ScoreResult:
    """A `ScoreResult` from what a user function returned: a result, a bool, a number
    (success iff >= `threshold`), or a mapping of `ScoreResult` fields."""
    if isinstance(value, ScoreResult):
        return value
    if isinstance(value, bool):
        return ScoreResult(float(value), value)
    if isinstance(value, int | float):
        number = float(value)
        return ScoreResult(number, number >= threshold)
    if isinstance(value, dict) and "value" in value:
        data = dict(value)
        number = float(data.pop("value"))
        success = bool(data.pop("success", number >= threshold))
        return ScoreResult(number, success, **data)
    raise TypeError(
        f"a scorer function returned {type(value).__name__}; expected a ScoreResult, a bool, "
        "a number in [0, 1] or a mapping with `value`"
    )
