"""Admission policies of a shared memory: which writes are stored.

A policy sees the key, the value (JSON data), the writing agent and the entries stored
so far, and returns True to admit, or False or a reason (a string) to reject. Shipped:
`AdmitAll`, `AdmitIfNew` (first write wins), `AdmitIfVerified(fn)` (a predicate, e.g. a
verifier's check), `MaxEntries(n)`. A memory may take several: all must admit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from palaestra.core import UserError


@dataclass(frozen=True)
class MemoryEntry:
    """One stored entry: its key, its value (JSON data) and the agent that wrote it."""

    key: str
    value: Any
    writer: str


@dataclass(frozen=True)
class Admission:
    """What became of a write: stored or not, and the policy's reason when not."""

    admitted: bool
    reason: str = ""


@runtime_checkable
class AdmissionPolicy(Protocol):
    """Decides whether a write is stored.

    `admit` sees the key, the value (JSON data), the writing agent and the entries stored
    so far (read-only). It returns True to admit; False or a string (the reason, shown to
    the writer and recorded) to reject. It must not await: the decision and the store
    happen together.
    """

    def admit(
        self, key: str, value: Any, writer: str, entries: Mapping[str, MemoryEntry]
    ) -> bool | str: ...


class AdmitAll:
    """Admit every write (a later write of a key replaces the earlier one)."""

    def admit(
        self, key: str, value: Any, writer: str, entries: Mapping[str, MemoryEntry]
    ) -> bool | str:
        return True

    def __repr__(self) -> str:
        return "AdmitAll()"


class AdmitIfNew:
    """First write wins: a key already stored is never replaced."""

    def admit(
        self, key: str, value: Any, writer: str, entries: Mapping[str, MemoryEntry]
    ) -> bool | str:
        found = entries.get(key)
        if found is None:
            return True
        return f"{key!r} is already stored (written by {found.writer}); the first write wins"

    def __repr__(self) -> str:
        return "AdmitIfNew()"


class AdmitIfVerified:
    """Admit only values that `verify(key, value)` accepts (e.g. a result a verifier
    checked). `verify` returns a bool, or a string: the reason for rejecting."""

    def __init__(self, verify: Callable[[str, Any], bool | str]):
        if not callable(verify):
            raise UserError(
                f"AdmitIfVerified needs a function (key, value) -> bool, got "
                f"{type(verify).__name__}"
            )
        self.verify = verify

    def admit(
        self, key: str, value: Any, writer: str, entries: Mapping[str, MemoryEntry]
    ) -> bool | str:
        verdict = self.verify(key, value)
        if isinstance(verdict, str):
            return verdict or False
        return True if verdict else f"{key!r} was not verified by {self!r}"

    def __repr__(self) -> str:
        return f"AdmitIfVerified({getattr(self.verify, '__name__', 'verify')})"


class MaxEntries:
    """Admit new keys while fewer than `n` entries are stored (replacing a stored key is
    always admitted)."""

    def __init__(self, n: int):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise UserError(f"MaxEntries needs a positive integer, got {n!r}")
        self.n = n

    def admit(
        self, key: str, value: Any, writer: str, entries: Mapping[str, MemoryEntry]
    ) -> bool | str:
        if key in entries or len(entries) < self.n:
            return True
        return f"the memory is full ({len(entries)} entries, {self!r})"

    def __repr__(self) -> str:
        return f"MaxEntries({self.n})"


def as_policies(policy: AdmissionPolicy | Sequence[AdmissionPolicy]) -> list[AdmissionPolicy]:
    items = list(policy) if isinstance(policy, Sequence) else [policy]
    for item in items:
        if not callable(getattr(item, "admit", None)):
            raise UserError(
                f"SharedMemory: {item!r} is not an admission policy (it needs an "
                "`admit(key, value, writer, entries)` method); shipped: AdmitAll, "
                "AdmitIfNew, AdmitIfVerified(fn), MaxEntries(n)"
            )
    if not items:
        raise UserError("SharedMemory: policy is an empty list; give at least one policy")
    return items
