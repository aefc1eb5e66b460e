"""Scorers as data: the `scorers:` blocks of an experiment and `palaestra score --scorer`.

```yaml
scorers:
  - {use: includes, target: "refund", all: true}     # a matching scorer
  - {use: numeric, answer: "tool:answer.value", tolerance: 0.01}
  - {use: rubric, file: examples/eval/rubric.yaml, model: judge}
  - {use: model_graded, model: judge, template: "...{answer}..."}
  - {use: model_graded, model: [judge_a, judge_b, judge_c]}   # majority vote
  - {python: "my_pkg.scoring:policy_followed"}       # a function of (EpisodeLog, Target)
  - {use: workspace_files, target: {solution.py: true, scratch.txt: false}}  # files left
```

Each block becomes one named scorer (`name`, default the `use`, or the function name);
names are unique per job. The target is the block's `target:` when given, else the one
the environment recorded on its `score` event. `model` names a model under `models:` (or
a spec); several make a majority vote. Relative `file` paths are read from the working
directory.

Results become events (`score_payloads`): each judge call a `model_request` /
`model_response` pair under agent `judge` or `judge/<name>`, then a `score` event named
after the scorer, all at the episode's last step. A scorer that raises is recorded as a
`score` event with `error` set (value 0), not fatal to the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from palaestra._safe_yaml import load_yaml
from palaestra.core import (
    ConfigError,
    ModelRequestEvent,
    ModelResponseEvent,
    Payload,
    Registry,
    ScoreEvent,
    UserError,
    import_object,
    qualified_name,
    unknown_name,
)
from palaestra.eval._artifacts import workspace_files
from palaestra.eval._judge import (
    DEFAULT_GRADE_PATTERN,
    DEFAULT_INSTRUCTIONS,
    DEFAULT_TEMPLATE,
    Judge,
    model_graded,
)
from palaestra.eval._match import exact, includes, numeric, programmatic
from palaestra.eval._rubric import Rubric, rubric
from palaestra.eval._scorer import EpisodeLog, Scorer, ScoreResult, Target, answer_extractor

_OPTIONS: dict[str, set[str]] = {
    "exact": {"answer", "agent", "all", "ignore_case", "ignore_punctuation"},
    "includes": {"answer", "agent", "all", "ignore_case", "ignore_commas"},
    "numeric": {"answer", "agent", "tolerance", "rel_tolerance", "which"},
    "rubric": {"file", "rubric", "model"},
    "model_graded": {
        "answer",
        "agent",
        "model",
        "template",
        "instructions",
        "criterion",
        "grades",
        "grade_pattern",
        "success_at",
    },
    "python": {"python", "threshold"},
    "workspace_files": set(),
}
_COMMON = {"use", "name", "target"}

SCORER_KINDS = tuple(_OPTIONS)
"""palaestra's own scorer kinds (each with its options above)."""
_PLUGIN_OPTIONS = {"threshold"}
"""The options of a plugin scorer: its function reads the rest from the log and target."""


def _as_scorer_function(name: str, obj: Any) -> Callable[..., Any]:
    if not callable(obj):
        raise UserError(f"scorer {name!r}: {qualified_name(obj)} is not a function")
    return cast(Callable[..., Any], obj)


SCORERS: Registry[Callable[..., Any]] = Registry(
    "scorer",
    "palaestra.scorers",
    adapt=_as_scorer_function,
    same=lambda old, new: old is new or qualified_name(old) == qualified_name(new),
)
"""Scorers other packages add: functions of `(EpisodeLog, Target)` (sync or async;
returning a `ScoreResult`, a bool or a number, as `{python: ...}`), named in a scorer
block's `use:`; by `register_scorer`, an entry point in group ``palaestra.scorers``, or
``use: package.module:function``."""


def register_scorer(name: str, fn: Callable[..., Any] | str, *, replace: bool = False) -> None:
    """Make `fn` (or the ``package.module:function`` it names, imported when first used)
    the scorer `use: NAME` (the same one again is accepted; another taking the name is a
    `UserError` unless `replace`)."""
    if name in _OPTIONS:
        raise UserError(f"scorer {name!r} is one of palaestra's own; choose another name")
    SCORERS.register(name, fn, replace=replace)


def _plugin_scorer(use: str) -> Callable[..., Any]:
    """The plugin scorer `use` names, or a `UserError` listing every kind and plugin."""
    found = SCORERS.find(use)
    if found is not None:
        return found
    known = [*SCORER_KINDS, *SCORERS.names()]
    raise unknown_name("scorer", use, known, group=SCORERS.plugins.group)


class ScorerSpec(BaseModel):
    """One scorer block (see the module docstring); options apply to the `use` named."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    use: str = "python"
    """Which scorer: one of `SCORER_KINDS`, or a plugin's (`SCORERS`); `{python:
    module:function}` alone means `use: python`."""
    name: str | None = None
    """Name of its `score` events (default: `use`, or the function's name)."""
    target: Any = None
    """What is right (a text, a list, a mapping), replacing the environment's target."""
    answer: str = "final"
    """Where the answer comes from: final, replies, tool:NAME, tool:NAME.ARG."""
    agent: str | None = None
    """Whose answer (default: the episode's first agent)."""
    all: bool = False
    """exact / includes: every target value is required (partial credit), not any."""
    ignore_case: bool = True
    ignore_punctuation: bool = True
    ignore_commas: bool = False
    tolerance: float = Field(1e-6, ge=0)
    rel_tolerance: float = Field(0.0, ge=0)
    which: Literal["first", "last"] = "last"
    file: str | None = None
    """rubric: the rubric YAML file."""
    rubric: dict[str, Any] | None = None
    """rubric: the rubric inline, instead of `file`."""
    model: str | list[str] | dict[str, str] | None = None
    """Judge model(s): a name under `models:` or a spec; a list or mapping votes."""
    template: str = DEFAULT_TEMPLATE
    instructions: str = DEFAULT_INSTRUCTIONS
    criterion: str | None = None
    grades: dict[str, float] | None = None
    grade_pattern: str = DEFAULT_GRADE_PATTERN
    success_at: float = 1.0
    python: str | None = None
    """python: `package.module:function` of `(EpisodeLog, Target)`."""
    threshold: float = 1.0
    """python: a number result counts as success at or above this."""

    @model_validator(mode="after")
    def _check(self) -> ScorerSpec:
        given = set(self.model_fields_set)
        if self.python is not None and "use" not in given:
            self.use = "python"
        if self.use not in _OPTIONS:
            try:
                _plugin_scorer(self.use)
            except UserError as exc:
                raise ValueError(str(exc)) from None
        allowed = _OPTIONS.get(self.use, _PLUGIN_OPTIONS) | _COMMON
        extra = sorted(given - allowed)
        if extra:
            raise ValueError(
                f"`{extra[0]}` is not an option of scorer {self.use!r}; its options: "
                f"{', '.join(sorted(allowed - {'use'}))}"
            )
        if self.use == "python" and not self.python:
            raise ValueError(
                f"give `use:` (one of {', '.join(SCORER_KINDS)}) or `python: module:function`"
            )
        if self.use == "rubric" and (self.file is None) == (self.rubric is None):
            raise ValueError("a rubric scorer needs `file:` or `rubric:` (one of them)")
        if self.rubric is not None:  # checked now, so the error can name its line
            try:
                Rubric.model_validate(self.rubric)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(part) for part in ("rubric", *first["loc"]))
                raise ValueError(f"{where}: {first['msg']}") from None
        if "answer" in given:
            try:
                answer_extractor(self.answer)
            except UserError as exc:
                raise ValueError(f"answer: {exc}") from None
        if self.use == "model_graded" and not self.model:
            raise ValueError("a model_graded scorer needs `model:` (its judge)")
        return self

    @model_serializer(mode="wrap")
    def _given_only(self, handler: SerializerFunctionWrapHandler) -> Any:
        # only what was written (and `use`): a stored experiment validates again
        data = handler(self)
        given = self.model_fields_set | {"use"}
        return {k: v for k, v in data.items() if k in given}

    @property
    def label(self) -> str:
        """The scorer's name in the log."""
        if self.name:
            return self.name
        if self.use == "python" and self.python:
            return self.python.rpartition(":")[2].rpartition(".")[2] or "python"
        if ":" in self.use:  # use: package.module:function
            return self.use.rpartition(":")[2].rpartition(".")[2]
        return self.use

    def judge_refs(self) -> dict[str, str]:
        """The judge model references by judge name ('' for a single judge)."""
        if self.model is None:
            return {}
        if isinstance(self.model, str):
            return {"": self.model}
        if isinstance(self.model, list):
            if len(self.model) == 1:
                return {"": self.model[0]}
            return {str(i): ref for i, ref in enumerate(self.model, start=1)}
        return dict(self.model) if len(self.model) != 1 else {"": next(iter(self.model.values()))}


def check_unique_names(specs: Sequence[ScorerSpec], where: str = "scorers") -> None:
    names = [s.label for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{where}: two scorers are named {twice[0]!r}; give each a `name:`")


def parse_scorer_arg(text: str, *, default_model: str | None = None) -> ScorerSpec:
    """A `--scorer` argument: a kind (`includes`), `python:module:function`, a rubric
    YAML file, or a YAML/JSON mapping (`{use: includes, all: true}`). `default_model`
    (the CLI's `--model`) is the judge of model-graded scorers and rubrics without one."""
    text = text.strip()
    data: Any
    if text.startswith("{"):
        data, _ = load_yaml(text, source=f"--scorer {text!r}", expected="a mapping")
    elif text.startswith("python:"):
        data = {"python": text[len("python:") :]}
    elif text.endswith((".yaml", ".yml")):
        data = {"use": "rubric", "file": text}
    elif text in SCORER_KINDS or SCORERS.find(text) is not None:
        data = {"use": text}
    else:
        plugins = SCORERS.names()
        raise UserError(
            f"--scorer {text!r}: expected one of {', '.join(SCORER_KINDS[:5])}"
            + (f", a plugin's ({', '.join(plugins)})" if plugins else "")
            + ", python:module:function, a rubric .yaml file, or a mapping like "
            "'{use: includes, target: Paris}'"
        )
    if not isinstance(data, dict):
        raise UserError(f"--scorer {text!r}: expected a mapping, got {type(data).__name__}")
    if default_model and data.get("use") in ("model_graded", "rubric") and "model" not in data:
        data = {**data, "model": default_model}
    try:
        return ScorerSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise UserError(f"--scorer {text!r}: {problems}") from None


JudgeFor = Callable[[str, str], Judge]
"""Builds a judge: `judge_for(model_ref, agent)` (agent: `judge` or `judge/<name>`)."""


def _judges(spec: ScorerSpec, judge_for: JudgeFor | None) -> dict[str, Judge] | None:
    refs = spec.judge_refs()
    if not refs:
        return None
    if judge_for is None:
        raise UserError(f"scorer {spec.label!r} needs a judge model, and none can be built here")
    if list(refs) == [""]:
        return {"": judge_for(refs[""], "judge")}
    return {key: judge_for(ref, f"judge/{key}") for key, ref in refs.items()}


def build_scorer(
    spec: ScorerSpec,
    *,
    judge_for: JudgeFor | None = None,
    load_rubric: Callable[[Path], Rubric] = Rubric.from_yaml,
) -> Scorer:
    """The scorer a block describes; judges come from `judge_for`."""
    if spec.use == "exact":
        return exact(
            answer=spec.answer,
            agent=spec.agent,
            all=spec.all,
            ignore_case=spec.ignore_case,
            ignore_punctuation=spec.ignore_punctuation,
        )
    if spec.use == "includes":
        return includes(
            answer=spec.answer,
            agent=spec.agent,
            all=spec.all,
            ignore_case=spec.ignore_case,
            ignore_commas=spec.ignore_commas,
        )
    if spec.use == "numeric":
        return numeric(
            answer=spec.answer,
            agent=spec.agent,
            tolerance=spec.tolerance,
            rel_tolerance=spec.rel_tolerance,
            which=spec.which,
        )
    if spec.use == "python":
        fn = import_object(spec.python or "")
        if not callable(fn):
            raise ConfigError(f"scorer {spec.python!r} is not callable")
        return programmatic(fn, threshold=spec.threshold)
    if spec.use == "workspace_files":
        return programmatic(workspace_files)
    if spec.use not in _OPTIONS:
        return programmatic(_plugin_scorer(spec.use), threshold=spec.threshold)
    judges = _judges(spec, judge_for)
    one = judges[""] if judges is not None and list(judges) == [""] else None
    if spec.use == "rubric":
        if spec.rubric is not None:
            try:
                loaded = Rubric.model_validate(spec.rubric)
            except ValidationError as exc:
                raise ConfigError(f"invalid inline rubric: {exc}") from None
        else:
            loaded = load_rubric(Path(spec.file or ""))
        return rubric(loaded, judges=one if one is not None else judges)
    assert judges is not None
    return model_graded(
        one if one is not None else judges,
        template=spec.template,
        instructions=spec.instructions,
        criterion=spec.criterion,
        grades=spec.grades,
        grade_pattern=spec.grade_pattern,
        success_at=spec.success_at,
        answer=spec.answer,
        agent=spec.agent,
    )


@dataclass
class BoundScorer:
    """A built scorer with its name and its own target (None: the environment's)."""

    name: str
    scorer: Scorer
    target: Any = None
    has_target: bool = False


def bind(spec: ScorerSpec, scorer: Scorer) -> BoundScorer:
    return BoundScorer(spec.label, scorer, spec.target, "target" in spec.model_fields_set)


@dataclass
class Scored:
    """One scorer's result on one episode, with the target it used."""

    name: str
    result: ScoreResult
    target: Target


async def run_scorers(scorers: Sequence[BoundScorer], log: EpisodeLog) -> list[Scored]:
    """Run every scorer on the log, one after the other, so that each judge agent's
    calls happen in log order (what replay serves them in). An exception becomes a
    failed result (`error`), never propagates."""

    async def one(bound: BoundScorer) -> Scored:
        target = Target.of(bound.target) if bound.has_target else log.env_target
        try:
            result = await bound.scorer(log, target)
            if not isinstance(result, ScoreResult):
                raise TypeError(f"returned {type(result).__name__}, expected a ScoreResult")
        except Exception as exc:
            result = ScoreResult.failed(f"{type(exc).__name__}: {exc}")
        return Scored(bound.name, result, target)

    return [await one(bound) for bound in scorers]


@dataclass
class PendingEvent:
    """An event to record: `parent` is the index of an earlier item of the same list."""

    agent: str
    payload: Payload
    parent: int | None = None
    duration_s: float = 0.0


def _finite(x: float) -> float:
    return x if x == x and abs(x) != float("inf") else 0.0


def _json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str, allow_nan=False))


def score_payloads(scored: Scored) -> list[PendingEvent]:
    """The events that record one scorer's result (judge calls, then its `score`)."""
    out: list[PendingEvent] = []
    for call in scored.result.judge_calls:
        request = len(out)
        out.append(
            PendingEvent(
                call.agent,
                ModelRequestEvent(model=call.model, messages=call.messages, params=call.params),
            )
        )
        failed = call.failed_attempts
        for number, attempt in enumerate(failed, start=1):
            # a call that failed: its last attempt carries the error the call ended with
            # (which names that attempt's failure too), as a replay raises it again
            last = call.reply is None and number == len(failed) and call.error
            out.append(
                PendingEvent(
                    call.agent,
                    ModelResponseEvent(
                        attempt=number,
                        error=call.error if last else attempt.error,
                        retry_after_s=attempt.retry_after_s,
                        resent=attempt.resent,
                    ),
                    parent=request,
                    duration_s=attempt.latency_s,
                )
            )
        if call.reply is None and failed:
            continue
        out.append(
            PendingEvent(
                call.agent,
                ModelResponseEvent(
                    message=call.reply,
                    usage=call.usage,
                    finish_reason=call.finish_reason,
                    model=call.reply_model,
                    attempt=len(failed) + 1,
                    error=call.error,
                ),
                parent=request,
                duration_s=call.latency_s,
            )
        )
    result = scored.result
    out.append(
        PendingEvent(
            "env",
            ScoreEvent(
                value=_finite(float(result.value)),
                success=bool(result.success),
                metrics={k: _finite(float(v)) for k, v in result.metrics.items()},
                explanation=result.explanation,
                scorer=scored.name,
                answer=result.answer,
                target=_json(scored.target.data),
                metadata=_json(result.metadata),
                error=result.error,
            ),
        )
    )
    return out
