"""`Target`: what is right for an episode's task, as scorers and the environment give it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    """What is right for an episode's task.

    `values` are texts: a string target is one value, a list one value per item, a
    mapping one value per item value (its keys name the parts). `data` is the target as
    given (JSON data), for programmatic scorers and rubrics.
    """

    values: tuple[str, ...] = ()
    data: Any = None

    @classmethod
    def of(cls, data: Any) -> Target:
        """The target of JSON data (`None` gives the empty target)."""
        if data is None:
            return cls()
        if isinstance(data, Target):
            return data
        if isinstance(data, str):
            return cls((data,), data)
        if isinstance(data, dict):
            return cls(tuple(target_text(v) for v in data.values()), data)
        if isinstance(data, list | tuple):
            return cls(tuple(target_text(v) for v in data), list(data))
        return cls((target_text(data),), data)

    @property
    def text(self) -> str:
        """The values, one per line (what a judge prompt shows)."""
        return "\n".join(self.values)

    def __bool__(self) -> bool:
        return bool(self.values) or self.data is not None


def target_text(value: Any) -> str:
    """A target value as text: itself if a string, else its JSON (keys sorted)."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
