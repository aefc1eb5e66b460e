"""Hierarchical rubrics: a tree of weighted items; each leaf is graded, scores roll up.

```yaml
name: refund-quality
threshold: 0.75              # success iff the root scores at least this
answer: replies              # where leaves that read the answer look (see answer_extractor)
items:
  - id: outcome
    weight: 2
    items:
      - {id: database, metric: db_match, gate: true}   # the env score's metric
      - {id: refund-tool, tool_called: refund_order}
  - id: reply
    items:
      - {id: total, includes: ["refund"]}
      - {id: tone, judge: "The reply is polite and states what was done."}
```

A node's value is the weighted mean of its children's (weights default 1; a node whose
weights sum to 0 scores 0). A child with `gate: true` must score 1, or its parent scores
0 whatever the others (a required item). A leaf has exactly one grader:

| grader | value |
|---|---|
| `includes: TEXT or [TEXT, ...]` | share of the texts found in the answer (case-insensitive) |
| `regex: PATTERN` | 1 if the pattern matches the answer |
| `target: includes/exact/numeric` | that scorer against the target (`includes`: share found) |
| `metric: NAME` | the environment score's metric NAME (or `value`, `success`), clipped to [0, 1] |
| `tool_called: NAME` (+ `arguments: {...}`) | 1 if the agent called NAME (with those arguments) |
| `python: module:function` | the function of `(EpisodeLog, Target)`: number, bool or result |
| `judge: CRITERION` | the judges' grade of the answer against the criterion (C 1, P 0.5, I 0) |

The result's `metrics` hold every node's value by dotted path (`outcome`,
`outcome.database`, ...) and `metadata["tree"]` the tree with explanations.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from palaestra._safe_yaml import load_yaml_file
from palaestra.core import ConfigError, UserError
from palaestra.eval._judge import (
    DEFAULT_INSTRUCTIONS,
    DEFAULT_TEMPLATE,
    Judge,
    judge_agents,
    render_prompt,
    vote,
)
from palaestra.eval._match import exact, includes, numeric
from palaestra.eval._scorer import (
    EpisodeLog,
    JudgeCall,
    Scorer,
    ScoreResult,
    Target,
    answer_extractor,
    as_result,
    maybe_await,
)

GRADERS = ("includes", "regex", "target", "metric", "tool_called", "python", "judge", "fn")


class RubricItem(BaseModel):
    """One node of a rubric: children (`items`) or exactly one grader."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    id: str = Field(min_length=1, pattern=r"^[^./]+$")
    """Name of the item (its path segment: no '.' or '/')."""
    weight: float = Field(1.0, ge=0)
    description: str = ""
    gate: bool = False
    """A required item: unless it scores 1, its parent scores 0."""
    items: list[RubricItem] = Field(default_factory=list)
    includes: str | list[str] | None = None
    regex: str | None = None
    target: Literal["includes", "exact", "numeric"] | None = None
    metric: str | None = None
    tool_called: str | None = None
    arguments: dict[str, Any] | None = None
    """With `tool_called`: the call must have these argument values (a subset)."""
    python: str | None = None
    """`package.module:function` of `(EpisodeLog, Target)`."""
    judge: str | None = None
    """The criterion a judge grades the answer against."""
    answer: str | None = None
    """Where this leaf reads the answer (default: the rubric's `answer`)."""
    fn: Callable[..., Any] | None = Field(None, exclude=True)
    """Python API only: a function of `(EpisodeLog, Target)` grading this leaf."""

    @model_validator(mode="after")
    def _one_grader(self) -> RubricItem:
        graders = [g for g in GRADERS if getattr(self, g) is not None]
        if self.items and graders:
            raise ValueError(f"item {self.id!r} has `items` and a grader ({graders[0]}): one")
        if not self.items and len(graders) != 1:
            raise ValueError(
                f"item {self.id!r}: a leaf needs exactly one grader of "
                f"{', '.join(g for g in GRADERS if g != 'fn')}; got {graders or 'none'}"
            )
        if self.arguments is not None and self.tool_called is None:
            raise ValueError(f"item {self.id!r}: `arguments` goes with `tool_called`")
        ids = [child.id for child in self.items]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"item {self.id!r}: two children are named {twice[0]!r}")
        if self.regex is not None:
            try:
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"item {self.id!r}: bad regex: {exc}") from None
        return self


class Rubric(BaseModel):
    """A rubric: the root's items, the success threshold, where answers come from."""

    model_config = ConfigDict(extra="forbid")

    name: str = "rubric"
    description: str = ""
    threshold: float = Field(1.0, ge=0, le=1)
    """Success iff the root's value is at least this."""
    answer: str = "final"
    """Answer source of the leaves that read one (see `answer_extractor`)."""
    agent: str | None = None
    """Whose actions are graded (default: the episode's first agent)."""
    judge_template: str = DEFAULT_TEMPLATE
    """Prompt of `judge` leaves; `{criterion}` is the leaf's text."""
    items: list[RubricItem] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Rubric:
        ids = [item.id for item in self.items]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"two top-level items are named {twice[0]!r}")
        return self

    def needs_judge(self) -> bool:
        def walk(items: list[RubricItem]) -> bool:
            return any(i.judge is not None or walk(i.items) for i in items)

        return walk(self.items)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Rubric:
        """Load a rubric file (errors name the file and the field)."""
        path = Path(path)
        data, lines = load_yaml_file(path, what="rubric file", expected="a rubric mapping")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                loc = tuple(error["loc"])
                line = next(lines[loc[:n]] for n in range(len(loc), -1, -1) if loc[:n] in lines)
                field = ".".join(str(p) for p in loc) or "(top level)"
                problems.append(f"{path}:{line}: {field}: {error['msg']}")
            raise ConfigError("\n".join(problems)) from None


RubricItem.model_rebuild()


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


class _Grading:
    def __init__(
        self,
        spec: Rubric,
        judges: list[tuple[str, Judge]],
        resolve: Callable[[str], Any],
    ) -> None:
        self.spec = spec
        self.judges = judges
        self.resolve = resolve

    async def node(
        self, item: RubricItem, path: str, log: EpisodeLog, target: Target
    ) -> tuple[float, dict[str, Any], list[JudgeCall], dict[str, float]]:
        if not item.items:
            value, why, calls = await self.leaf(item, log, target)
            value = _clip(value)
            return value, {"id": item.id, "value": value, "explanation": why}, calls, {path: value}
        # one item after the other: judge calls in log order (replay serves them so)
        graded = [await self.node(c, f"{path}.{c.id}", log, target) for c in item.items]
        value, why, calls, metrics = self.roll_up(item.items, graded)
        metrics[path] = value
        tree = {"id": item.id, "value": value, "explanation": why, "items": [g[1] for g in graded]}
        return value, tree, calls, metrics

    @staticmethod
    def roll_up(
        items: Sequence[RubricItem], graded: Sequence[tuple[float, Any, list[JudgeCall], Any]]
    ) -> tuple[float, str, list[JudgeCall], dict[str, float]]:
        calls = [c for g in graded for c in g[2]]
        metrics = {k: v for g in graded for k, v in g[3].items()}
        failed_gates = [i.id for i, g in zip(items, graded, strict=True) if i.gate and g[0] < 1.0]
        if failed_gates:
            return 0.0, f"required item(s) not met: {', '.join(failed_gates)}", calls, metrics
        total = sum(i.weight for i in items)
        if total == 0:
            return 0.0, "weights sum to 0", calls, metrics
        value = sum(i.weight * g[0] for i, g in zip(items, graded, strict=True)) / total
        return value, "weighted mean of the items", calls, metrics

    async def leaf(
        self, item: RubricItem, log: EpisodeLog, target: Target
    ) -> tuple[float, str, list[JudgeCall]]:
        answer = answer_extractor(item.answer or self.spec.answer, agent=self.spec.agent)
        if item.fn is not None or item.python is not None:
            fn = item.fn if item.fn is not None else self.resolve(item.python or "")
            result = as_result(await maybe_await(fn(log, target)))
            return result.value, result.explanation or "function", result.judge_calls
        if item.includes is not None:
            text = (answer(log) or "").lower()
            wanted = [item.includes] if isinstance(item.includes, str) else item.includes
            found = [w for w in wanted if w.lower() in text]
            return len(found) / len(wanted) if wanted else 1.0, f"found {found}", []
        if item.regex is not None:
            hit = re.search(item.regex, answer(log) or "") is not None
            return float(hit), f"/{item.regex}/ {'matches' if hit else 'does not match'}", []
        if item.target is not None:
            source = item.answer or self.spec.answer
            scorer: Scorer
            if item.target == "includes":
                scorer = includes(answer=source, agent=self.spec.agent, all=True)
            elif item.target == "exact":
                scorer = exact(answer=source, agent=self.spec.agent)
            else:
                scorer = numeric(answer=source, agent=self.spec.agent)
            matched = await scorer(log, target)
            return matched.value, matched.explanation, []
        if item.metric is not None:
            return self.metric(item.metric, log)
        if item.tool_called is not None:
            wanted_args = item.arguments or {}
            calls = [
                c
                for c in log.tool_calls(self.spec.agent)
                if c.name == item.tool_called
                and all(c.arguments.get(k) == v for k, v in wanted_args.items())
            ]
            return float(bool(calls)), f"{len(calls)} matching call(s) of {item.tool_called}", []
        assert item.judge is not None
        given = answer(log)
        start = log.start
        prompt = render_prompt(
            self.spec.judge_template,
            {
                "question": log.first_prompt(self.spec.agent),
                "answer": given if given is not None else "(no answer)",
                "criterion": item.judge,
                "transcript": log.transcript(self.spec.agent),
                "instructions": DEFAULT_INSTRUCTIONS,
                "env": start.env if start else "",
                "task": start.task if start else "",
            },
        )
        verdict = await vote(self.judges, prompt)
        if verdict.error:
            raise RuntimeError(verdict.error)
        return verdict.value, f"judge grade {verdict.grade}", verdict.calls

    @staticmethod
    def metric(name: str, log: EpisodeLog) -> tuple[float, str, list[JudgeCall]]:
        score = log.env_score
        if score is None:
            return 0.0, "the environment gave no score", []
        if name == "value":
            return score.value, f"env score {score.value:g}", []
        if name == "success":
            return float(score.success), f"env success {score.success}", []
        if name not in score.metrics:
            valid = ", ".join(["value", "success", *sorted(score.metrics)])
            raise UserError(f"rubric: the env score has no metric {name!r}; valid: {valid}")
        return score.metrics[name], f"env metric {name} = {score.metrics[name]:g}", []


def rubric(
    spec: Rubric | str | Path,
    *,
    judges: Judge | Sequence[Judge] | Mapping[str, Judge] | None = None,
    resolve: Callable[[str], Any] | None = None,
) -> Scorer:
    """A scorer grading the episode with a rubric (a `Rubric` or a YAML path); `judges`
    grade `judge` leaves; `resolve` imports `python:` graders (default: importlib)."""
    loaded = spec if isinstance(spec, Rubric) else Rubric.from_yaml(spec)
    if loaded.needs_judge() and judges is None:
        raise UserError(f"rubric {loaded.name!r} has `judge` items: give it a judge model")
    answer_extractor(loaded.answer, agent=loaded.agent)  # fail early on a bad source
    if resolve is None:
        from palaestra.core import import_object

        resolve = import_object
    grading = _Grading(loaded, judge_agents(judges) if judges is not None else [], resolve)

    async def score(log: EpisodeLog, target: Target) -> ScoreResult:
        graded = [await grading.node(item, item.id, log, target) for item in loaded.items]
        value, why, calls, metrics = grading.roll_up(loaded.items, graded)
        value = _clip(value)
        tree = {"id": loaded.name, "value": value, "items": [g[1] for g in graded]}
        return ScoreResult(
            value,
            value >= loaded.threshold,
            answer_extractor(loaded.answer, agent=loaded.agent)(log),
            f"{loaded.name}: {value:.3f} ({why}; success at >= {loaded.threshold:g})",
            metrics=metrics,
            metadata={"tree": tree},
            judge_calls=calls,
        )

    return score
