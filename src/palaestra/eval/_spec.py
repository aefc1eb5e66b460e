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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
    model_validator,
)

from palaestra._safe_yaml import load_yaml
from palaestra.core import (
    ModelRequestEvent,
    ModelResponseEvent,
    Payload,
    Registry,
    ScoreEvent,
    UserError,
    qualified_name,
)
from palaestra.eval._judge import Judge
from palaestra.eval._rubric import Rubric
from palaestra.eval._scorer import EpisodeLog, Scorer, ScoreResult, Target
from palaestra.eval._scorer_kinds import (
    BUILTIN_SCORER_KINDS,
    NoOptions,
    ScorerBuild,
    ScorerKind,
    function_kind,
    options_of,
)

SCORER_KINDS = tuple(kind.name for kind in BUILTIN_SCORER_KINDS)
"""palaestra's own scorer kinds (entries of `SCORERS`, each with its options model)."""
_COMMON = ("use", "name", "target")
"""The keys of every scorer block; the others are the kind's options."""


def _as_kind(name: str, obj: Any) -> ScorerKind:
    if isinstance(obj, ScorerKind):
        return obj if obj.name == name else replace(obj, name=name)
    if not callable(obj):
        raise UserError(f"scorer {name!r}: {qualified_name(obj)} is not a ScorerKind or a function")
    return function_kind(name, obj)


def _same_kind(old: ScorerKind, new: ScorerKind) -> bool:
    return old == new or qualified_name(old) == qualified_name(new)


def new_registry() -> Registry[ScorerKind]:
    """A scorer registry holding palaestra's own kinds (what `SCORERS` is; tests take a
    fresh one)."""

    def builtins(name: str | None) -> None:
        for kind in BUILTIN_SCORER_KINDS:
            if (name is None or name == kind.name) and kind.name not in registry.entries:
                registry.entries[kind.name] = kind

    registry: Registry[ScorerKind] = Registry(
        "scorer", "palaestra.scorers", adapt=_as_kind, same=_same_kind, builtins=builtins
    )
    return registry


SCORERS: Registry[ScorerKind] = new_registry()
"""Every scorer kind a block's `use:` names: palaestra's own (`SCORER_KINDS`), those
registered with `register_scorer`, entry points of group ``palaestra.scorers``, and
``use: package.module:function`` references. An entry is a `ScorerKind` (its options
model and build function); a plain function of `(EpisodeLog, Target)` (sync or async;
returning a `ScoreResult`, a bool or a number) becomes one whose option is `threshold`."""


def register_scorer(
    name: str, scorer: ScorerKind | Callable[..., Any] | str, *, replace: bool = False
) -> None:
    """Make `scorer` (a `ScorerKind`, a function of `(EpisodeLog, Target)`, or the
    ``package.module:function`` naming one, imported when first used) the scorer
    `use: NAME` (the same one again is accepted; another taking the name is a
    `UserError` unless `replace`)."""
    if name in SCORER_KINDS:
        raise UserError(f"scorer {name!r} is one of palaestra's own; choose another name")
    SCORERS.register(name, scorer, replace=replace)


def scorer_kind(use: str) -> ScorerKind:
    """The kind `use` names, or a `UserError` listing every kind and plugin."""
    return SCORERS.get(use)


def _option_error(kind: ScorerKind, exc: ValidationError) -> str:
    """The first problem of a block's options, as ``field: message`` (the field first,
    so that a config file's error names its line)."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        options = ", ".join(sorted({*options_of(kind), "name", "target"}))
        return (
            f"{where}: `{where}` is not an option of scorer {kind.name!r}; its options: {options}"
        )
    head, sep, rest = message.partition(": ")
    if where and sep and head and " " not in head:  # a nested field (rubric.items.0...)
        where, message = f"{where}.{head}", rest
    if error["type"] == "missing":
        message = f"scorer {kind.name!r} needs `{where}:`"
    else:
        expected = (error.get("ctx") or {}).get("expected")
        if expected and "expected" not in message.lower():
            message += f" (valid: {expected})"
        if where:
            message += f" (an option of scorer {kind.name!r})"
    return f"{where}: {message}" if where else message


class ScorerSpec(BaseModel):
    """One scorer block (see the module docstring): `use`, `name`, `target`, and the
    rest, the options of the kind `use` names, validated by its own model."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    use: str = "python"
    """Which scorer: a kind of `SCORERS` (one of `SCORER_KINDS`, or a plugin's);
    `{python: module:function}` alone means `use: python`."""
    name: str | None = None
    """Name of its `score` events (default: `use`, or the function's name)."""
    target: Any = None
    """What is right (a text, a list, a mapping), replacing the environment's target."""
    options: SerializeAsAny[BaseModel] = Field(default_factory=NoOptions)
    """The options, as the kind's options model validated them (written flat in the
    block, beside `use`)."""

    @model_validator(mode="before")
    @classmethod
    def _options_of_kind(cls, data: Any) -> Any:
        if not isinstance(data, dict) or isinstance(data.get("options"), BaseModel):
            return data  # not a block (pydantic says so), or one already validated
        rest = dict(data)
        common = {key: rest.pop(key) for key in _COMMON if key in rest}
        if "use" not in common:
            if "python" not in rest:
                raise ValueError(
                    f"give `use:` (one of {', '.join(SCORER_KINDS)}, or a plugin's) or "
                    "`python: module:function`"
                )
            common["use"] = "python"
        use = common["use"]
        if not isinstance(use, str):
            raise ValueError(f"use: expected the name of a scorer kind, got {use!r}")
        try:
            kind = scorer_kind(use)
        except UserError as exc:
            raise ValueError(str(exc)) from None
        try:
            options = kind.options.model_validate(rest)
        except ValidationError as exc:
            raise ValueError(_option_error(kind, exc)) from None
        return {**common, "options": options}

    @model_serializer(mode="wrap")
    def _flat(self, handler: SerializerFunctionWrapHandler) -> Any:
        # only what was written (and `use`), flat: a stored experiment validates again
        data = handler(self)
        given = self.model_fields_set | {"use"}
        out = {key: data[key] for key in _COMMON if key in given}
        written = self.options.model_fields_set
        out.update({k: v for k, v in data.get("options", {}).items() if k in written})
        return out

    @property
    def kind(self) -> ScorerKind:
        """The kind `use` names."""
        return scorer_kind(self.use)

    @property
    def python(self) -> str | None:
        """`use: python`: the `package.module:function` it names."""
        value = getattr(self.options, "python", None) if self.use == "python" else None
        return value if isinstance(value, str) else None

    @property
    def label(self) -> str:
        """The scorer's name in the log."""
        if self.name:
            return self.name
        if self.python:
            return self.python.rpartition(":")[2].rpartition(".")[2] or "python"
        if ":" in self.use:  # use: package.module:function
            return self.use.rpartition(":")[2].rpartition(".")[2]
        return self.use

    def judge_refs(self) -> dict[str, str]:
        """The judge model references by judge name ('' for a single judge)."""
        field = self.kind.judge_field
        model = getattr(self.options, field, None) if field else None
        if not model:
            return {}
        if isinstance(model, str):
            return {"": model}
        if isinstance(model, list):
            if len(model) == 1:
                return {"": model[0]}
            return {str(i): ref for i, ref in enumerate(model, start=1)}
        return dict(model) if len(model) != 1 else {"": next(iter(model.values()))}


def check_unique_names(specs: Sequence[ScorerSpec], where: str = "scorers") -> None:
    names = [s.label for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{where}: two scorers are named {twice[0]!r}; give each a `name:`")


def parse_scorer_arg(text: str, *, default_model: str | None = None) -> ScorerSpec:
    """A `--scorer` argument: a kind (`includes`, a plugin's), `python:module:function`,
    a rubric YAML file, or a YAML/JSON mapping (`{use: includes, all: true}`).
    `default_model` (the CLI's `--model`) is the judge of kinds that take one (model
    graded, rubric) where none is given."""
    text = text.strip()
    data: Any
    if text.startswith("{"):
        data, _ = load_yaml(text, source=f"--scorer {text!r}", expected="a mapping")
    elif text.startswith("python:"):
        data = {"python": text[len("python:") :]}
    elif text.endswith((".yaml", ".yml")):
        data = {"use": "rubric", "file": text}
    elif SCORERS.find(text) is not None:
        data = {"use": text}
    else:
        plugins = [name for name in SCORERS.names() if name not in SCORER_KINDS]
        raise UserError(
            f"--scorer {text!r}: expected one of {', '.join(SCORER_KINDS[:5])}"
            + (f", a plugin's ({', '.join(plugins)})" if plugins else "")
            + ", python:module:function, a rubric .yaml file, or a mapping like "
            "'{use: includes, target: Paris}'"
        )
    if not isinstance(data, dict):
        raise UserError(f"--scorer {text!r}: expected a mapping, got {type(data).__name__}")
    use = data.get("use")
    kind = SCORERS.find(use) if default_model and isinstance(use, str) else None
    if kind is not None and kind.judge_field and kind.judge_field not in data:
        data = {**data, kind.judge_field: default_model}
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
    """The scorer a block describes: its kind's build function on its options; judges
    come from `judge_for`."""
    build = ScorerBuild(spec.label, _judges(spec, judge_for), load_rubric)
    return spec.kind.build(spec.options, build)


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
