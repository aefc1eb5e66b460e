"""Comparing systems on the same tasks: success with a confidence interval, cost, and what
coordination costs and buys relative to a single agent.

The unit is the episode. For every system, over its finished episodes (an episode that
ended in an error counts as a failure, as in tau-bench):

- **success rate** `s / n`, with the 95% **Wilson score interval**
  `(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)`, z = 1.96: unlike the normal
  interval it stays inside [0, 1] and is usable at 0 or n successes and small n;
- **tokens per episode**: mean of input + output tokens over all of the episode's model
  calls (every internal agent included), from the store's episode rows;
- **model calls per episode**: mean number of `model_request` events;
- **overhead** against a reference system (`single`): Σ tokens of the system ÷ Σ tokens of
  the reference, over the tasks both ran (same `job/task/seed/epoch`); 1 means no extra
  cost; undefined (None) without a reference, common tasks or reference tokens.
  `call_overhead` is the same ratio of model calls;
- **efficiency**: successes per 1,000 tokens, `1000 · s / Σ tokens` (None at 0 tokens).

`palaestra compare` labels each job `{job}@{system}`, so the episode id
`job@system/task/seed/epoch` names both the system and the task trial it ran
(`split_system`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from palaestra.core import is_judge, wilson_interval
from palaestra.store import EpisodeRow, Store


@dataclass(frozen=True)
class EpisodeCost:
    """One finished episode of a system: which task trial it was, and what it cost."""

    key: str
    """The task trial, shared by every system that ran it (`job/task/seed/epoch`)."""
    success: bool
    tokens: int
    """Input + output tokens of every model call of the episode."""
    calls: int
    """Model calls (`model_request` events) of the episode."""


def split_system(episode_id: str) -> tuple[str | None, str]:
    """`job@system/task/seed/epoch` → (system, `job/task/seed/epoch`); an id whose job
    label names no system gives (None, the id)."""
    job, sep, rest = episode_id.partition("/")
    base, at, system = job.rpartition("@")
    if not at or not base or not system:
        return None, episode_id
    return system, f"{base}{sep}{rest}"


def model_calls_by_episode(store: Store, run_id: str) -> dict[str, int]:
    """Model calls (`model_request` events) per episode id of a run."""
    calls: dict[str, int] = {}
    for event in store.iter_events(run_id):
        if event.kind == "model_request" and not is_judge(event.agent):
            calls[event.episode_id] = calls.get(event.episode_id, 0) + 1
    return calls


def episode_costs(
    rows: Iterable[EpisodeRow], calls: Mapping[str, int]
) -> dict[str | None, list[EpisodeCost]]:
    """The finished episodes of a run as `EpisodeCost`s, grouped by system (None for
    episodes of jobs that name no system), in row order."""
    out: dict[str | None, list[EpisodeCost]] = {}
    for row in rows:
        if row.status != "finished":
            continue
        system, key = split_system(row.episode_id)
        out.setdefault(system, []).append(
            EpisodeCost(
                key=key,
                success=row.outcome == "success",
                tokens=row.input_tokens + row.output_tokens,
                calls=calls.get(row.episode_id, 0),
            )
        )
    return out


def run_costs(store: Store, run_id: str) -> dict[str | None, list[EpisodeCost]]:
    """`episode_costs` of a stored run (episode rows and their model calls)."""
    return episode_costs(store.episodes(run_id), model_calls_by_episode(store, run_id))


@dataclass(frozen=True)
class SystemStats:
    """One row of a comparison (see the module docstring for each figure)."""

    system: str
    episodes: int
    successes: int
    success_rate: float
    ci_low: float
    ci_high: float
    mean_tokens: float
    mean_calls: float
    overhead: float | None
    call_overhead: float | None
    efficiency: float | None


def _ratio(mine: Sequence[EpisodeCost], ref: Sequence[EpisodeCost], attr: str) -> float | None:
    theirs = {cost.key: getattr(cost, attr) for cost in ref}
    common = [cost for cost in mine if cost.key in theirs]
    if not common:
        return None
    denominator = sum(theirs[cost.key] for cost in common)
    if denominator == 0:
        return None
    return sum(getattr(cost, attr) for cost in common) / denominator


def compare_systems(
    costs: Mapping[str, Sequence[EpisodeCost]], *, reference: str | None = None
) -> list[SystemStats]:
    """One `SystemStats` per system, in the mapping's order; overheads are relative to
    `reference` (a key of `costs`, typically the `single` system), None without one."""
    if reference is not None and reference not in costs:
        raise ValueError(
            f"reference system {reference!r} is not compared; systems: {', '.join(costs)}"
        )
    ref = costs[reference] if reference is not None else None
    out = []
    for system, episodes in costs.items():
        n = len(episodes)
        wins = sum(cost.success for cost in episodes)
        tokens = sum(cost.tokens for cost in episodes)
        low, high = wilson_interval(wins, n)
        out.append(
            SystemStats(
                system=system,
                episodes=n,
                successes=wins,
                success_rate=wins / n if n else 0.0,
                ci_low=low,
                ci_high=high,
                mean_tokens=tokens / n if n else 0.0,
                mean_calls=sum(cost.calls for cost in episodes) / n if n else 0.0,
                overhead=None if ref is None else _ratio(episodes, ref, "tokens"),
                call_overhead=None if ref is None else _ratio(episodes, ref, "calls"),
                efficiency=1000 * wins / tokens if tokens else None,
            )
        )
    return out


def comparison_table(stats: Sequence[SystemStats]) -> str:
    """The comparison as a text table, one system a line."""
    head = (
        f"{'system':<20} {'episodes':>8} {'success':>8} {'95% CI':>16} {'tokens/ep':>10} "
        f"{'calls/ep':>9} {'overhead':>9} {'succ/1k tok':>12}"
    )
    lines = [head]
    for s in stats:
        ci = f"[{s.ci_low:.2f}, {s.ci_high:.2f}]"
        overhead = "-" if s.overhead is None else f"{s.overhead:.2f}x"
        efficiency = "-" if s.efficiency is None else f"{s.efficiency:.3f}"
        lines.append(
            f"{s.system[:20]:<20} {s.episodes:>8} {s.success_rate:>8.3f} {ci:>16} "
            f"{s.mean_tokens:>10.1f} {s.mean_calls:>9.2f} {overhead:>9} {efficiency:>12}"
        )
    return "\n".join(lines) + "\n"
