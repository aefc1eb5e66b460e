"""Task ids and the task generator of ``mas.controlled``.

A task id names one point of the five axes and an instance seed:
``d{depth}-h{horizon}-b{breadth}-p{parallel}-r{robustness}-s{seed}``, e.g.
``d3-h2-b4-p2-r0.2-s7``. The task is a pure function of its id (`generate`).

What each axis builds (see the package docstring for why):

- **breadth** b: sub-problems ``Q1..Qb``, each with one integer answer.
- **depth** d: every sub-problem is a chain of d steps applied to a running value, step k
  being ``x <- x OP v`` with OP one of add, subtract, multiply, remainder (``x mod v``) and
  v the value of a key (``K123``) that the agent must look up. Roots start from 2..99 and
  every running value of a true chain stays within 2..999, so no chain collapses to a
  guessable 0 or 1.
- **parallel** p (1 <= p <= b): ``Q1..Qp`` start from a given number; ``Q(i)`` for i > p
  starts from the answer of ``Q(i-p)``. So the sub-problems form p independent chains
  (components) of ``ceil(b/p)`` sub-problems each (the last ones may be shorter): at most
  p of them can be worked on at once.
- **horizon** h: step k (0-based) of every chain is revealed at turn
  ``ceil((k+1)*h/d) - 1``: the last step of every chain arrives at turn h-1, so no answer
  can be known before h turns, whatever the depth.
- **robustness** r (0..1, at most two decimals): ``floor(r * b * d + 0.5)`` of the b*d keys
  also have a misleading record from an unverified source, with a wrong value; records
  of a key come in a seeded order, so position says nothing about which one is right.

Randomness is split so that an axis changes only its own structure: the chains (steps,
values, start numbers, key names) are drawn from ``(depth, breadth, parallel, seed)``;
the reveal schedule is a formula of ``(horizon, depth)``; the misleading records from
``(depth, breadth, parallel, seed)`` with the attacked keys taken as a prefix of one fixed
order. Two ids that differ only in h or only in r therefore have the same chains, keys
and answers, and the attacked keys of a smaller r are a subset of those of a larger r.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from palaestra.core import UserError

Op = Literal["add", "subtract", "multiply", "mod"]
"""What a step does with the running value x and its key's value v."""

OPS: tuple[Op, ...] = ("add", "subtract", "multiply", "mod")

Trust = Literal["verified", "first"]
"""How to pick a key's value among its records: the verified one (the documented rule),
or the first one listed (what an agent that trusts every record ends up using)."""

MAX_DEPTH = 32
MAX_HORIZON = 32
MAX_BREADTH = 16
MIN_VALUE = 2
MAX_VALUE = 999
"""Every running value of a true chain stays within MIN_VALUE..MAX_VALUE."""
MAX_START = 99

TRUSTED_SOURCES = ("city registry", "audited ledger", "census office")
UNTRUSTED_SOURCES = ("forum post", "anonymous tip", "rumour")

_ID_RE = re.compile(r"^d(\d+)-h(\d+)-b(\d+)-p(\d+)-r(\d+(?:\.\d+)?)-s(\d+)$")
ID_FORMAT = "d{depth}-h{horizon}-b{breadth}-p{parallel}-r{robustness}-s{seed}"


@dataclass(frozen=True)
class Axes:
    """One point of the five axes, plus the instance seed."""

    depth: int
    horizon: int
    breadth: int
    parallel: int
    robustness: float
    seed: int = 0

    def __post_init__(self) -> None:
        problem = axes_problem(
            self.depth, self.horizon, self.breadth, self.parallel, self.robustness, self.seed
        )
        if problem:
            raise UserError(f"invalid mas.controlled axes: {problem}")

    @property
    def id(self) -> str:
        """The canonical task id, e.g. ``d3-h2-b4-p2-r0.2-s7``."""
        return (
            f"d{self.depth}-h{self.horizon}-b{self.breadth}-p{self.parallel}"
            f"-r{self.robustness:g}-s{self.seed}"
        )


def axes_problem(
    depth: int, horizon: int, breadth: int, parallel: int, robustness: float, seed: int
) -> str:
    """What is wrong with these axis values ("" if nothing): each range, p <= b, and at
    most two decimals for r."""
    for name, value, high in (
        ("depth", depth, MAX_DEPTH),
        ("horizon", horizon, MAX_HORIZON),
        ("breadth", breadth, MAX_BREADTH),
    ):
        if not 1 <= value <= high:
            return f"{name} must be between 1 and {high}, got {value}"
    if not 1 <= parallel <= breadth:
        return f"parallel must be between 1 and breadth ({breadth}), got {parallel}"
    if not 0.0 <= robustness <= 1.0:
        return f"robustness must be between 0 and 1, got {robustness:g}"
    if abs(round(robustness, 2) - robustness) > 1e-9:
        return f"robustness must have at most two decimals, got {robustness!r}"
    if seed < 0:
        return f"seed must be >= 0, got {seed}"
    return ""


def parse_task_id(task_id: str) -> Axes:
    """``"d3-h2-b4-p2-r0.2-s7"`` -> `Axes`; a `UserError` naming the format otherwise."""
    match = _ID_RE.match(task_id)
    if match is None:
        raise UserError(
            f"invalid mas.controlled task id {task_id!r}: expected {ID_FORMAT}, "
            "e.g. 'd3-h2-b4-p2-r0.2-s7'"
        )
    d, h, b, p, r, s = match.groups()
    problem = axes_problem(int(d), int(h), int(b), int(p), float(r), int(s))
    if problem:
        raise UserError(f"invalid mas.controlled task id {task_id!r}: {problem}")
    return Axes(int(d), int(h), int(b), int(p), round(float(r), 2), int(s))


@dataclass(frozen=True)
class Record:
    """One stored value of a key, as `lookup` returns it."""

    key: str
    value: int
    source: str
    verified: bool
    """Only verified records are true; an unverified one may carry any value."""

    @property
    def text(self) -> str:
        mark = "verified" if self.verified else "UNVERIFIED"
        return f"{self.key} = {self.value} (source: {self.source}, {mark})"


@dataclass(frozen=True)
class ChainStep:
    """One step of a sub-problem: ``x <- x op value(key)``."""

    index: int
    """1-based position in its sub-problem."""
    op: Op
    key: str
    value: int
    """The key's true value."""
    reveal_turn: int
    """The turn from which the step is shown (0 = the first observation)."""

    @property
    def text(self) -> str:
        """The step as an instruction, e.g. ``add the value of K123``."""
        return step_text(self.op, self.key)


def step_text(op: Op, key: str) -> str:
    """The instruction of a step with operation `op` on the value of `key`."""
    return {
        "add": f"add the value of {key}",
        "subtract": f"subtract the value of {key}",
        "multiply": f"multiply by the value of {key}",
        "mod": f"replace the number by its remainder after division by the value of {key}",
    }[op]


def apply(op: Op, x: int, value: int) -> int:
    """One step: add, subtract, multiply, or Python's remainder ``x % value``."""
    if op == "add":
        return x + value
    if op == "subtract":
        return x - value
    if op == "multiply":
        return x * value
    return x % value


@dataclass(frozen=True)
class SubProblem:
    """A chain of steps; starts from `start`, or from the answer of `depends_on`."""

    name: str
    start: int | None
    depends_on: str | None
    steps: tuple[ChainStep, ...]
    answer: int


@dataclass(frozen=True)
class MasTask:
    """A generated task: its axes, sub-problems (in dependency order) and records."""

    axes: Axes
    subproblems: tuple[SubProblem, ...]
    records: tuple[tuple[str, tuple[Record, ...]], ...]
    """Per key (in key order), its records in the order `lookup` lists them."""
    _index: dict[str, tuple[Record, ...]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        self._index.update(self.records)

    @property
    def id(self) -> str:
        return self.axes.id

    @property
    def answers(self) -> dict[str, int]:
        return {sub.name: sub.answer for sub in self.subproblems}

    def records_of(self, key: str) -> tuple[Record, ...]:
        """The records of `key` (empty for an unknown key)."""
        return self._index.get(key, ())

    @property
    def attacked_keys(self) -> list[str]:
        """Keys that also have a misleading (unverified) record."""
        return [key for key, recs in self.records if any(not r.verified for r in recs)]


def reveal_turn(k: int, depth: int, horizon: int) -> int:
    """Turn at which step k (0-based) of a chain of `depth` steps is revealed:
    ``ceil((k+1)*horizon/depth) - 1``, so the last step comes at turn horizon-1."""
    return -(-(k + 1) * horizon // depth) - 1


@lru_cache(maxsize=512)
def generate(axes: Axes) -> MasTask:
    """The task of `axes` (deterministic; cached)."""
    d, b, p, s = axes.depth, axes.breadth, axes.parallel, axes.seed
    base = f"d{d}-b{b}-p{p}-s{s}"
    rng = random.Random(f"mas.controlled/chains/{base}")
    keys = [f"K{n}" for n in rng.sample(range(100, 1000), b * d)]
    answers: dict[str, int] = {}
    inputs: dict[str, int] = {}  # key -> running value its step is applied to
    ops: dict[str, Op] = {}
    subproblems = []
    for i in range(b):
        name = f"Q{i + 1}"
        start: int | None
        if i < p:
            start, parent = rng.randint(2, MAX_START), None
            x = start
        else:
            start, parent = None, f"Q{i - p + 1}"
            x = answers[parent]
        steps = []
        for k in range(d):
            op, value = _draw_step(rng, x)
            key = keys[i * d + k]
            inputs[key], ops[key] = x, op
            steps.append(ChainStep(k + 1, op, key, value, reveal_turn(k, d, axes.horizon)))
            x = apply(op, x, value)
        answers[name] = x
        subproblems.append(SubProblem(name, start, parent, tuple(steps), x))
    values = {step.key: step.value for sub in subproblems for step in sub.steps}
    records = _records(axes, base, keys, values, inputs, ops)
    return MasTask(axes, tuple(subproblems), records)


def _draw_step(rng: random.Random, x: int) -> tuple[Op, int]:
    """An operation and key value that keep the running value within MIN_VALUE..MAX_VALUE
    (so no chain collapses to 0 or 1, which a guess would hit too often)."""
    for _ in range(64):
        op: Op = rng.choice(OPS)
        low, high = _value_range(op, x)
        value = rng.randint(low, high)
        if MIN_VALUE <= apply(op, x, value) <= MAX_VALUE:
            return op, value
    return "add", 1  # unreachable in practice: adding 1..99 fits whenever x < MAX_VALUE


def _value_range(op: Op, x: int) -> tuple[int, int]:
    """Key values that make sense for `op` at `x` (the result is checked by the caller)."""
    if op == "add":
        return 1, max(1, min(99, MAX_VALUE - x))
    if op == "subtract":
        return 1, max(1, min(99, x))
    if op == "multiply":
        return 2, max(2, min(9, MAX_VALUE // max(x, 1)))
    return 3, max(3, min(97, x))


def _records(
    axes: Axes,
    base: str,
    keys: list[str],
    values: dict[str, int],
    inputs: dict[str, int],
    ops: dict[str, Op],
) -> tuple[tuple[str, tuple[Record, ...]], ...]:
    """One verified record per key; a misleading one more for the attacked keys.

    Every draw is made for every key whatever r is, so a key's records depend on r only
    through whether it is attacked (the first ``floor(r * keys + 0.5)`` of a fixed order)."""
    rng = random.Random(f"mas.controlled/noise/{base}")
    order = list(keys)
    rng.shuffle(order)
    attacked = set(order[: math.floor(axes.robustness * len(keys) + 0.5)])
    out: list[tuple[str, tuple[Record, ...]]] = []
    for key in keys:
        true = Record(key, values[key], rng.choice(TRUSTED_SOURCES), True)
        wrong_value = _wrong_value(rng, ops[key], inputs[key], values[key])
        wrong = Record(key, wrong_value, rng.choice(UNTRUSTED_SOURCES), False)
        wrong_first = rng.random() < 0.5
        if key not in attacked:
            out.append((key, (true,)))
        else:
            out.append((key, (wrong, true) if wrong_first else (true, wrong)))
    return tuple(out)


def _wrong_value(rng: random.Random, op: Op, x: int, value: int) -> int:
    """A plausible value other than `value` that changes the step's result if possible."""
    low, high = _value_range(op, x)
    if high - low < 1:
        low, high = (2, 9) if op == "multiply" else (3, 97) if op == "mod" else (1, 99)
    candidates = [v for v in range(low, high + 1) if v != value]
    rng.shuffle(candidates)
    for candidate in candidates:
        if apply(op, x, candidate) != apply(op, x, value):
            return candidate
    return candidates[0]


def choose(records: tuple[Record, ...] | list[Record], trust: Trust) -> Record | None:
    """The record an agent following `trust` uses (None if there is none to use)."""
    if trust == "first":
        return records[0] if records else None
    return next((r for r in records if r.verified), None)


def solve(task: MasTask, trust: Trust = "verified") -> dict[str, int]:
    """Answers computed from the records, in dependency order: the true answers with
    ``trust="verified"``, a credulous agent's with ``trust="first"``."""
    out: dict[str, int] = {}
    for sub in task.subproblems:
        x = sub.start if sub.depends_on is None else out[sub.depends_on]
        assert x is not None
        for step in sub.steps:
            record = choose(task.records_of(step.key), trust)
            assert record is not None
            x = apply(step.op, x, record.value)
        out[sub.name] = x
    return out
