"""`Limiter`: slots handed over first come, first served; cancellation loses none."""

from __future__ import annotations

import asyncio

import pytest

from palaestra.core import Limiter


async def test_limiter_hands_slots_in_order_and_survives_cancellation() -> None:
    limiter = Limiter(1)
    await limiter.acquire()
    order: list[str] = []

    async def take(name: str) -> None:
        await limiter.acquire()
        order.append(name)
        limiter.release()

    first = asyncio.create_task(take("first"))
    doomed = asyncio.create_task(take("doomed"))
    last = asyncio.create_task(take("last"))
    await asyncio.sleep(0)
    doomed.cancel()
    limiter.release()
    await asyncio.gather(first, last)
    assert order == ["first", "last"]
    assert limiter.free == 1 and limiter.in_use == 0


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="must be >= 1"):
        Limiter(0)
