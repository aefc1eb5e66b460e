"""`palaestra doctor STORE [--recover OUT]`: check a store file; recover a damaged one.

Prints SQLite's integrity check per table (rows readable, rows lost, problems), the
runs left `running` by a process that is gone (marked `interrupted` in a sound file)
and, with `--recover OUT`, what was copied into the new store OUT: rows recovered and
lost per table, episodes that lost events (marked running there, so that `palaestra run
... --store OUT --run-id RUN` runs them again). `--json` prints the same as one JSON
object. Exit status 0 for a sound file, 1 when problems were found (whether or not they
were recovered), 2 for a usage error. See docs/store.md.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_doctor_parser(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check a store file; recover what a damaged one holds")
    p.add_argument("store", help="the store file (.db) to check")
    p.add_argument(
        "--recover",
        metavar="OUT",
        help="copy what can be read into the new store OUT (which must not exist)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object")


def cmd_doctor(args: argparse.Namespace) -> int:
    from palaestra.store import check_store, recover_store

    report = recover_store(args.store, args.recover) if args.recover else check_store(args.store)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0 if report.healthy else 1
    print(f"store {report.path}: {'sound' if report.healthy else 'DAMAGED'}")
    for name, table in report.tables.items():
        line = f"  {name:<20} {table.readable:>9} rows readable"
        if table.lost:
            line += f", {table.lost} lost"
        print(line)
        for problem in table.problems[:5]:
            print(f"    {problem}")
        if len(table.problems) > 5:
            print(f"    ... and {len(table.problems) - 5} more")
    unplaced = [
        p for p in report.problems if not any(p in t.problems for t in report.tables.values())
    ]
    for problem in unplaced[:10]:
        print(f"  {problem}")
    for note in report.notes:
        print(f"  {note}")
    if report.dead_leases:
        print(
            "  leases left by processes that are gone: "
            + ", ".join(f"{lease.run_id} ({lease.describe()})" for lease in report.dead_leases)
        )
    if report.incomplete:
        shown = ", ".join(f"{run}:{episode}" for run, episode in report.incomplete[:10])
        more = f" and {len(report.incomplete) - 10} more" if len(report.incomplete) > 10 else ""
        what = "lost" if report.recovered_to is not None else "miss"
        where = " (marked running in the copy)" if report.recovered_to is not None else ""
        print(
            f"  {len(report.incomplete)} finished episodes {what} {report.missing_events} "
            f"events{where}: {shown}{more}"
        )
    if report.recovered_to is not None:
        print(f"recovered into {report.recovered_to}")
        for run_id in report.interrupted:
            print(
                f"  run {run_id} marked interrupted; resume it with `palaestra run EXPERIMENT "
                f"--store {report.recovered_to} --run-id {run_id}`"
            )
    elif not report.healthy:
        print(f"recover what can be read: palaestra doctor {report.path} --recover NEW.db")
    return 0 if report.healthy else 1
