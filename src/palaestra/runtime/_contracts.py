"""Contracts as a run extension (`contracts`): the contracts a job runs under (the
experiment's `contracts:`, then the job's, by name; `palaestra.config.job_setting`),
checked online.

`OnlineMonitor` is what the extension's `on_event` calls on each appended event: it feeds the
event to a `palaestra.assurance.Monitor` (the same engine `palaestra check` uses
offline, so both give the same verdicts) and records a `contract_verdict` event right
after the event that first violates a contract (`parent` = that event). When the
episode ends, `finish` records the violations only the end can show and one passed
verdict for each contract that held, before `episode_end`. A violation of a contract
with `on_violation: end` sets `recorder.stopped_by`; the episode loop ends the episode
(reason `contract`) at its next check: after the agents' turns, before the actions reach
the environment, and before each step.

Cost: for an event no contract looks at, a dict lookup; otherwise the `Event` is built
without validation (`palaestra.core.trusted_event`: the payload is already typed, or
built from its parts when it was recorded `Encoded`) and shown to the contracts that
look at its kind.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from palaestra.assurance import SKIPPED_KINDS, Contract, Monitor, Verdict, build_contracts
from palaestra.core import ContractVerdict, Encoded, Payload, trusted_event
from palaestra.runtime._extensions import (
    EpisodeRun,
    ExtensionContext,
    RunExtension,
    register_extension,
)

if TYPE_CHECKING:
    from palaestra.runtime._recorder import EpisodeRecorder


class OnlineMonitor:
    """Checks contracts as one episode's events are recorded (see the module docstring)."""

    __slots__ = ("monitor", "recorder", "_wanted")

    def __init__(self, contracts: Sequence[Contract], recorder: EpisodeRecorder):
        self.monitor = Monitor(contracts, recorder.episode_id)
        self.recorder = recorder
        self._wanted: dict[str, bool] = {}

    def on_append(
        self,
        seq: int,
        step: int,
        agent: str,
        payload: Payload | Encoded,
        parent: int | None,
        when: float,
    ) -> None:
        """Called by the recorder after it appended an event."""
        kind = payload.kind
        wanted = self._wanted.get(kind)
        if wanted is None:
            wanted = self._wanted[kind] = kind not in SKIPPED_KINDS and self.monitor.wants(kind)
        if not wanted:
            return
        typed = payload.decode() if isinstance(payload, Encoded) else payload
        event = trusted_event(self.recorder.episode_id, seq, step, agent, kind, parent, typed, when)
        monitor = self.monitor
        monitor.feed(event)
        if monitor._new:
            self._wanted.clear()  # a failed contract no longer looks at events
            self._record(monitor.take_new(), step)

    def _record(self, verdicts: list[Verdict], step: int) -> None:
        rec = self.recorder
        for verdict in verdicts:
            rec.emit(
                step,
                "env",
                ContractVerdict(
                    contract=verdict.contract,
                    passed=verdict.passed,
                    first_violation=verdict.seq,
                    detail=verdict.detail,
                    step=verdict.step,
                    agent=verdict.agent,
                ),
                parent=verdict.seq,
            )
        stop = self.monitor.stop
        if stop is not None and rec.stopped_by is None:
            rec.stopped_by = (
                f"contract {stop.contract!r} violated at seq {stop.seq} "
                f"(on_violation: end): {stop.detail}"
            )

    def finish(self, step: int) -> list[Verdict]:
        """The episode is over: record end-of-episode violations, then a passed verdict
        per contract that held; returns every contract's verdict."""
        monitor = self.monitor
        monitor.finish()
        self._record(monitor.take_new(), step)
        verdicts = monitor.verdicts()
        self._record([v for v in verdicts if v.passed], step)
        return verdicts


class ContractsExtension(RunExtension):
    """Checks `contracts` online on every episode (see the module docstring)."""

    def __init__(self, contracts: Sequence[Contract]):
        self.contracts = list(contracts)

    def on_episode_start(self, episode: EpisodeRun) -> None:
        episode.state[self] = OnlineMonitor(self.contracts, episode.recorder)

    def on_event(
        self,
        episode: EpisodeRun,
        seq: int,
        step: int,
        agent: str,
        payload: Payload | Encoded,
        parent: int | None,
        when: float,
    ) -> None:
        episode.state[self].on_append(seq, step, agent, payload, parent, when)

    async def on_episode_end(self, episode: EpisodeRun) -> None:
        """End-of-episode and passed verdicts, before the scorers and `episode_end`."""
        episode.state[self].finish(episode.step)


@register_extension("contracts")
def contracts(context: ExtensionContext, options: dict[str, Any]) -> ContractsExtension | None:
    """The job's contracts as an extension; None without any."""
    built = build_contracts(context.setting("contracts"))
    return ContractsExtension(built) if built else None
