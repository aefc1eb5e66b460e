"""`palaestra stress EXPERIMENT.yaml --budget N`: search fault plans for the smallest
counterexample (an episode that succeeds without faults and fails, or breaks a
contract, with them), print it as a `faults:` plan and the commands that reproduce it.

Exit status: 0 when no counterexample was found within the budget, 1 when one was.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def add_stress_parser(sub: Any, store_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    p = sub.add_parser(
        "stress",
        help="search fault plans for the smallest counterexample; print how to reproduce it",
    )
    p.add_argument("experiment", help="experiment YAML file")
    p.add_argument("--budget", type=int, required=True, help="episodes to run in all")
    p.add_argument("--seed", type=int, default=0, help="seed of the search (default 0)")
    p.add_argument(
        "--contracts", help="contracts file: a violated contract also counts as a counterexample"
    )
    p.add_argument(
        "--out",
        help="folder for faults.yaml and counterexample.yaml (default: next to the store, "
        "stress/<id>)",
    )
    store_arg(p)


def _contracts_check(path: str) -> Any:
    """A check of each episode's events against the contracts of `path` (the format of
    `palaestra check --contracts`)."""
    from palaestra.assurance import build_contracts, check_episode
    from palaestra.config import load_contracts_file
    from palaestra.studies import StressViolation

    contracts = build_contracts(load_contracts_file(path))

    def run_check(events: list[Any]) -> Any:
        for verdict in check_episode(events, contracts):
            if not verdict.passed:
                return StressViolation(
                    verdict.episode_id,
                    f"contract:{verdict.contract}",
                    f"contract {verdict.contract!r} violated at seq {verdict.seq} "
                    f"(step {verdict.step}, agent {verdict.agent}): {verdict.detail}",
                    verdict.seq,
                )
        return None

    return run_check


def cmd_stress(args: argparse.Namespace) -> int:
    from palaestra.runtime import default_store_path
    from palaestra.studies import stress

    check = _contracts_check(args.contracts) if args.contracts else None
    store = Path(args.store) if args.store else default_store_path()
    report = stress(args.experiment, budget=args.budget, seed=args.seed, store=store, check=check)
    held = sum(report.baseline.values())
    print(
        f"stress {report.stress_id}: {report.used} of {report.budget} episodes "
        f"({report.wall_s:.1f} s); baseline {held}/{len(report.baseline)} episodes hold "
        "without faults"
    )
    if report.smallest is None or report.found is None:
        if not held:
            print("no episode holds without faults: there is nothing for faults to break")
        else:
            print(f"no counterexample found in {report.trials} trials")
        return 0
    found, smallest = report.found, report.smallest
    print(
        f"counterexample found at trial {report.trials} ({found.episode.episode_id}, "
        f"{len(found.plan.rules)} rules, {found.fired} faults injected); shrunk in "
        f"{report.shrink_steps} steps to {len(smallest.plan.rules)} rules, "
        f"{smallest.fired} faults injected:"
    )
    print()
    print(report.plan_yaml(), end="")
    print()
    print(f"episode:   {smallest.episode.episode_id}")
    print(f"violation: {smallest.violation.description}")
    if smallest.violation.first_event is not None:
        print(f"first event: seq {smallest.violation.first_event}")
    out = Path(args.out) if args.out else store.parent / "stress" / report.stress_id
    files = report.write(out)
    print(f"written: {files['faults']} and {files['experiment']}")
    print("reproduce:")
    for line in report.commands(files, args.experiment):
        print(f"  {line}")
    return 1
