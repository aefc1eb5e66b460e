"""The episode recorder and the per-turn agent context.

Agents of one step act concurrently, so the order in which their events are produced
depends on scheduling. To keep logs identical run after run, each agent's turn writes
into its own buffer (`AgentContext`); when the step's turns are over the recorder
appends the buffers in agent order and gives the events their dense `seq`. Handles
returned by `emit` inside a turn are negative until then and are mapped to seqs at flush.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from palaestra.core import (
    EpisodeHasher,
    Event,
    PalaestraError,
    Payload,
    Usage,
    derive_rng,
)


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
        self.events: list[Event] = []
        self.usage = Usage()
        self._hasher = EpisodeHasher()
        self._drained = 0
        self._rngs: dict[tuple[str, str], random.Random] = {}

    def emit(self, step: int, agent: str, payload: Payload, *, parent: int | None = None) -> int:
        """Append an event now; returns its seq."""
        seq = len(self.events)
        event = Event(
            episode_id=self.episode_id,
            seq=seq,
            step=step,
            agent=agent,
            kind=payload.kind,
            parent=parent,
            time=self.clock(),
            payload=payload,
        )
        self.events.append(event)
        self._hasher.update(event)
        return seq

    def rng(self, agent: str, purpose: str) -> random.Random:
        """The episode-long generator of (run seed, episode, agent, purpose)."""
        key = (agent, purpose)
        found = self._rngs.get(key)
        if found is None:
            found = self._rngs[key] = derive_rng(self.run_seed, self.episode_id, agent, purpose)
        return found

    def add_usage(self, usage: Usage) -> None:
        self.usage = self.usage + usage
        if self.max_tokens is not None and self.usage.total_tokens > self.max_tokens:
            raise BudgetExceeded(
                f"token budget exceeded: {self.usage.total_tokens} > {self.max_tokens} "
                "(limits.max_tokens)"
            )

    def flush_turn(self, turn: AgentContext) -> None:
        """Append a finished turn's buffered events in order, mapping local handles."""
        mapping: list[int] = []
        for payload, parent, when in turn.buffer:
            if parent is not None and parent < 0:
                parent = mapping[-parent - 1]
            seq = len(self.events)
            event = Event(
                episode_id=self.episode_id,
                seq=seq,
                step=turn.step,
                agent=turn.agent,
                kind=payload.kind,
                parent=parent,
                time=when,
                payload=payload,
            )
            self.events.append(event)
            self._hasher.update(event)
            mapping.append(seq)
        turn.buffer.clear()

    def drain(self) -> list[Event]:
        """Events recorded since the last drain (to hand to the store)."""
        out = self.events[self._drained :]
        self._drained = len(self.events)
        return out

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()


class AgentContext:
    """What one agent sees during one turn; implements `palaestra.core.Context`."""

    __slots__ = ("recorder", "agent", "step", "turn_event", "buffer")

    def __init__(self, recorder: EpisodeRecorder, agent: str, step: int, turn_event: int):
        self.recorder = recorder
        self.agent = agent
        self.step = step
        self.turn_event = turn_event
        self.buffer: list[tuple[Payload, int | None, float]] = []

    @property
    def episode_id(self) -> str:
        return self.recorder.episode_id

    def rng(self, purpose: str) -> random.Random:
        return self.recorder.rng(self.agent, purpose)

    def emit(self, payload: Payload, *, parent: int | None = None) -> int:
        self.buffer.append((payload, parent, self.recorder.clock()))
        return -len(self.buffer)

    def add_usage(self, usage: Usage) -> None:
        self.recorder.add_usage(usage)
