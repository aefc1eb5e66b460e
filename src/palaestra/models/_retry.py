"""A small, reusable retry policy for calls to model providers.

Why it exists: a provider must retry what is worth retrying (rate limits, overloaded or
broken servers, timeouts, dropped connections, garbled replies), fail at once on what is
not (a bad request, a wrong key), and wait in a way that is both polite to the server and
reproducible. So:

- **What to retry**: HTTP 408, 409, 429 and every 5xx; timeouts, connection errors and
  malformed replies (decided by the caller, which knows its transport's exceptions).
  Every other 4xx fails at once.
- **How long to wait**: exponential backoff with *full jitter* (a uniform draw between 0
  and `min(backoff_max_s, backoff_base_s * 2 ** (attempt - 1))`), unless the server said
  how long in `Retry-After` / `retry-after-ms`: then that, capped at `max_retry_after_s`.
- **Deterministic**: the jitter draws from a `random.Random` the caller passes in (seeded
  from the request's seed), never from the global `random`.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass

from palaestra.core import UserError

RETRYABLE_STATUSES: frozenset[int] = frozenset({408, 409, 429})
"""4xx statuses worth retrying (every 5xx is retried too)."""


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a failed call and how long to wait before the next try."""

    max_retries: int = 4
    """Retries after the first attempt (so at most `max_retries + 1` attempts)."""
    backoff_base_s: float = 0.5
    """Upper bound of the first backoff draw; it doubles with every further retry."""
    backoff_max_s: float = 30.0
    """Cap of the computed backoff (before jitter)."""
    max_retry_after_s: float = 60.0
    """Cap of a server-requested wait (`Retry-After`), so a bogus header cannot stall a run."""

    def __post_init__(self) -> None:
        for name in ("max_retries", "backoff_base_s", "backoff_max_s", "max_retry_after_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value < 0 or math.isnan(value):
                raise UserError(f"RetryPolicy.{name} must be a number >= 0, got {value!r}")

    @property
    def max_attempts(self) -> int:
        """Total number of attempts: the first one plus the retries."""
        return self.max_retries + 1

    def is_retryable_status(self, status: int) -> bool:
        """True for 408, 409, 429 and 5xx; every other status fails at once."""
        return status in RETRYABLE_STATUSES or 500 <= status <= 599

    def backoff_delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based), full jitter.

        The draw is uniform in `[0, min(backoff_max_s, backoff_base_s * 2 ** (attempt - 1))]`.
        """
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        exponent = min(attempt - 1, 62)  # 2**62 already dwarfs any sane cap
        ceiling = min(self.backoff_max_s, self.backoff_base_s * float(2**exponent))
        return rng.uniform(0.0, ceiling)

    def retry_delay(self, attempt: int, rng: random.Random, retry_after: float | None) -> float:
        """The wait before the next try: the server's `retry_after` (capped at
        `max_retry_after_s`) when it sent one, else the jittered backoff."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s)
        return self.backoff_delay(attempt, rng)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    # Plain dicts are case-sensitive; HTTP header names are not.
    for key, item in headers.items():
        if key.lower() == name:
            return item
    return None


def parse_retry_after(
    headers: Mapping[str, str] | None, *, now: float | None = None
) -> float | None:
    """Seconds the server asked us to wait, or None when it did not say (or said nonsense).

    Reads `retry-after-ms` (milliseconds, sent by OpenAI) first, then `Retry-After` as
    seconds (fractions allowed) or as an HTTP date (RFC 9110), which is turned into a
    delay from `now` (default: the current time). A date in the past means 0.
    """
    if not headers:
        return None
    raw_ms = _header(headers, "retry-after-ms")
    if raw_ms is not None:
        seconds = _as_seconds(raw_ms, 1000.0)
        if seconds is not None:
            return seconds
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    seconds = _as_seconds(raw, 1.0)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # HTTP dates are always GMT
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _as_seconds(text: str, divisor: float) -> float | None:
    try:
        value = float(text.strip())
    except ValueError:
        return None
    if math.isnan(value) or value < 0:
        return None
    return value / divisor
