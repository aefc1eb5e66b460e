"""The text space of the adapters (imports gymnasium: load it after `require`)."""

from __future__ import annotations

from typing import Any

from gymnasium import spaces

PRINTABLE = "".join(chr(c) for c in range(32, 127))
"""What sampled action texts are drawn from: printable ASCII."""


class AnyText(spaces.Text):
    """A `gymnasium.spaces.Text` holding any string of ``0..max_length`` characters.

    Gymnasium's `Text` only holds strings over its charset (alphanumerics by default),
    while environments write any Unicode. `AnyText` keeps `Text`'s sampling (from
    `charset`, printable ASCII by default) but counts every string of a valid length as a
    member, so observations always lie in their space.
    """

    def __init__(self, max_length: int, *, charset: str = PRINTABLE, seed: Any = None):
        super().__init__(max_length, min_length=0, charset=charset, seed=seed)

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length

    def __repr__(self) -> str:
        return f"AnyText(0, {self.max_length})"

    def __eq__(self, other: object, /) -> bool:
        return isinstance(other, AnyText) and self.max_length == other.max_length
