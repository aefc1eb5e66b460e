"""Matching scorers: `exact`, `includes`, `numeric`, and `programmatic`.

Each compares the answer extracted from the log (`answer=`, see `answer_extractor`)
with the target's values. An episode with no answer, or a task with no target, scores 0
with an explanation saying which.

- `exact`: the normalised answer equals a target value (any, or with `all=True` the
  answer's lines must hold every value, in any order).
- `includes`: a target value occurs in the answer (any; `all=True`: every one, the value
  then the fraction found, success only when all are).
- `numeric`: the last (or first) number in the answer is within `tolerance` (absolute)
  or `rel_tolerance` (relative) of a numeric target value. Numbers may carry signs,
  thousands separators (1,234.5), exponents and a trailing `%` (kept as written).
- `programmatic`: any function of `(EpisodeLog, Target)`, sync or async.
"""

from __future__ import annotations

import math
import re
import string

from palaestra.eval._scorer import (
    AnswerFn,
    EpisodeLog,
    ScoreFn,
    Scorer,
    ScoreResult,
    Target,
    answer_extractor,
    as_result,
    maybe_await,
)

_PUNCT = str.maketrans("", "", string.punctuation)


def normalise(text: str, *, ignore_case: bool = True, ignore_punctuation: bool = False) -> str:
    """Whitespace collapsed; lower-cased; punctuation dropped if asked (inspect-ai's
    `match` normalisation)."""
    out = " ".join(text.split())
    if ignore_case:
        out = out.lower()
    if ignore_punctuation:
        out = " ".join(out.translate(_PUNCT).split())
    return out


def _missing(answer: str | None, target: Target, *, all: bool = False) -> ScoreResult | None:
    if not target.values:
        if all and target.data is not None:  # e.g. a task that requires no outputs
            return ScoreResult(1.0, True, answer, "the target requires no values")
        return ScoreResult(0.0, False, answer, "no target: give `target:` or use an env with one")
    if answer is None:
        return ScoreResult(0.0, False, None, "the episode gave no answer")
    return None


def exact(
    *,
    answer: str | AnswerFn = "final",
    agent: str | None = None,
    ignore_case: bool = True,
    ignore_punctuation: bool = True,
    all: bool = False,
) -> Scorer:
    """The answer equals a target value after normalisation."""
    extract = answer_extractor(answer, agent=agent)

    async def score(log: EpisodeLog, target: Target) -> ScoreResult:
        text = extract(log)
        missing = _missing(text, target, all=all)
        if missing is not None:
            return missing
        assert text is not None

        def norm(s: str) -> str:
            return normalise(s, ignore_case=ignore_case, ignore_punctuation=ignore_punctuation)

        wanted = [norm(v) for v in target.values]
        if all:
            lines = {norm(line) for line in text.splitlines() if line.strip()}
            found = [w for w in wanted if w in lines]
            value = len(found) / len(wanted)
            return ScoreResult(
                value, value == 1.0, text, f"{len(found)}/{len(wanted)} target values given"
            )
        hit = norm(text) in wanted
        why = "matches the target" if hit else f"differs from the target {target.values[0]!r}"
        return ScoreResult(float(hit), hit, text, f"the answer {why}")

    return score


def includes(
    *,
    answer: str | AnswerFn = "final",
    agent: str | None = None,
    ignore_case: bool = True,
    ignore_commas: bool = False,
    all: bool = False,
) -> Scorer:
    """A target value occurs in the answer (`all=True`: every value; partial credit).
    `ignore_commas` drops commas from the answer first (tau-bench's output check)."""
    extract = answer_extractor(answer, agent=agent)

    async def score(log: EpisodeLog, target: Target) -> ScoreResult:
        text = extract(log)
        missing = _missing(text, target, all=all)
        if missing is not None:
            return missing
        assert text is not None
        haystack = text.lower() if ignore_case else text
        if ignore_commas:
            haystack = haystack.replace(",", "")
        found = [v for v in target.values if (v.lower() if ignore_case else v) in haystack]
        absent = [v for v in target.values if v not in found]
        if all:
            value = len(found) / len(target.values)
            why = f"{len(found)}/{len(target.values)} target values found"
            if absent:
                why += f" (missing: {', '.join(absent)})"
            return ScoreResult(value, not absent, text, why)
        hit = bool(found)
        why = f"found {found[0]!r}" if hit else "no target value occurs in the answer"
        return ScoreResult(float(hit), hit, text, why)

    return score


_NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?%?")


def extract_numbers(text: str) -> list[float]:
    """Every number written in `text`, in order (thousands separators removed; a `%`
    sign is kept out of the value: "12%" is 12)."""
    out = []
    for match in _NUMBER.finditer(text):
        token = match.group().rstrip("%").replace(",", "")
        if not any(ch.isdigit() for ch in token):
            continue
        try:
            out.append(float(token))
        except ValueError:
            continue
    return out


def numeric(
    *,
    answer: str | AnswerFn = "final",
    agent: str | None = None,
    tolerance: float = 1e-6,
    rel_tolerance: float = 0.0,
    which: str = "last",
) -> Scorer:
    """The answer's last (`which="first"`: first) number is within `tolerance` or
    `rel_tolerance` (times the target's magnitude) of a target value."""
    if which not in ("first", "last"):
        raise ValueError(f"which must be 'first' or 'last', got {which!r}")
    if tolerance < 0 or rel_tolerance < 0:
        raise ValueError("tolerances must be >= 0")
    extract = answer_extractor(answer, agent=agent)

    async def score(log: EpisodeLog, target: Target) -> ScoreResult:
        text = extract(log)
        missing = _missing(text, target)
        if missing is not None:
            return missing
        assert text is not None
        numbers = extract_numbers(text)
        if not numbers:
            return ScoreResult(0.0, False, text, "no number in the answer")
        got = numbers[-1] if which == "last" else numbers[0]
        expected = [n for v in target.values for n in extract_numbers(v)[:1]]
        if not expected:
            return ScoreResult(0.0, False, text, f"no numeric target in {target.values!r}")
        for want in expected:
            if math.isclose(got, want, rel_tol=rel_tolerance, abs_tol=tolerance):
                return ScoreResult(1.0, True, text, f"{got:g} is within tolerance of {want:g}")
        return ScoreResult(
            0.0,
            False,
            text,
            f"{got:g} differs from {expected[0]:g} by {abs(got - expected[0]):g}",
            metadata={"extracted": got},
        )

    return score


def programmatic(fn: ScoreFn, *, threshold: float = 1.0) -> Scorer:
    """A scorer from a Python function of `(EpisodeLog, Target)`, sync or async,
    returning a `ScoreResult`, a bool, or a number in [0, 1] (success iff >= threshold)."""

    async def score(log: EpisodeLog, target: Target) -> ScoreResult:
        return as_result(await maybe_await(fn(log, target)), threshold=threshold)

    return score
