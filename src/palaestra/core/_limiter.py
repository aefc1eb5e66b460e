"""`Limiter`: a lean, fair asyncio semaphore for what sits on every call.

Used for the runner's limit on model calls in flight (`boundaries.LimitedModel`) and the
HTTP transport's limit on requests in flight (`models.PooledTransport`). In Python 3.11
`asyncio.Semaphore.acquire` builds a generator over its waiters on every call.
"""

from __future__ import annotations

import asyncio
from collections import deque


class Limiter:
    """At most `limit` holders at once; waiters are served first come, first served.

    A lean `asyncio.Semaphore`: taking a free slot is one comparison (this sits on every
    model call). A slot is handed directly to the next waiter on release, so a late
    arrival cannot overtake the queue.
    """

    def __init__(self, limit: int):
        if limit < 1:
            raise ValueError(f"a limit must be >= 1, got {limit}")
        self.limit = limit
        self.free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def in_use(self) -> int:
        return self.limit - self.free

    async def acquire(self) -> None:
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over as we were cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot goes straight to this waiter
                return
        self.free += 1
