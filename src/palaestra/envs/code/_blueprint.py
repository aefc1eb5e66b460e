"""A generated problem before its answers are known (`Blueprint`), and the helpers the
task families share to write reference code and draw inputs."""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from textwrap import dedent
from typing import Any

EXAMPLES = 2
"""The first inputs of a blueprint are shown as examples; the others are hidden tests."""
TESTS = 10
"""Hidden tests per task."""


@dataclass(frozen=True)
class Blueprint:
    """One generated problem, before its expected outputs are computed."""

    statement: str
    signature: str
    """The first line of the function to write, e.g. ``def solve(n: int) -> int:``."""
    reference: str
    """Source of a correct ``solve``."""
    inputs: list[tuple[Any, ...]]
    """Argument tuples: `EXAMPLES` examples, then `TESTS` hidden tests."""


Family = Callable[[random.Random], Blueprint]


def code(source: str, **values: object) -> str:
    """Dedent `source` and substitute ``$name`` placeholders (braces stay Python's)."""
    return string.Template(dedent(source).strip() + "\n").substitute(
        {k: repr(v) for k, v in values.items()}
    )


def ints(rng: random.Random, count: int, low: int, high: int) -> list[int]:
    return [rng.randint(low, high) for _ in range(count)]


def lists(
    rng: random.Random, low: int, high: int, max_len: int, *, count: int = TESTS, min_len: int = 0
) -> list[tuple[Any, ...]]:
    """`count` one-argument inputs, each a list of ints in [low, high]."""
    return [(ints(rng, rng.randint(min_len, max_len), low, high),) for _ in range(count)]


def words(rng: random.Random, count: int, alphabet: str = "abcde", longest: int = 6) -> list[str]:
    return ["".join(rng.choices(alphabet, k=rng.randint(1, longest))) for _ in range(count)]
