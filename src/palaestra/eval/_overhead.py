"""A system against the single agent on the same episodes: what coordination costs
(overhead in tokens, model calls and turns) and what it does to errors (amplification,
propagation of wrong sub-results). Definitions in docs/metrics.md.

Episodes are paired on (env, task, seed, epoch), so both sides faced the same task
under the same seed; episodes without a partner are left out (and counted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from palaestra.core import UserError
from palaestra.eval._coordination import EpisodeMeasures, SubResult


@dataclass(frozen=True)
class Ratio:
    """A paired cost ratio of a system to the single agent."""

    of_sums: float | None
    """Σ system / Σ single over the pairs (the headline: each token weighs the same);
    None when Σ single is 0."""
    mean: float | None
    """Mean of system_i / single_i over the pairs with single_i > 0; None if none."""


@dataclass(frozen=True)
class Overhead:
    """Cost of a system against `single` on the same (env, task, seed, epoch)."""

    pairs: int
    unpaired: int
    """Episodes of either side with no partner on the other (left out)."""
    tokens: Ratio
    model_calls: Ratio
    turns: Ratio


def _pairs(
    system: Sequence[EpisodeMeasures], single: Sequence[EpisodeMeasures]
) -> tuple[list[tuple[EpisodeMeasures, EpisodeMeasures]], int]:
    sides = []
    for name, side in (("system", system), ("single", single)):
        keyed: dict[tuple[str, str, int, int], EpisodeMeasures] = {}
        for m in side:
            if m.key in keyed:
                raise UserError(
                    f"two {name} episodes share (env, task, seed, epoch) = {m.key}: "
                    f"{keyed[m.key].episode_id} and {m.episode_id}; give one job's "
                    "episodes per side (run_measures(..., job=...))"
                )
            keyed[m.key] = m
        sides.append(keyed)
    mine, base = sides
    pairs = [(mine[k], base[k]) for k in mine if k in base]
    if not pairs:
        raise UserError(
            "no episode of the system has a single-agent partner with the same "
            "(env, task, seed, epoch); run both on the same tasks, seeds and epochs"
        )
    return pairs, len(mine) + len(base) - 2 * len(pairs)


def _ratio(values: list[tuple[float, float]]) -> Ratio:
    total = sum(b for _, b in values)
    ratios = [a / b for a, b in values if b > 0]
    return Ratio(
        of_sums=sum(a for a, _ in values) / total if total else None,
        mean=sum(ratios) / len(ratios) if ratios else None,
    )


def overhead(system: Sequence[EpisodeMeasures], single: Sequence[EpisodeMeasures]) -> Overhead:
    """Tokens, model calls and turns of `system` ÷ those of `single`, paired on (env,
    task, seed, epoch): the ratio of sums and the mean of per-pair ratios."""
    pairs, unpaired = _pairs(system, single)
    return Overhead(
        pairs=len(pairs),
        unpaired=unpaired,
        tokens=_ratio([(a.tokens, b.tokens) for a, b in pairs]),
        model_calls=_ratio([(a.model_calls, b.model_calls) for a, b in pairs]),
        turns=_ratio([(a.turns, b.turns) for a, b in pairs]),
    )


@dataclass(frozen=True)
class Amplification:
    """Error rates of a system and of `single` on paired episodes, and their ratio."""

    pairs: int
    system_error_rate: float
    single_error_rate: float
    ratio: float | None
    """system_error_rate / single_error_rate; None when single never failed."""


def error_amplification(
    system: Sequence[EpisodeMeasures], single: Sequence[EpisodeMeasures]
) -> Amplification:
    """(1 − success rate of the system) ÷ (1 − success rate of single), over the episodes
    paired on (env, task, seed, epoch) (Kim et al.'s relative failure rate)."""
    pairs, _ = _pairs(system, single)
    mine = sum(not a.success for a, _ in pairs) / len(pairs)
    base = sum(not b.success for _, b in pairs) / len(pairs)
    return Amplification(len(pairs), mine, base, mine / base if base else None)


@dataclass(frozen=True)
class Propagation:
    """How often a wrong sub-result ends in a failed episode."""

    episodes: int
    """Episodes with at least one wrong sub-result."""
    failed: int
    """Of those, episodes that failed."""
    rate: float | None
    """failed / episodes: P(failure | some sub-result wrong); None without any."""


def error_propagation(
    episodes: Iterable[EpisodeMeasures], wrong: Callable[[EpisodeMeasures, SubResult], bool]
) -> Propagation:
    """P(episode fails | at least one internal agent's output was wrong), with `wrong`
    (given by the caller, who knows the task) judging each sub-result. Compare it with
    the single agent's error rate on the same tasks."""
    hit = failed = 0
    for m in episodes:
        if any(wrong(m, sub) for sub in m.sub_results):
            hit += 1
            failed += not m.success
    return Propagation(hit, failed, failed / hit if hit else None)
