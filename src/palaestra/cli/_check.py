"""`palaestra check RUN [--contracts FILE]`: stored logs against contracts, offline.

Without `--contracts`, a run is checked against its own contracts, the `contracts:` of
the experiment it was run with (a job's own entries for that job's episodes); with it,
against the entries of FILE (a YAML file with a `contracts:` list, e.g. an experiment),
for every episode. The verdicts are those the online check gives on the same log.

Exit status: 0 when every contract holds on every episode, 1 when any is violated, 2 for
a user error (no such run, a bad contracts file, a run recorded without contracts and
no `--contracts`).

`palaestra show RUN EPISODE --at SEQ` (or `--violation CONTRACT`) shows one event in
context: its chain of parents, and the events around it.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from palaestra.core import UserError

if TYPE_CHECKING:
    from palaestra.core import Event


def add_check_parser(sub: Any, store_arg: Any) -> None:
    p = sub.add_parser(
        "check",
        help="check a run's stored logs against contracts (exit 1 on any violation)",
    )
    p.add_argument("run", help="run id, a unique prefix, or 'last'")
    p.add_argument(
        "--contracts",
        metavar="FILE",
        help="YAML file with a `contracts:` list (default: the run's own contracts)",
    )
    p.add_argument("--episode", help="check only this episode (id or unique prefix)")
    store_arg(p)
    p.add_argument("--json", action="store_true", help="the report as JSON")


def add_show_options(p: argparse.ArgumentParser) -> None:
    """`palaestra show` options that jump to one event of an episode."""
    p.add_argument("--at", type=int, metavar="SEQ", help="show the events around this seq")
    p.add_argument(
        "--violation",
        metavar="CONTRACT",
        help="show the first event violating this contract (from its contract_verdict)",
    )
    p.add_argument(
        "--context", type=int, default=3, metavar="N", help="events before and after (3)"
    )


def cmd_check(store: Any, args: argparse.Namespace, resolve_episode: Any) -> int:
    from palaestra.assurance import build_contracts, check_run

    run = store.resolve_run(args.run)
    if args.contracts:
        from palaestra.runtime._contracts import load_contracts_file

        contracts = build_contracts(load_contracts_file(args.contracts))
        per_job = None
        source = args.contracts
    else:
        contracts, per_job = run_contracts(run.experiment, run.run_id)
        source = f"the contracts of run {run.run_id}"
    episodes = [resolve_episode(store, run.run_id, args.episode)] if args.episode else None
    report = check_run(store, run.run_id, contracts, per_job=per_job, episodes=episodes)
    if args.json:
        print(json.dumps({"source": source, **report.to_json()}, indent=2))
    else:
        print(f"checking against {source}")
        print(report.table())
        failed = sum(not c.passed for c in report.contracts)
        print(
            "all contracts hold"
            if report.passed
            else f"{failed} of {len(report.contracts)} contracts violated; jump to one: "
            f"palaestra show {run.run_id} EPISODE --violation CONTRACT"
        )
    return 0 if report.passed else 1


def run_contracts(experiment: dict[str, Any], run_id: str) -> tuple[list[Any], dict[str, Any]]:
    """The contracts a run was recorded with: the experiment's, and each job's set."""
    from pydantic import TypeAdapter, ValidationError

    from palaestra.assurance import ContractSpec
    from palaestra.runtime._contracts import merge_specs

    adapter = TypeAdapter(list[ContractSpec])
    try:
        top = adapter.validate_python(experiment.get("contracts") or [])
        jobs = {
            str(job.get("label")): adapter.validate_python(job.get("contracts") or [])
            for job in experiment.get("jobs", [])
            if isinstance(job, dict) and job.get("contracts")
        }
    except (ValidationError, ValueError) as exc:
        raise UserError(f"run {run_id!r}: its contracts cannot be built here: {exc}") from None
    if not top and not jobs:
        raise UserError(
            f"run {run_id!r} was run without contracts; pass --contracts FILE (a YAML file "
            "with a `contracts:` list)"
        )
    from palaestra.assurance import build_contracts

    per_job = {label: build_contracts(merge_specs(top, own)) for label, own in jobs.items()}
    return build_contracts(top), per_job


def show_event(events: list[Event], args: argparse.Namespace) -> str:
    """One event in context: the chain of its parents, then `--context` events before
    and after it, the event itself marked."""
    from palaestra.cli._render import event_summary, timeline
    from palaestra.core import EpisodeLog

    if args.violation:
        verdicts = [
            e
            for e in events
            if e.kind == "contract_verdict" and e.payload.contract == args.violation  # type: ignore[attr-defined]
        ]
        failed = [v for v in verdicts if not v.payload.passed]  # type: ignore[attr-defined]
        if not failed:
            known = sorted(
                {e.payload.contract for e in events if e.kind == "contract_verdict"}  # type: ignore[attr-defined]
            )
            state = "holds" if verdicts else "is not checked"
            raise UserError(
                f"contract {args.violation!r} {state} in this episode; its log has verdicts "
                f"for: {', '.join(known) or 'none'}"
            )
        verdict: Any = failed[0].payload
        seq = verdict.first_violation if verdict.first_violation is not None else failed[0].seq
        header = f"contract {verdict.contract!r} violated at seq {seq}: {verdict.detail}"
    else:
        seq = args.at
        header = f"event {seq}"
    if not 0 <= seq < len(events):
        raise UserError(f"--at {seq}: the episode has events 0..{len(events) - 1}")
    target = events[seq]
    chain = list(EpisodeLog(events).ancestors(target))
    lines = [header, "parents:"]
    for event in reversed(chain):
        lines.append(f"  {event.seq:>5} {event.agent} {event.kind}: {event_summary(event)}")
    if not chain:
        lines.append("  (none: a top-level event)")
    lines.append("around it:")
    lo, hi = max(0, seq - args.context), min(len(events), seq + args.context + 1)
    for line, event in zip(timeline(events[lo:hi]).splitlines(), events[lo:hi], strict=True):
        lines.append((">> " if event.seq == seq else "   ") + line)
    lines.append(
        f"the event in full:\n{json.dumps(target.payload.model_dump(mode='json'), indent=2)}"
    )
    return "\n".join(lines)
