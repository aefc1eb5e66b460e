"""The scorer contract: score one episode from its log and the task's target.

A *scorer* is an async callable built by a factory (inspect-ai style, options keyword-only):

```python
scorer = includes(all=True)                      # a factory call returns the scorer
result = await scorer(EpisodeLog(events), Target(["42"]))
result.value, result.success, result.answer, result.explanation, result.metadata
```

- `EpisodeLog` (`palaestra.core`, the one read model of an episode) is the episode's
  events with the views scorers need: the episode start, the environment's own score
  and target, each agent's action texts and tool calls, the files its workspace held at
  the end (`workspace`).
- `Target` (`palaestra.core`) is what is right: the `target:` of a scorer block, else
  what the environment says (`Environment.target()`, recorded on its `score` event).
  `values` are the acceptable (or, with `all=True`, required) answers as text; `data`
  the target as given.
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
from typing import Any, Protocol, TypeAlias, runtime_checkable

from palaestra.core import EpisodeLog, Message, Target, Usage, UserError


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
