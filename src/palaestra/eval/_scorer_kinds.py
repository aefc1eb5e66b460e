"""Scorer kinds: what a scorer block's `use:` names, each with its own options model.

A `ScorerKind` is a name, a pydantic model of its options (unknown options refused,
each field checked with an error naming it) and a build function from the validated
options to a `Scorer`. palaestra's own kinds below (`exact`, `includes`, `numeric`,
`rubric`, `model_graded`, `workspace_files`, `python`) are entries of the scorer
registry (`palaestra.eval.SCORERS`) like a plugin's; another package adds one with
`register_scorer("NAME", ScorerKind(...))`, or registers a plain function of
`(EpisodeLog, Target)`, which becomes a kind whose one option is `threshold`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from palaestra.core import ConfigError, UserError, import_object
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
from palaestra.eval._scorer import Scorer, answer_extractor


class ScorerOptions(BaseModel):
    """The base of a kind's options model: unknown options and NaN refused."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


@dataclass
class ScorerBuild:
    """What a kind's build function gets besides its options."""

    name: str
    """The scorer's name (its `score` events')."""
    judges: dict[str, Judge] | None = None
    """The judges its `judge_field` names, by judge name ('' for a single one)."""
    load_rubric: Callable[[Path], Rubric] = field(default=Rubric.from_yaml)
    """Reads a rubric file (the runtime's resolves paths against the experiment)."""

    def judge(self) -> Judge | dict[str, Judge]:
        """The one judge, or the judges of a vote; a `UserError` when none is given."""
        if self.judges is None:
            raise UserError(f"scorer {self.name!r} needs a judge model")
        return self.judges[""] if list(self.judges) == [""] else self.judges


@dataclass(frozen=True)
class ScorerKind:
    """A scorer kind: `use: NAME`, its options model and its build function."""

    name: str
    options: type[BaseModel]
    """The pydantic model its block's options (all but `use`, `name`, `target`) are
    validated against."""
    build: Callable[[Any, ScorerBuild], Scorer]
    """``build(options, ScorerBuild) -> Scorer``."""
    description: str = ""
    judge_field: str | None = None
    """The option naming judge model(s) (a name under `models:` or a spec; a list or
    mapping votes), which the experiment checks and the runtime builds."""
    function: Callable[..., Any] | None = None
    """The scorer function a kind was made from (`function_kind`), if any."""

    @property
    def factory(self) -> Callable[..., Any]:
        """What the kind is named by in messages (`qualified_name`)."""
        return self.function or self.build


class _AnswerOptions(ScorerOptions):
    answer: str = "final"
    """Where the answer comes from: final, replies, tool:NAME, tool:NAME.ARG."""
    agent: str | None = None
    """Whose answer (default: the episode's first agent)."""

    @field_validator("answer")
    @classmethod
    def _known_source(cls, value: str) -> str:
        try:
            answer_extractor(value)
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return value


class ExactOptions(_AnswerOptions):
    """`exact`: the answer equals the target (or one of its values)."""

    all: bool = False
    """Every target value is required (partial credit), not any."""
    ignore_case: bool = True
    ignore_punctuation: bool = True


class IncludesOptions(_AnswerOptions):
    """`includes`: the answer contains the target (or its values)."""

    all: bool = False
    """Every target value is required (partial credit), not any."""
    ignore_case: bool = True
    ignore_commas: bool = False


class NumericOptions(_AnswerOptions):
    """`numeric`: a number in the answer is the target, within tolerances."""

    tolerance: float = Field(1e-6, ge=0)
    rel_tolerance: float = Field(0.0, ge=0)
    which: Literal["first", "last"] = "last"


class RubricOptions(ScorerOptions):
    """`rubric`: graded item by item (docs/scorers.md), from a file or inline."""

    file: str | None = None
    """The rubric YAML file (relative to the working directory)."""
    rubric: dict[str, Any] | None = None
    """The rubric inline, instead of `file`."""
    model: str | list[str] | dict[str, str] | None = None
    """Judge model(s) of its `judge` items."""

    @field_validator("rubric")
    @classmethod
    def _valid_rubric(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:  # checked now, so the error can name its line
            try:
                Rubric.model_validate(value)
            except ValidationError as exc:
                first = exc.errors()[0]
                raise ValueError(
                    f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
                ) from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> RubricOptions:
        if (self.file is None) == (self.rubric is None):
            raise ValueError("a rubric scorer needs `file:` or `rubric:` (one of them)")
        return self


class ModelGradedOptions(_AnswerOptions):
    """`model_graded`: judge model(s) grade the answer; several vote."""

    model: str | list[str] | dict[str, str] | None = None
    """Judge model(s): a name under `models:` or a spec; a list or mapping votes."""
    template: str = DEFAULT_TEMPLATE
    instructions: str = DEFAULT_INSTRUCTIONS
    criterion: str | None = None
    grades: dict[str, float] | None = None
    grade_pattern: str = DEFAULT_GRADE_PATTERN
    success_at: float = 1.0

    @model_validator(mode="after")
    def _has_judge(self) -> ModelGradedOptions:
        if not self.model:
            raise ValueError("a model_graded scorer needs `model:` (its judge)")
        return self


class PythonOptions(ScorerOptions):
    """`python`: a function of `(EpisodeLog, Target)`, named by reference."""

    python: str
    """`package.module:function`."""
    threshold: float = 1.0
    """A number result counts as success at or above this."""


class FunctionOptions(ScorerOptions):
    """A registered scorer function's options (it reads the rest from log and target)."""

    threshold: float = 1.0
    """A number result counts as success at or above this."""


class NoOptions(ScorerOptions):
    """A kind without options."""


def _build_exact(o: ExactOptions, build: ScorerBuild) -> Scorer:
    return exact(
        answer=o.answer,
        agent=o.agent,
        all=o.all,
        ignore_case=o.ignore_case,
        ignore_punctuation=o.ignore_punctuation,
    )


def _build_includes(o: IncludesOptions, build: ScorerBuild) -> Scorer:
    return includes(
        answer=o.answer,
        agent=o.agent,
        all=o.all,
        ignore_case=o.ignore_case,
        ignore_commas=o.ignore_commas,
    )


def _build_numeric(o: NumericOptions, build: ScorerBuild) -> Scorer:
    return numeric(
        answer=o.answer,
        agent=o.agent,
        tolerance=o.tolerance,
        rel_tolerance=o.rel_tolerance,
        which=o.which,
    )


def _build_rubric(o: RubricOptions, build: ScorerBuild) -> Scorer:
    if o.rubric is not None:
        loaded = Rubric.model_validate(o.rubric)
    else:
        loaded = build.load_rubric(Path(o.file or ""))
    return rubric(loaded, judges=None if build.judges is None else build.judge())


def _build_model_graded(o: ModelGradedOptions, build: ScorerBuild) -> Scorer:
    return model_graded(
        build.judge(),
        template=o.template,
        instructions=o.instructions,
        criterion=o.criterion,
        grades=o.grades,
        grade_pattern=o.grade_pattern,
        success_at=o.success_at,
        answer=o.answer,
        agent=o.agent,
    )


def _build_python(o: PythonOptions, build: ScorerBuild) -> Scorer:
    fn = import_object(o.python)
    if not callable(fn):
        raise ConfigError(f"scorer {o.python!r} is not callable")
    return programmatic(fn, threshold=o.threshold)


def _build_workspace_files(o: NoOptions, build: ScorerBuild) -> Scorer:
    return programmatic(workspace_files)


BUILTIN_SCORER_KINDS: tuple[ScorerKind, ...] = (
    ScorerKind("exact", ExactOptions, _build_exact, "the answer equals the target"),
    ScorerKind("includes", IncludesOptions, _build_includes, "the answer contains the target"),
    ScorerKind("numeric", NumericOptions, _build_numeric, "a number in the answer is the target"),
    ScorerKind("rubric", RubricOptions, _build_rubric, "graded by a rubric", judge_field="model"),
    ScorerKind(
        "model_graded",
        ModelGradedOptions,
        _build_model_graded,
        "judge model(s) grade the answer",
        judge_field="model",
    ),
    ScorerKind("python", PythonOptions, _build_python, "a function of (EpisodeLog, Target)"),
    ScorerKind(
        "workspace_files",
        NoOptions,
        _build_workspace_files,
        "the files left in the episode's workspace meet the target",
    ),
)
"""palaestra's own scorer kinds, registered in `SCORERS` like a plugin's."""


def function_kind(name: str, fn: Callable[..., Any]) -> ScorerKind:
    """The kind of a plain scorer function: its one option is `threshold`."""
    doc = (getattr(fn, "__doc__", None) or "").strip().splitlines()

    def build(options: FunctionOptions, build: ScorerBuild) -> Scorer:
        return programmatic(fn, threshold=options.threshold)

    return ScorerKind(name, FunctionOptions, build, doc[0] if doc else "", function=fn)


def options_of(kind: ScorerKind) -> list[str]:
    """The option names a kind takes, in its model's order."""
    return list(kind.options.model_fields)


def describe_options(kind: ScorerKind) -> Mapping[str, str]:
    """Each option with its type and default, as listings show them."""
    out: dict[str, str] = {}
    for name, info in kind.options.model_fields.items():
        kind_text = getattr(info.annotation, "__name__", None) or str(info.annotation)
        default = "required" if info.is_required() else f"default {info.default!r}"
        out[name] = f"{kind_text.replace('typing.', '')} ({default})"
    return out
