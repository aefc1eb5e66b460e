"""Small statistics shared by the parts that report rates: the Wilson score interval.

It lives in `core` because two parts that may not import each other report rates with
intervals: `palaestra.eval` (success rates of systems) and `palaestra.assurance` (task
success under faults, termination reliability, containment). One implementation, one
definition.
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054
"""The standard normal quantile of a two-sided 95% interval."""


def wilson_interval(successes: int, n: int, *, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a success rate `successes / n` (default 95%).

    `(p + z²/2n ± z·sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)`: unlike the normal interval it
    stays inside [0, 1] and is usable at 0 or n successes and small n. With `n == 0`
    nothing is known: (0.0, 1.0)."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    scale = 1 + z2 / n
    low = (centre - spread) / scale
    high = (centre + spread) / scale
    # exact at the ends: 0 successes have low 0, n successes have high 1
    return (0.0 if successes == 0 else max(0.0, low), 1.0 if successes == n else min(1.0, high))
