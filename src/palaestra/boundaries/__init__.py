"""Boundaries: wrappers around a model, tool or memory with the same interface
(recording, limits, retries, caching, faults, governance), and the shared memory that
agents of a system read and write."""

from palaestra.boundaries._admission import (
    Admission,
    AdmissionPolicy,
    AdmitAll,
    AdmitIfNew,
    AdmitIfVerified,
    MaxEntries,
    MemoryEntry,
)
from palaestra.boundaries._limit import LimitedModel, Limiter
from palaestra.boundaries._memory import Memory, SharedMemory, WithMemory, memory_tools

__all__ = [
    "Admission",
    "AdmissionPolicy",
    "AdmitAll",
    "AdmitIfNew",
    "AdmitIfVerified",
    "LimitedModel",
    "Limiter",
    "MaxEntries",
    "Memory",
    "MemoryEntry",
    "SharedMemory",
    "WithMemory",
    "memory_tools",
]
