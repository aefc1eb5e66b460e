"""Concurrency limits as wrappers: a model whose calls wait for a shared semaphore."""

from __future__ import annotations

import asyncio

from palaestra.models import Model, ModelRequest, ModelResponse


class LimitedModel:
    """Wraps a model so that at most `limit` of its calls (across everything that shares
    the semaphore) are in flight at once. Same interface as the wrapped model."""

    def __init__(self, inner: Model, semaphore: asyncio.Semaphore):
        self.inner = inner
        self.semaphore = semaphore

    @property
    def name(self) -> str:
        return self.inner.name

    async def generate(self, request: ModelRequest) -> ModelResponse:
        async with self.semaphore:
            return await self.inner.generate(request)
