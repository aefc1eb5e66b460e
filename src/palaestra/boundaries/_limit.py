"""Concurrency limits as wrappers: a model whose calls wait for a shared slot."""

from __future__ import annotations

from palaestra.core import Limiter
from palaestra.models import Model, ModelRequest, ModelResponse


class LimitedModel:
    """Wraps a model so that at most `limit` of its calls (across everything that shares
    the limiter) are in flight at once. Same interface as the wrapped model."""

    def __init__(self, inner: Model, limiter: Limiter):
        self.inner = inner
        self.limiter = limiter
        self.name = inner.name

    async def generate(self, request: ModelRequest) -> ModelResponse:
        limiter = self.limiter
        await limiter.acquire()
        try:
            return await self.inner.generate(request)
        finally:
            limiter.release()
