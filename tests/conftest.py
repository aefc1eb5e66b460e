"""Suite-wide guard rails.

Every test runs under pytest-timeout's limit from pyproject (`timeout`, near a minute), so
a hung test fails with its stack instead of stalling the suite. A test that needs longer
says so with `@pytest.mark.timeout(N)` and must also carry `slow`, `llm` or `browser`, so
that `make test-fast` (the edit loop) leaves it out; collection fails otherwise, naming it.
"""

from __future__ import annotations

import pytest

LONG_MARKS = ("slow", "llm", "browser")


def _default_timeout(config: pytest.Config) -> float:
    value = config.getini("timeout")
    return float(value) if value else 0.0


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    limit = _default_timeout(config)
    unmarked = []
    for item in items:
        mark = item.get_closest_marker("timeout")
        if mark is None or not mark.args or not limit:
            continue
        asked = float(mark.args[0])
        if (asked == 0 or asked > limit) and not any(
            item.get_closest_marker(name) for name in LONG_MARKS
        ):
            unmarked.append(f"{item.nodeid} (timeout {asked:g} s)")
    if unmarked:
        raise pytest.UsageError(
            f"tests that may run past the suite's {limit:g} s limit must also be marked "
            f"{' / '.join(LONG_MARKS)} (so make test-fast skips them):\n  " + "\n  ".join(unmarked)
        )


pytest_plugins = ("pytester",)
