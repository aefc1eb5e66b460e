"""Model-graded scoring: a judge model reads a prompt built from the episode and replies
with a grade; several judges vote.

```python
scorer = model_graded(judge)                         # one judge, inspect-ai's QA template
scorer = model_graded({"a": j1, "b": j2, "c": j3})   # three judges, majority vote
```

- A `Judge` is anything with a `name` and `async __call__(messages) -> JudgeReply`; the
  runtime adapts any `palaestra.models.Model` (`palaestra.runtime.model_judge`), and
  `as_judge` a plain function of the prompt text. (`palaestra.eval` imports no models.)
- The prompt is `template` formatted with `{question}` (the task as the agent first saw
  it), `{answer}` (the extracted answer), `{criterion}` (the `criterion=` text, else the
  target's values, one per line), `{transcript}` (the agent's side of the episode),
  `{instructions}`, `{env}` and `{task}`. Literal braces are doubled (`{{`).
- The grade is the last match of `grade_pattern` in the reply (default `GRADE: X` with X
  in C, P, I, case-insensitive), mapped through `grades` (C 1, P 0.5, I 0). A reply
  with no grade abstains (it counts as incorrect when every judge abstains).
- With several judges the grade is the majority's; a tie goes to the lowest value
  (the conservative choice). `success` is `value >= success_at` (default 1: correct).
- Each call is returned in `ScoreResult.judge_calls`: the runtime records it as a
  `model_request` and its `model_response`s (one per failed attempt, as an operator's
  call is, then the reply) under agent `judge` (one judge) or `judge/<name>`
  (several), before the `score` event.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from palaestra.core import Message, Usage, UserError
from palaestra.eval._scorer import (
    AnswerFn,
    EpisodeLog,
    JudgeAttempt,
    JudgeCall,
    Scorer,
    ScoreResult,
    Target,
    answer_extractor,
    judge_attempts,
)

DEFAULT_INSTRUCTIONS = (
    "After assessing the submitted answer, reply with 'GRADE: $LETTER' (without quotes) "
    'where LETTER is one of CPI. Please choose ONE option for the grade: either "C" for '
    'correct answers, "P" for partially correct answers, or "I" for incorrect answers.\n\n'
    "First, write out in a step by step manner your reasoning about the criterion to be "
    "sure that your conclusion is correct. Avoid simply stating the correct answers at the "
    "outset. Then, end with your answer formatted as 'GRADE: $LETTER' (without quotes) "
    "where LETTER is one of CPI."
)

DEFAULT_TEMPLATE = """You are assessing a submitted answer on a given task based on a \
criterion. Here is the data:

[BEGIN DATA]
***
[Task]: {question}
***
[Submission]: {answer}
***
[Criterion]: {criterion}
***
[END DATA]

Does the submission meet the criterion?

{instructions}"""
"""inspect-ai's `model_graded_qa` template, with the target as the criterion."""

DEFAULT_GRADE_PATTERN = r"GRADE\s*:\s*([A-Za-z]+)"
DEFAULT_GRADES: dict[str, float] = {"C": 1.0, "P": 0.5, "I": 0.0}

TEMPLATE_FIELDS = ("question", "answer", "criterion", "transcript", "instructions", "env", "task")


@dataclass
class JudgeReply:
    """What a judge answered."""

    text: str
    usage: Usage = field(default_factory=Usage)
    model: str | None = None
    """Model name the provider reports."""
    finish_reason: str | None = None
    latency_s: float = 0.0
    failed_attempts: list[JudgeAttempt] = field(default_factory=list)
    """Failed sends before this reply (retries, re-sends), each recorded in the log."""


@runtime_checkable
class Judge(Protocol):
    """A grading model: a `name` for the log and one async call per prompt."""

    @property
    def name(self) -> str: ...

    async def __call__(self, messages: list[Message]) -> JudgeReply: ...


class _FnJudge:
    def __init__(self, fn: Callable[[str], str | Awaitable[str]], name: str) -> None:
        self._fn = fn
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    async def __call__(self, messages: list[Message]) -> JudgeReply:
        started = time.perf_counter()
        reply = self._fn(messages[-1].content or "")
        if not isinstance(reply, str):
            reply = await reply
        return JudgeReply(str(reply), latency_s=time.perf_counter() - started)


def as_judge(fn: Callable[[str], str | Awaitable[str]], *, name: str = "function") -> Judge:
    """A judge from a function of the prompt text (sync or async) returning the reply."""
    return _FnJudge(fn, name)


def render_prompt(template: str, values: Mapping[str, str]) -> str:
    """`template` with its `{field}`s filled; an unknown field is a `UserError`."""
    try:
        return template.format_map(dict(values))
    except KeyError as exc:
        raise UserError(
            f"judge template: unknown field {{{exc.args[0]}}}; valid fields: "
            f"{', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)} (double literal braces)"
        ) from None
    except (ValueError, IndexError) as exc:
        raise UserError(f"judge template: {exc} (double literal braces: {{{{ }}}})") from None


def parse_grade(text: str, pattern: str, grades: Mapping[str, float]) -> str | None:
    """The last grade in `text` that `pattern` captures and `grades` knows (case-
    insensitively), as written in `grades`; None if there is none."""
    by_upper = {g.upper(): g for g in grades}
    found = None
    for match in re.finditer(pattern, text, flags=re.IGNORECASE):
        captured = (match.group(1) if match.groups() else match.group()).strip().upper()
        if captured in by_upper:
            found = by_upper[captured]
    return found


def majority(grades: Sequence[str | None], values: Mapping[str, float]) -> str | None:
    """The most frequent grade; a tie goes to the one of lowest value; None abstains."""
    counts = Counter(g for g in grades if g is not None)
    if not counts:
        return None
    top = max(counts.values())
    tied = [g for g, n in counts.items() if n == top]
    return min(tied, key=lambda g: (values[g], g))


def judge_agents(judges: Judge | Sequence[Judge] | Mapping[str, Judge]) -> list[tuple[str, Judge]]:
    """(agent name in the log, judge) pairs: `judge` for one, `judge/<name>` for several
    (mapping keys, else `1`, `2`, ...)."""
    if isinstance(judges, Mapping):
        items = list(judges.items())
    elif isinstance(judges, Sequence):
        items = [(str(i), j) for i, j in enumerate(judges, start=1)]
    else:
        items = [("", judges)]
    if not items:
        raise UserError("model_graded needs at least one judge")
    if len(items) == 1:
        return [("judge", items[0][1])]
    for key, _ in items:
        if not key or "/" in key:
            raise UserError(f"judge names must be non-empty without '/', got {key!r}")
    return [(f"judge/{key}", judge) for key, judge in items]


async def _ask(agent: str, judge: Judge, prompt: str) -> JudgeCall:
    messages = [Message(role="user", content=prompt)]
    params = dict(getattr(judge, "params", None) or {})
    call = JudgeCall(agent=agent, model=judge.name, messages=messages, params=params)
    started = time.perf_counter()
    try:
        reply = await judge(messages)
    except Exception as exc:
        call.error = f"{type(exc).__name__}: {exc}"
        call.latency_s = time.perf_counter() - started
        call.failed_attempts = judge_attempts(getattr(exc, "failed_attempts", None))
        return call
    call.reply = Message(role="assistant", content=reply.text)
    call.usage = reply.usage
    call.reply_model = reply.model
    call.finish_reason = reply.finish_reason
    call.latency_s = reply.latency_s
    call.failed_attempts = list(reply.failed_attempts)
    return call


@dataclass
class Vote:
    """The judges' verdict on one prompt."""

    grade: str | None
    value: float
    grades: dict[str, str | None]
    calls: list[JudgeCall]
    error: str | None = None
    """Set when every judge call failed."""


async def vote(
    judges: list[tuple[str, Judge]],
    prompt: str,
    *,
    grade_pattern: str = DEFAULT_GRADE_PATTERN,
    grades: Mapping[str, float] = DEFAULT_GRADES,
) -> Vote:
    """Ask every judge (concurrently) and take the majority grade."""
    calls = list(await asyncio.gather(*(_ask(a, j, prompt) for a, j in judges)))
    if all(c.error for c in calls):
        return Vote(None, 0.0, {}, calls, error="judge failed: " + str(calls[0].error))
    parsed = {
        c.agent: None
        if c.reply is None
        else parse_grade(c.reply.content or "", grade_pattern, grades)
        for c in calls
    }
    grade = majority(list(parsed.values()), grades)
    return Vote(grade, 0.0 if grade is None else float(grades[grade]), parsed, calls)


def model_graded(
    judges: Judge | Sequence[Judge] | Mapping[str, Judge],
    *,
    template: str = DEFAULT_TEMPLATE,
    instructions: str = DEFAULT_INSTRUCTIONS,
    criterion: str | None = None,
    grade_pattern: str = DEFAULT_GRADE_PATTERN,
    grades: Mapping[str, float] | None = None,
    success_at: float = 1.0,
    answer: str | AnswerFn = "final",
    agent: str | None = None,
) -> Scorer:
    """A scorer that asks judge model(s) to grade the episode's answer (see module)."""
    table = dict(DEFAULT_GRADES if grades is None else grades)
    if not table:
        raise UserError("model_graded: `grades` must name at least one grade")
    pairs = judge_agents(judges)
    extract = answer_extractor(answer, agent=agent)
    render_prompt(template, dict.fromkeys(TEMPLATE_FIELDS, ""))  # fail early on bad fields

    async def score(log: EpisodeLog, target: Target) -> ScoreResult:
        text = extract(log)
        start = log.start
        prompt = render_prompt(
            template,
            {
                "question": log.first_prompt(agent),
                "answer": text if text is not None else "(no answer)",
                "criterion": criterion
                if criterion is not None
                else (target.text or "The submission correctly completes the task."),
                "transcript": log.transcript(agent),
                "instructions": instructions,
                "env": start.env if start else "",
                "task": start.task if start else "",
            },
        )
        result = await vote(pairs, prompt, grade_pattern=grade_pattern, grades=table)
        if result.error:
            return ScoreResult.failed(result.error, result.calls)
        explanation = (
            f"majority grade {result.grade} of {len(pairs)} judge(s)"
            if result.grade is not None
            else "no grade found in the judge replies"
        )
        metadata: dict[str, Any] = {"grade": result.grade, "grades": result.grades}
        return ScoreResult(
            result.value,
            result.grade is not None and result.value >= success_at,
            text,
            explanation,
            metrics={
                agent_name: float(table[g])
                for agent_name, g in result.grades.items()
                if g is not None
            },
            metadata=metadata,
            judge_calls=result.calls,
        )

    return score
