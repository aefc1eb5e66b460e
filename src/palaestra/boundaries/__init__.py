"""Boundaries: wrappers around a model, tool or memory with the same interface
(recording, limits, retries, caching, faults, governance)."""

from palaestra.boundaries._limit import LimitedModel, Limiter

__all__ = ["LimitedModel", "Limiter"]
