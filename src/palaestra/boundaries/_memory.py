"""Shared memory: a key-value memory that the agents of a system share, with a pluggable
admission policy, every read and write recorded in the log.

Parallel workers often redo each other's work. A shared memory (as in *Learning to
Share*, GEMS) lets one worker store a result and the others reuse it. `SharedMemory`
is the in-process implementation of the `Memory` protocol:

- `read(key_or_query, ctx)` returns a `MemoryEntry` or None, and records a
  `memory_read` event (hit or miss, which key matched, who wrote it);
- `write(key, value, ctx)` asks the admission policy, stores the entry if admitted, and
  records a `memory_write` event (admitted or not, with the policy's reason).

Values are kept in their JSON form (a value that is not JSON data is refused), so what
the log shows is exactly what readers get. Reads and writes never await between looking
and changing, so concurrent agents of one event loop cannot interleave inside them.

**Who computes first.** Concurrent workers that all miss would all recompute. With
`single_flight=True` a read that misses *claims* the key for its reader; another agent's
read of a claimed key waits (at most `wait_s`) for the claimant's write, then reads it.
Which worker claims first depends on scheduling; with equal work it is the first
started. A claim also ends when its agent's turn ends without a write (`release`, which
`WithMemory` calls), so a worker that gives up never holds the others for `wait_s`.

**Scope.** `scope="episode"` (default) gives every episode its own entries, so episodes
stay independent trials; `scope="run"` shares entries across the episodes of a run (a
memory bank that grows over a run, as in Learning to Share).

**LLM members.** `memory_tools(memory)` are the `memory_read` / `memory_write` tools an
`LLMOperator` can be given. A tool is called without the agent's `Context`, so the
operator holding the tools is wrapped in `WithMemory(operator, memory)`: a boundary
that makes its turn's context available to that memory's tools (a context variable, set
for the turn), so their events are recorded under the right agent. Wrap the member
that holds the tools, not the system around it (the innermost wrapper of a memory is
the one its tools use). A memory tool called outside such a wrapper raises `UserError`.
(Once tools can receive the calling `Context` themselves, the wrapper can go.)
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic_core import from_json, to_json

from palaestra.boundaries._admission import (
    Admission,
    AdmissionPolicy,
    AdmitAll,
    MemoryEntry,
    as_policies,
)
from palaestra.core import (
    Action,
    Context,
    MemoryRead,
    MemoryWrite,
    Observation,
    Operator,
    UserError,
    described,
    forked,
)
from palaestra.tools import Tool, ToolOutcome


@runtime_checkable
class Memory(Protocol):
    """A memory agents read and write; implementations record `memory_read` /
    `memory_write` events through the context they are given. An implementation may
    also have `release(ctx)`, called by `WithMemory` when the agent's turn ends."""

    @property
    def name(self) -> str:
        """Name recorded in the events (agents may share several memories)."""
        ...

    async def read(self, query: str, ctx: Context) -> MemoryEntry | None:
        """The entry for a key (or the best match of a query), or None."""
        ...

    async def write(self, key: str, value: Any, ctx: Context) -> Admission:
        """Offer an entry; the memory's policy decides whether it is stored."""
        ...

    def keys(self, ctx: Context | None = None) -> list[str]:
        """Keys stored (those `ctx`'s episode sees, when given), in insertion order."""
        ...


@dataclass
class _Claim:
    owner: str
    done: asyncio.Event
    deadline: float


@dataclass
class _Partition:
    entries: dict[str, MemoryEntry] = field(default_factory=dict)
    claims: dict[str, _Claim] = field(default_factory=dict)


_WORD = re.compile(r"\w+")


def _words(text: str) -> frozenset[str]:
    return frozenset(_WORD.findall(text.lower()))


class SharedMemory:
    """An in-process key-value memory shared by the agents that are given it.

    Options are keyword-only. `policy` decides which writes are stored (one policy, or
    several that must all admit; default `AdmitAll()`). `similarity`: None reads exact
    keys only; a number in (0, 1] lets a read that misses fall back to the stored key
    most similar to the query (token-set Jaccard, at least that value; the earliest
    stored wins ties). `single_flight` and `wait_s`: see the module docstring. `scope`:
    "episode" (entries per episode) or "run" (shared across episodes).
    """

    def __init__(
        self,
        *,
        policy: AdmissionPolicy | Sequence[AdmissionPolicy] | None = None,
        name: str = "memory",
        similarity: float | None = None,
        single_flight: bool = False,
        wait_s: float = 60.0,
        scope: Literal["episode", "run"] = "episode",
    ):
        policies = [AdmitAll()] if policy is None else as_policies(policy)
        if not isinstance(name, str) or not name:
            raise UserError(f"SharedMemory: name must be a non-empty string, got {name!r}")
        if similarity is not None and not 0.0 < similarity <= 1.0:
            raise UserError(
                f"SharedMemory: similarity must be None (exact keys) or in (0, 1], "
                f"got {similarity!r}"
            )
        if not wait_s > 0:
            raise UserError(f"SharedMemory: wait_s must be > 0 seconds, got {wait_s!r}")
        if scope not in ("episode", "run"):
            raise UserError(f"SharedMemory: unknown scope {scope!r}; valid: episode, run")
        self.policies = policies
        self._name = name
        self.similarity = similarity
        self.single_flight = single_flight
        self.wait_s = wait_s
        self.scope = scope
        self._partitions: dict[str, _Partition] = {}

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"SharedMemory(name={self._name!r}, policy={self.policies!r}, scope={self.scope!r})"

    def _partition(self, ctx: Context) -> _Partition:
        key = ctx.episode_id if self.scope == "episode" else ""
        found = self._partitions.get(key)
        if found is None:
            found = self._partitions[key] = _Partition()
        return found

    def _lookup(self, entries: Mapping[str, MemoryEntry], query: str) -> MemoryEntry | None:
        found = entries.get(query)
        if found is not None or self.similarity is None or not entries:
            return found
        asked = _words(query)
        best, best_score = None, 0.0
        for key, entry in entries.items():
            words = _words(key)
            union = asked | words
            score = len(asked & words) / len(union) if union else 1.0
            if score > best_score:
                best, best_score = entry, score
        return best if best_score >= self.similarity else None

    async def read(
        self, query: str, ctx: Context, *, parent: int | None = None
    ) -> MemoryEntry | None:
        """The entry stored under `query` (or, with `similarity`, under the most similar
        key), or None; records a `memory_read` event under `parent` (default the turn).
        With `single_flight`, waits for a key another agent claimed (see the module)."""
        _check_key(query, f"memory {self._name!r}: read")
        part = self._partition(ctx)
        started = time.perf_counter()
        while True:
            entry = self._lookup(part.entries, query)
            if entry is not None or not self.single_flight:
                break
            claim = part.claims.get(query)
            now = time.monotonic()
            if claim is None or claim.owner == ctx.agent or claim.deadline <= now:
                if claim is not None:
                    claim.done.set()  # an expired claim: let its other waiters re-check
                part.claims[query] = _Claim(ctx.agent, asyncio.Event(), now + self.wait_s)
                break
            try:
                await asyncio.wait_for(claim.done.wait(), claim.deadline - now)
            except TimeoutError:
                pass
        ctx.emit(
            MemoryRead(
                key=query,
                value=None if entry is None else entry.value,
                hit=entry is not None,
                matched_key=None if entry is None else entry.key,
                writer=None if entry is None else entry.writer,
                memory=self._name,
            ),
            parent=ctx.turn_event if parent is None else parent,
            duration_s=time.perf_counter() - started if self.single_flight else 0.0,
        )
        return entry

    async def write(
        self, key: str, value: Any, ctx: Context, *, parent: int | None = None
    ) -> Admission:
        """Offer `value` (JSON data) under `key`; stores it if every policy admits it.
        Records a `memory_write` event (with the rejecting policy's reason) under
        `parent` (default the turn), and releases a claim on the key."""
        _check_key(key, f"memory {self._name!r}: write")
        value = _json_data(value, f"memory {self._name!r}: the value for {key!r}")
        part = self._partition(ctx)
        admission = Admission(True)
        for policy in self.policies:
            verdict = policy.admit(key, value, ctx.agent, _ReadOnly(part.entries))
            if verdict is not True:
                reason = verdict if isinstance(verdict, str) and verdict else ""
                admission = Admission(False, reason or f"rejected by {policy!r}")
                break
        if admission.admitted:
            part.entries.pop(key, None)  # a replaced key moves to the end
            part.entries[key] = MemoryEntry(key, value, ctx.agent)
        claim = part.claims.pop(key, None)
        if claim is not None:
            claim.done.set()
        ctx.emit(
            MemoryWrite(
                key=key,
                value=value,
                admitted=admission.admitted,
                reason=admission.reason,
                memory=self._name,
            ),
            parent=ctx.turn_event if parent is None else parent,
        )
        return admission

    def release(self, ctx: Context) -> None:
        """Drop the claims `ctx`'s agent holds (single flight), waking their waiters: its
        turn is over and it wrote nothing. `WithMemory` calls this when a turn ends."""
        part = self._partition(ctx)
        for key in [k for k, c in part.claims.items() if c.owner == ctx.agent]:
            part.claims.pop(key).done.set()

    def keys(self, ctx: Context | None = None) -> list[str]:
        """Keys stored, in insertion order: those of `ctx`'s episode when given (scope
        "episode"), else of every episode (each key once)."""
        if ctx is not None:
            return list(self._partition(ctx).entries)
        seen: dict[str, None] = {}
        for part in self._partitions.values():
            seen.update(dict.fromkeys(part.entries))
        return list(seen)

    def clear(self, episode_id: str | None = None) -> None:
        """Forget one episode's entries (scope "episode"), or everything."""
        if episode_id is None:
            self._partitions.clear()
        else:
            self._partitions.pop(episode_id, None)


class _ReadOnly(Mapping[str, MemoryEntry]):
    """The entries as a policy sees them: readable, not changeable."""

    __slots__ = ("_entries",)

    def __init__(self, entries: dict[str, MemoryEntry]):
        self._entries = entries

    def __getitem__(self, key: str) -> MemoryEntry:
        return self._entries[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def _check_key(key: object, where: str) -> None:
    if not isinstance(key, str) or not key.strip():
        raise UserError(f"{where}: keys must be non-empty strings, got {key!r}")


def _json_data(value: Any, where: str) -> Any:
    try:
        return from_json(to_json(value))
    except Exception as exc:
        raise UserError(f"{where} is not JSON data: {exc}") from exc


# -- tools for LLM members, and the boundary that gives them the agent's context ----------

_BOUND: ContextVar[Mapping[int, Context] | None] = ContextVar("palaestra_memory", default=None)


def _bound_context(memory: Memory) -> Context | None:
    bound = _BOUND.get()
    return None if bound is None else bound.get(id(memory))


class WithMemory:
    """Wraps an operator so that `memory`'s tools, called during its turns, record their
    events in its context (see the module docstring). Same interface as the operator;
    `fork()` forks the operator and keeps the memory (it is shared)."""

    def __init__(self, operator: Operator, memory: Memory):
        if not isinstance(operator, Operator):
            raise UserError(f"WithMemory wraps an operator (with `act`), got {operator!r}")
        if not isinstance(memory, Memory):
            raise UserError(f"WithMemory needs a Memory (read/write/keys), got {memory!r}")
        self.operator = operator
        self.memory = memory

    async def act(self, observation: Observation, ctx: Context) -> Action:
        bound = _BOUND.get() or {}
        token = _BOUND.set({**bound, id(self.memory): ctx})
        try:
            return await self.operator.act(observation, ctx)
        finally:
            _BOUND.reset(token)
            release = getattr(self.memory, "release", None)
            if callable(release):
                release(ctx)  # a claim left by a turn that wrote nothing

    def fork(self) -> WithMemory:
        return WithMemory(forked(self.operator), self.memory)

    def describe(self) -> str:
        return f"{described(self.operator)}+memory:{self.memory.name}"


class _MemoryTool(Tool):
    """A tool of a memory: refuses to run outside `WithMemory` (a user error)."""

    def __init__(self, memory: Memory, fn: Callable[..., Any], name: str):
        super().__init__(fn, name=name)
        self.memory = memory

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutcome:
        if _bound_context(self.memory) is None:
            raise UserError(
                f"tool {self.name!r} of memory {self.memory.name!r} was called outside "
                f"its agent's turn: wrap the operator that holds the tool in "
                f"WithMemory(operator, memory)"
            )
        return await super().call(arguments)


def memory_tools(
    memory: Memory, *, read_name: str = "memory_read", write_name: str = "memory_write"
) -> list[Tool]:
    """The `memory_read` and `memory_write` tools of `memory`, for an `LLMOperator`
    wrapped in `WithMemory(operator, memory)`. A miss and a rejected write are normal
    results for the model (not errors), worded so it knows what to do next."""

    def context() -> Context:
        ctx = _bound_context(memory)
        assert ctx is not None  # checked by _MemoryTool.call
        return ctx

    async def memory_read(key: str) -> str:
        """Read a result that you or another agent stored in the shared memory.

        Args:
            key: The key the result was stored under.
        """
        ctx = context()
        entry = await memory.read(key, ctx)
        if entry is None:
            stored = memory.keys(ctx)
            listed = ", ".join(repr(k) for k in stored[:20]) if stored else "none yet"
            return (
                f"No entry for {key!r} (stored keys: {listed}). Work it out yourself, "
                f"then store it with {write_name} so that others can reuse it."
            )
        value = entry.value if isinstance(entry.value, str) else json.dumps(entry.value)
        return f"Found {entry.key!r} (stored by {entry.writer}): {value}"

    async def memory_write(key: str, value: str) -> str:
        """Store a result in the shared memory so that other agents can reuse it.

        Args:
            key: A short key that names the result, for others to read it by.
            value: The result.
        """
        admission = await memory.write(key, value, context())
        if admission.admitted:
            return f"Stored {key!r}."
        return f"Not stored: {admission.reason}."

    return [
        _MemoryTool(memory, memory_read, read_name),
        _MemoryTool(memory, memory_write, write_name),
    ]
