"""The episode recorder and the per-turn agent context.

Agents of one step act concurrently, so the order in which their events are produced
depends on scheduling. To keep logs identical run after run, each agent's turn writes
into its own buffer (`AgentContext`); when the step's turns are over the recorder
appends the buffers in agent order and gives the events their dense `seq`. Handles
returned by `emit` inside a turn are negative until then and are mapped to seqs at flush.

This is the hot path of every run, so each event is serialised once and no `Event`
object is built: `palaestra.core.EpisodeEncoder` writes its text from its parts (the
runtime's own observations and actions come `Encoded`), exactly `Event.to_json()`. Its
prefix without the wall-clock fields feeds the running hash; the whole text goes to the
store. Nothing is kept once handed over, so a long episode costs no memory and the
garbage collector has little to walk.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from palaestra.core import (
    Encoded,
    EpisodeEncoder,
    EpisodeHasher,
    EventRow,
    PalaestraError,
    Payload,
    Usage,
    derive_rng,
    row_event,
)

__all__ = ["AgentContext", "BudgetExceeded", "EpisodeRecorder", "EventRow", "row_event"]


class BudgetExceeded(PalaestraError):
    """An episode budget (tokens or wall time) ran out; the episode ends with reason
    `budget`."""


class EpisodeRecorder:
    """Owns one episode's log: dense seqs, the running hash, usage, per-agent rngs."""

    def __init__(
        self,
        episode_id: str,
        *,
        run_seed: int,
        max_tokens: int | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.episode_id = episode_id
        self.run_seed = run_seed
        self.max_tokens = max_tokens
        self.clock = clock
        self.count = 0
        """Events recorded so far (the next seq)."""
        self.input_tokens = 0
        self.output_tokens = 0
        self.cached_tokens = 0
        self.cost_usd = 0.0
        self._hasher = EpisodeHasher()
        self._hashable: list[str] = []
        """Events' hashed forms (without the closing brace) not yet fed to the digest:
        fed a step at a time, one join and one encode for all of them."""
        self._pending: list[EventRow] = []
        self._rngs: dict[tuple[str, str], random.Random] = {}
        self._encoder = EpisodeEncoder(episode_id)
        self.monitor: Any = None
        """Called on each appended event (`runtime._contracts.OnlineMonitor`), if set."""
        self.stopped_by: str | None = None
        """Why a contract with `on_violation: end` ends the episode (set by the monitor)."""

    @property
    def usage(self) -> Usage:
        """Token usage of the episode so far."""
        return Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cached_tokens=self.cached_tokens,
            cost_usd=self.cost_usd,
        )

    def _append(
        self,
        step: int,
        agent: str,
        payload: Payload | Encoded,
        parent: int | None,
        when: float,
        duration_s: float,
    ) -> int:
        seq = self.count
        kind = payload.kind
        encoder = self._encoder
        hashable = encoder.hashable(seq, step, agent, kind, parent, payload)
        self._hashable.append(hashable)
        text = encoder.close(hashable, when, duration_s)

        self._pending.append((self.episode_id, seq, kind, agent, step, text))
        self.count = seq + 1
        if self.monitor is not None:
            self.monitor.on_append(seq, step, agent, payload, parent, when)
        return seq

    def emit(
        self,
        step: int,
        agent: str,
        payload: Payload | Encoded,
        *,
        parent: int | None = None,
        duration_s: float = 0.0,
    ) -> int:
        """Append an event now; returns its seq."""
        return self._append(step, agent, payload, parent, self.clock(), duration_s)

    def rng(self, agent: str, purpose: str) -> random.Random:
        """The episode-long generator of (run seed, episode, agent, purpose)."""
        key = (agent, purpose)
        found = self._rngs.get(key)
        if found is None:
            found = self._rngs[key] = derive_rng(self.run_seed, self.episode_id, agent, purpose)
        return found

    def add_usage(self, usage: Usage) -> None:
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cached_tokens += usage.cached_tokens
        self.cost_usd += usage.cost_usd
        total = self.input_tokens + self.output_tokens
        if self.max_tokens is not None and total > self.max_tokens:
            raise BudgetExceeded(
                f"token budget exceeded: {total} > {self.max_tokens} (limits.max_tokens)"
            )

    def flush_turn(self, turn: AgentContext) -> None:
        """Append a finished turn's buffered events in order (a child context's events
        where it was created), mapping the turn's local handles to seqs."""
        self._flush(turn, {})

    def _flush(self, turn: AgentContext, mapping: dict[int, int]) -> None:
        step, agent, append = turn.step, turn.agent, self._append
        for entry in turn.buffer:
            if type(entry) is AgentContext:
                self._flush(entry, mapping)
                continue
            payload, parent, when, duration_s, handle = entry  # type: ignore[misc]
            if parent is not None and parent < 0:
                found = mapping.get(parent)
                if found is None:
                    raise RuntimeError(
                        f"agent {agent!r}: a {payload.kind} event names as parent an event "
                        "recorded after it (create a child context after the event it "
                        "hangs under)"
                    )
                parent = found
            mapping[handle] = append(step, agent, payload, parent, when, duration_s)
        turn.buffer.clear()

    def drain(self) -> list[EventRow]:
        """Events recorded since the last drain, as store rows."""
        self._feed_hash()
        rows, self._pending = self._pending, []
        return rows

    def _feed_hash(self) -> None:
        """Feed the waiting events to the digest."""
        parts = self._hashable
        if parts:
            self._hasher.update_hashables(parts)
            parts.clear()

    def hexdigest(self) -> str:
        self._feed_hash()
        return self._hasher.hexdigest()


class AgentContext:
    """What one agent sees during one turn; implements `palaestra.core.Context`.

    Events wait in `buffer` until the step's turns are over. Handles are negative serials
    shared by the turn and its child contexts (`_serial` holds the last one), so an event
    of a child may hang under one of its parent's and the other way round.
    """

    __slots__ = ("recorder", "agent", "step", "turn_event", "buffer", "_serial")

    def __init__(
        self,
        recorder: EpisodeRecorder,
        agent: str,
        step: int,
        turn_event: int,
        _serial: list[int] | None = None,
    ):
        self.recorder = recorder
        self.agent = agent
        self.step = step
        self.turn_event = turn_event
        self.buffer: list[tuple[Payload, int | None, float, float, int] | AgentContext] = []
        self._serial = _serial if _serial is not None else [0]

    @property
    def episode_id(self) -> str:
        return self.recorder.episode_id

    def rng(self, purpose: str) -> random.Random:
        return self.recorder.rng(self.agent, purpose)

    def emit(self, payload: Payload, *, parent: int | None = None, duration_s: float = 0.0) -> int:
        serial = self._serial
        handle = serial[0] = serial[0] - 1
        self.buffer.append((payload, parent, self.recorder.clock(), duration_s, handle))
        return handle

    def add_usage(self, usage: Usage) -> None:
        self.recorder.add_usage(usage)

    def child(self, name: str, *, parent: int | None = None) -> AgentContext:
        """A context for the internal agent `{agent}/{name}`; see `Context.child`."""
        if not name or "/" in name:
            raise ValueError(f"child context names must be non-empty without '/', got {name!r}")
        turn_event = self.turn_event if parent is None else parent
        child = AgentContext(
            self.recorder, f"{self.agent}/{name}", self.step, turn_event, self._serial
        )
        self.buffer.append(child)
        return child
