"""`Monitor`: checks a set of contracts over one episode, event by event.

The one engine behind online checking (the runtime feeds it as events are recorded and
records a `contract_verdict` at each first violation) and offline checking
(`check_episode` feeds it a stored log), so both give the same verdicts.

Cost per event: one dict lookup of the contracts that look at the event's kind; a
contract that has failed is not checked again (a verdict names its first violation
only). `wants(kind)` tells a caller whether building the `Event` is needed at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from palaestra.assurance._contracts import (
    SKIPPED_KINDS,
    Contract,
    EpisodeView,
    Verdict,
    Violation,
    as_violation,
)
from palaestra.core import Event


class Monitor:
    """Checks `contracts` over one episode: `feed` each event in seq order (leaving out
    `contract_verdict` and `episode_end`), then `finish`; `verdicts()` gives one
    verdict per contract."""

    def __init__(self, contracts: Sequence[Contract], episode_id: str = ""):
        names = [c.name for c in contracts]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"two contracts are named {twice[0]!r}; give each its own `name`")
        self.contracts = list(contracts)
        self.view = EpisodeView(episode_id)
        self._checks = [c.start() for c in self.contracts]
        self._keep = any(c.history for c in self.contracts)
        self._failed: dict[int, Verdict] = {}
        self._new: list[Verdict] = []
        self._by_kind: dict[str, list[tuple[int, Any]]] = {}
        self.finished = False
        self.stop: Verdict | None = None
        """The first violation of a contract with `on_violation: end`, if any."""

    def _indices(self, kind: str) -> list[tuple[int, Any]]:
        found = self._by_kind.get(kind)
        if found is None:
            found = self._by_kind[kind] = [
                (i, self._checks[i].check)
                for i, c in enumerate(self.contracts)
                if i not in self._failed and (c.kinds is None or kind in c.kinds)
            ]
        return found

    def wants(self, kind: str) -> bool:
        """Whether an event of `kind` must be fed (some contract looks at it)."""
        return self._keep or kind == "episode_start" or bool(self._indices(kind))

    def feed(self, event: Event) -> None:
        """Check one event (the view holds the events before it)."""
        view = self.view
        view.last = event
        if event.kind == "episode_start":
            view.start = event.payload  # type: ignore[assignment]
        for index, check in self._indices(event.kind):
            try:
                result = check(event, view)
            except Exception as exc:  # a broken check fails its contract, not the run
                result = _raised(exc)
            if result is None or result is True:
                continue
            if index not in self._failed:
                self._fail(index, as_violation(result, self.contracts[index].name), event)
        if self._keep:
            view.events.append(event)

    def finish(self) -> None:
        """The episode is over: run each contract's end-of-episode check."""
        if self.finished:
            return
        self.finished = True
        for index, contract in enumerate(self.contracts):
            if index in self._failed:
                continue
            try:
                found = as_violation(self._checks[index].finish(self.view), contract.name)
            except Exception as exc:
                found = _raised(exc)
            if found is not None:
                self._fail(index, found, self.view.last)

    def _fail(self, index: int, found: Violation | None, current: Event | None) -> None:
        assert found is not None
        seq, step, agent = found.seq, found.step, found.agent
        if seq is None and current is not None:
            seq, step, agent = current.seq, current.step, current.agent
        elif seq is not None and (step is None or agent is None):
            blamed = self._event(seq)
            if blamed is not None:
                step = blamed.step if step is None else step
                agent = blamed.agent if agent is None else agent
        contract = self.contracts[index]
        verdict = Verdict(
            contract.name,
            False,
            self.view.episode_id,
            seq=seq,
            step=step,
            agent=agent,
            detail=found.detail,
        )
        self._failed[index] = verdict
        self._new.append(verdict)
        self._by_kind.clear()  # a failed contract is not checked again
        if contract.on_violation == "end" and self.stop is None:
            self.stop = verdict

    def _event(self, seq: int) -> Event | None:
        events = self.view.events
        if 0 <= seq < len(events) and events[seq].seq == seq:
            return events[seq]
        return next((e for e in events if e.seq == seq), None)

    def take_new(self) -> list[Verdict]:
        """Violations found since the last call (for the online monitor to record)."""
        new, self._new = self._new, []
        return new

    def verdicts(self) -> list[Verdict]:
        """One verdict per contract, in order; passed ones for those not violated."""
        return [
            self._failed.get(i) or Verdict(c.name, True, self.view.episode_id)
            for i, c in enumerate(self.contracts)
        ]


def _raised(exc: Exception) -> Violation:
    return Violation(
        f"the contract's check raised {type(exc).__name__}: {exc} (fix the contract; the "
        "event it raised on is blamed)"
    )


def check_episode(events: Sequence[Event], contracts: Sequence[Contract]) -> list[Verdict]:
    """Check one episode's log (stored or in memory) against `contracts`: one verdict
    per contract, in order, the same an online check of the same log gives."""
    episode_id = events[0].episode_id if events else ""
    monitor = Monitor(contracts, episode_id)
    for event in events:
        if event.kind not in SKIPPED_KINDS:
            monitor.feed(event)
    monitor.finish()
    return monitor.verdicts()
