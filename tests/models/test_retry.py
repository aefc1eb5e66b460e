"""The retry policy: which failures are retried, how long the waits are, Retry-After."""

from __future__ import annotations

import email.utils
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from palaestra.core import UserError
from palaestra.models._retry import RetryPolicy, parse_retry_after


@given(attempt=st.integers(1, 200), seed=st.integers(0, 2**32))
def test_backoff_is_within_full_jitter_bounds(attempt: int, seed: int) -> None:
    policy = RetryPolicy(backoff_base_s=0.5, backoff_max_s=30.0)
    delay = policy.backoff_delay(attempt, random.Random(seed))
    assert 0.0 <= delay <= min(30.0, 0.5 * 2 ** (attempt - 1))


def test_backoff_ceiling_doubles_then_caps() -> None:
    policy = RetryPolicy(backoff_base_s=1.0, backoff_max_s=5.0)
    rng = random.Random(1)
    # The largest of many draws approaches each attempt's ceiling: 1, 2, 4, then 5 (cap).
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (10, 5.0)]:
        draws = [policy.backoff_delay(attempt, rng) for _ in range(2000)]
        assert max(draws) <= ceiling
        assert max(draws) > 0.95 * ceiling
        assert min(draws) < 0.05 * ceiling  # full jitter: down to zero


def test_backoff_is_deterministic_for_a_seed_and_never_uses_global_random() -> None:
    policy = RetryPolicy()
    random.seed(123)
    first = [policy.backoff_delay(n, random.Random(7)) for n in range(1, 6)]
    random.seed(456)  # the global generator must not matter
    second = [policy.backoff_delay(n, random.Random(7)) for n in range(1, 6)]
    assert first == second
    assert first != [policy.backoff_delay(n, random.Random(8)) for n in range(1, 6)]


def test_backoff_rejects_attempt_zero() -> None:
    with pytest.raises(ValueError, match="1-based"):
        RetryPolicy().backoff_delay(0, random.Random(0))


def test_retry_delay_prefers_the_server_wait_capped() -> None:
    policy = RetryPolicy(backoff_max_s=1.0, max_retry_after_s=10.0)
    rng = random.Random(0)
    assert policy.retry_delay(1, rng, 3.5) == 3.5  # beyond backoff_max_s: the server knows
    assert policy.retry_delay(1, rng, 1e9) == 10.0
    assert policy.retry_delay(1, rng, float("inf")) == 10.0
    assert policy.retry_delay(1, rng, -2.0) == 0.0
    assert 0.0 <= policy.retry_delay(1, rng, None) <= 0.5


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(408, True), (409, True), (429, True), (500, True), (502, True), (503, True),
     (599, True), (400, False), (401, False), (403, False), (404, False), (422, False)],
)  # fmt: skip
def test_retryable_statuses(status: int, retryable: bool) -> None:
    assert RetryPolicy().is_retryable_status(status) is retryable


def test_policy_validates_its_fields() -> None:
    with pytest.raises(UserError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(UserError, match="backoff_base_s"):
        RetryPolicy(backoff_base_s=float("nan"))
    assert RetryPolicy(max_retries=0).max_attempts == 1


def test_parse_retry_after_seconds() -> None:
    assert parse_retry_after({"Retry-After": "2"}) == 2.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25
    assert parse_retry_after({"RETRY-AFTER": " 7 "}) == 7.0


def test_parse_retry_after_ms_wins_over_seconds() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    # An unusable ms value falls back to Retry-After.
    assert parse_retry_after({"retry-after-ms": "soon", "retry-after": "9"}) == 9.0


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)  # e.g. "Tue, 14 Nov 2023 22:13:50 GMT"
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(30.0)
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"Retry-After": past}, now=now) == 0.0


@pytest.mark.parametrize(
    "headers", [None, {}, {"retry-after": "soon"}, {"retry-after": "-3"}, {"x": "1"}]
)
def test_parse_retry_after_absent_or_nonsense(headers: dict[str, str] | None) -> None:
    assert parse_retry_after(headers) is None
