"""Shapley attribution of modules (CapaBench): how much each module's test variant adds.

Modules (agents, roles, tools, prompts) each have a default and a test variant. A
coalition S is the configuration in which the modules in S use their test variant and
the others their default; v(S) is its value (success rate or mean score). Then:

- **Shapley value** φ_i = Σ_{S ⊆ N∖{i}} |S|! (n-|S|-1)! / n! · (v(S ∪ {i}) - v(S)):
  module i's marginal contribution averaged over every order of switching modules to
  their test variant. Exact over all 2^n coalitions, or estimated from `samples`
  random permutations (seeded): the mean of i's marginal contribution in each, with
  its standard error. Efficiency holds for both: Σ_i φ_i = v(N) - v(∅) (each
  permutation's contributions telescope), and `Attribution.efficiency_gap` shows it.
- **Banzhaf index** (an option, labelled as such) β_i = 2^-(n-1) Σ_{S ⊆ N∖{i}}
  (v(S ∪ {i}) - v(S)): every coalition weighs the same. It is not efficient: its sum
  need not equal v(N) - v(∅).

The pure part takes v as a mapping from coalitions (frozensets of module names) to
values, or a function; `coalitions_needed` says which coalitions a method will ask for,
so that a runner evaluates only those (`palaestra.studies.run_shapley`). From a stored
run, `shapley_from_records` reads v(S) off the episodes of jobs labelled `J@S=a+b`
(`coalition_label`).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal

from palaestra.core import derive_seed
from palaestra.eval._records import EpisodeRecord, system_of

Coalition = frozenset[str]
ValueFn = Mapping[Coalition, float] | Callable[[Coalition], float]
EMPTY_COALITION = "none"
"""How the coalition with no module on its test variant is written in labels."""


def shapley_seed(run_seed: int) -> int:
    """The seed of a Shapley run's sampled permutations (or Banzhaf coalitions): derived
    from the run seed, so the runner and every later reader draw the same samples."""
    return derive_seed(run_seed, "shapley", "", "permutations")


@dataclass(frozen=True)
class Attribution:
    """Values of each module, with the efficiency check."""

    players: list[str]
    values: dict[str, float]
    """φ_i (Shapley) or β_i (Banzhaf), by module."""
    method: str
    """`shapley (exact)`, `shapley (sampled, M permutations)`, `banzhaf (exact)`,
    `banzhaf (sampled, M coalitions)`."""
    v_empty: float
    """v(∅): every module on its default variant."""
    v_full: float
    """v(N): every module on its test variant."""
    stderr: dict[str, float] | None = None
    """Standard error of each estimate (sampled methods), None when exact."""
    coalitions: dict[Coalition, float] = field(default_factory=dict)
    """Every v(S) that was used."""

    @property
    def total(self) -> float:
        return sum(self.values.values())

    @property
    def efficiency_gap(self) -> float:
        """Σ values - (v(N) - v(∅)): zero (up to rounding) for Shapley values."""
        return self.total - (self.v_full - self.v_empty)

    @property
    def is_banzhaf(self) -> bool:
        return self.method.startswith("banzhaf")

    def table(self) -> str:
        """The values as text, with the efficiency check printed under them."""
        name = "Banzhaf index" if self.is_banzhaf else "Shapley value"
        width = max([len(p) for p in self.players] + [6])
        lines = [f"{'module':<{width}}  {name:>14}" + ("  std. error" if self.stderr else "")]
        for player in self.players:
            line = f"{player:<{width}}  {self.values[player]:>14.4f}"
            if self.stderr:
                line += f"  {self.stderr[player]:>10.4f}"
            lines.append(line)
        check = (
            f"efficiency: sum = {self.total:.4f}; v(all test) - v(all default) = "
            f"{self.v_full:.4f} - {self.v_empty:.4f} = {self.v_full - self.v_empty:.4f}"
        )
        if self.is_banzhaf:
            check += " (the Banzhaf index is not efficient: the two may differ)"
        else:
            check += " (holds)" if abs(self.efficiency_gap) < 1e-9 else " (DOES NOT HOLD)"
        lines += [f"method: {self.method}", check]
        return "\n".join(lines) + "\n"


def _check_players(players: Sequence[str]) -> list[str]:
    out = list(players)
    if not out:
        raise ValueError("give at least one module")
    if len(set(out)) != len(out):
        raise ValueError(f"a module is named twice in {out}")
    return out


def _permutations(players: list[str], samples: int, seed: int) -> list[list[str]]:
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    rng = random.Random(seed)
    out = []
    for _ in range(samples):
        order = list(players)
        rng.shuffle(order)
        out.append(order)
    return out


def _random_subsets(players: list[str], samples: int, seed: int) -> list[Coalition]:
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    rng = random.Random(seed)
    return [frozenset(p for p in players if rng.random() < 0.5) for _ in range(samples)]


def all_coalitions(players: Sequence[str]) -> list[Coalition]:
    """The 2^n coalitions, by size then in module order."""
    return [frozenset(c) for size in range(len(players) + 1) for c in combinations(players, size)]


def coalitions_needed(
    players: Sequence[str],
    *,
    samples: int | None = None,
    seed: int = 0,
    banzhaf: bool = False,
) -> list[Coalition]:
    """The coalitions `shapley_values` / `banzhaf_values` with the same arguments will
    evaluate: all 2^n when exact; else the prefixes of the sampled permutations (or the
    sampled coalitions with and without each module, for Banzhaf), always including ∅
    and N, without repeats, in first-needed order."""
    names = _check_players(players)
    if samples is None:
        return all_coalitions(names)
    needed: dict[Coalition, None] = {frozenset(): None, frozenset(names): None}
    if banzhaf:
        for subset in _random_subsets(names, samples, seed):
            for p in names:
                needed[subset - {p}] = None
                needed[subset | {p}] = None
    else:
        for order in _permutations(names, samples, seed):
            for i in range(len(order) + 1):
                needed[frozenset(order[:i])] = None
    return list(needed)


def _lookup(value: ValueFn) -> Callable[[Coalition], float]:
    if callable(value):
        return value
    table = value

    def get(coalition: Coalition) -> float:
        try:
            return float(table[coalition])
        except KeyError:
            shown = "+".join(sorted(coalition)) or EMPTY_COALITION
            raise ValueError(f"v is not given for coalition {{{shown}}}") from None

    return get


def _means(contributions: Mapping[str, list[float]]) -> tuple[dict[str, float], dict[str, float]]:
    """Each player's mean sampled contribution and its standard error."""
    means, stderr = {}, {}
    for player, values in contributions.items():
        m = len(values)
        mean = means[player] = sum(values) / m
        var = sum((x - mean) ** 2 for x in values) / (m - 1) if m > 1 else 0.0
        stderr[player] = math.sqrt(var / m)
    return means, stderr


class _Game:
    """The players and their value function; each coalition's value is asked for once
    (a value may be a whole run) and kept for the report."""

    def __init__(self, players: Sequence[str], value: ValueFn) -> None:
        self.names = _check_players(players)
        self._value = _lookup(value)
        self.cache: dict[Coalition, float] = {}

    def __call__(self, coalition: Coalition) -> float:
        if coalition not in self.cache:
            self.cache[coalition] = self._value(coalition)
        return self.cache[coalition]

    def attribution(
        self, values: dict[str, float], method: str, stderr: dict[str, float] | None
    ) -> Attribution:
        return Attribution(
            players=self.names,
            values=values,
            method=method,
            v_empty=self(frozenset()),
            v_full=self(frozenset(self.names)),
            stderr=stderr,
            coalitions=dict(self.cache),
        )


def shapley_values(
    players: Sequence[str], value: ValueFn, *, samples: int | None = None, seed: int = 0
) -> Attribution:
    """Shapley values of `players` under `value` (a mapping or function of coalitions):
    exact (`samples=None`) or from `samples` random permutations drawn with `seed`."""
    game = _Game(players, value)
    names, val = game.names, game
    n = len(names)
    values: dict[str, float] = {}
    stderr = None
    if samples is None:
        for player in names:
            others = [p for p in names if p != player]
            total = 0.0
            for size in range(n):
                weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
                for subset in combinations(others, size):
                    s = frozenset(subset)
                    total += weight * (val(s | {player}) - val(s))
            values[player] = total
        method = "shapley (exact)"
    else:
        contributions: dict[str, list[float]] = {p: [] for p in names}
        for order in _permutations(names, samples, seed):
            before = frozenset[str]()
            for player in order:
                after = before | {player}
                contributions[player].append(val(after) - val(before))
                before = after
        values, stderr = _means(contributions)
        method = f"shapley (sampled, {samples} permutations)"
    return game.attribution(values, method, stderr)


def banzhaf_values(
    players: Sequence[str], value: ValueFn, *, samples: int | None = None, seed: int = 0
) -> Attribution:
    """Banzhaf indices of `players`: exact, or from `samples` uniformly random
    coalitions (each module's marginal contribution to each, seeded)."""
    game = _Game(players, value)
    names, val = game.names, game
    stderr = None
    if samples is None:
        values = {}
        for player in names:
            others = [p for p in names if p != player]
            margins = [
                val(frozenset(s) | {player}) - val(frozenset(s))
                for size in range(len(others) + 1)
                for s in combinations(others, size)
            ]
            values[player] = sum(margins) / len(margins)
        method = "banzhaf (exact)"
    else:
        contributions: dict[str, list[float]] = {p: [] for p in names}
        for subset in _random_subsets(names, samples, seed):
            for player in names:
                base = subset - {player}
                contributions[player].append(val(base | {player}) - val(base))
        values, stderr = _means(contributions)
        method = f"banzhaf (sampled, {samples} coalitions)"
    return game.attribution(values, method, stderr)


def coalition_label(coalition: Iterable[str], players: Sequence[str]) -> str:
    """`S=a+b` (modules in `players` order), `S=none` for the empty coalition: the
    system part of a Shapley job label `J@S=a+b`."""
    chosen = set(coalition)
    names = [p for p in players if p in chosen]
    return "S=" + ("+".join(names) or EMPTY_COALITION)


def parse_coalition(system: str, players: Sequence[str]) -> Coalition | None:
    """The coalition of a system label `S=a+b` (None when it is not one). Raises
    `ValueError` for a module not in `players`."""
    if not system.startswith("S="):
        return None
    body = system[2:]
    if body == EMPTY_COALITION:
        return frozenset()
    names = body.split("+")
    unknown = [n for n in names if n not in players]
    if unknown:
        raise ValueError(f"coalition {system!r} names unknown module(s) {unknown}")
    return frozenset(names)


def coalition_values(
    records: Iterable[EpisodeRecord],
    players: Sequence[str],
    *,
    value: Literal["success", "score"] = "success",
) -> dict[Coalition, float]:
    """v(S) of every coalition in a Shapley run: the success rate (or mean score, success
    as 0/1 without one) over the finished episodes of the jobs labelled `J@S=...`."""
    sums: dict[Coalition, list[float]] = {}
    for record in records:
        coalition = parse_coalition(system_of(record.job), players)
        if coalition is None:
            continue
        x = float(record.success) if value == "success" else record.value
        sums.setdefault(coalition, []).append(x)
    return {c: sum(xs) / len(xs) for c, xs in sums.items()}


def shapley_from_records(
    records: Iterable[EpisodeRecord],
    players: Sequence[str],
    *,
    value: Literal["success", "score"] = "success",
    samples: int | None = None,
    seed: int = 0,
    banzhaf: bool = False,
) -> Attribution:
    """Shapley values (or Banzhaf indices) from the episodes of a Shapley run. Raises
    `ValueError` when a coalition the method needs has no finished episode."""
    table = coalition_values(records, players, value=value)
    method = banzhaf_values if banzhaf else shapley_values
    return method(players, table, samples=samples, seed=seed)
