"""Contracts in the runtime: the contracts a job runs under, checked online.

`OnlineMonitor` is what the `EpisodeRecorder` calls on each appended event: it feeds the
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from palaestra.assurance import Contract, ContractSpec, Monitor, Verdict, build_contracts
from palaestra.assurance._contracts import SKIPPED_KINDS
from palaestra.core import ConfigError, ContractVerdict, Encoded, Payload, trusted_event

if TYPE_CHECKING:
    from palaestra.runtime._experiment import Experiment, Job
    from palaestra.runtime._recorder import EpisodeRecorder


def job_contract_specs(experiment: Experiment, job: Job) -> list[ContractSpec]:
    """The entries a job runs under: the experiment's `contracts:`, then the job's own
    (a job entry with the name of an experiment entry replaces it)."""
    return merge_specs(experiment.contracts, job.contracts or [])


def merge_specs(top: Sequence[ContractSpec], own: Sequence[ContractSpec]) -> list[ContractSpec]:
    """`top`'s entries then `own`'s, an entry of `own` replacing one of the same name."""
    names = {_spec_name(s) for s in own}
    return [s for s in top if _spec_name(s) not in names] + list(own)


def _spec_name(spec: ContractSpec) -> str:
    return spec.name or spec.use or spec.python or ""


def job_contracts(experiment: Experiment, job: Job) -> list[Contract]:
    """The contracts of `job`, built (see `job_contract_specs`)."""
    return build_contracts(job_contract_specs(experiment, job))


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


def load_contracts_file(path: str | Path) -> list[ContractSpec]:
    """Contract entries from a YAML file: a mapping with a `contracts:` list (an
    experiment file works too) or the list itself. Errors name the file and line."""
    from pydantic import TypeAdapter

    from palaestra.runtime._yaml import format_validation_error, load_yaml_file

    path = Path(path)
    data, lines = load_yaml_file(path, what="contracts file", expected="a `contracts:` list")
    prefix: tuple[str, ...] = ()
    if isinstance(data, dict) and "contracts" in data:
        data, prefix = data["contracts"], ("contracts",)
    if not isinstance(data, list):
        raise ConfigError(
            f"{path}:1: expected a `contracts:` list (or a list of contract entries), "
            f"got {type(data).__name__}"
        )
    shifted: dict[Any, int] = {
        loc[len(prefix) :]: line for loc, line in lines.items() if loc[: len(prefix)] == prefix
    }
    try:
        return TypeAdapter(list[ContractSpec]).validate_python(data)
    except ValidationError as exc:
        message = format_validation_error(exc, source=str(path), lines=shifted)
        if prefix:  # name the fields as they are in the file
            message = "\n".join(
                line.replace(": ", ": contracts.", 1) if line.startswith(str(path)) else line
                for line in message.splitlines()
            )
        raise ConfigError(message) from None
