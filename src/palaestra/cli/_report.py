"""`palaestra report RUN [RUN ...] -o report.html`: one self-contained HTML report
(`palaestra.eval.build_report`: tables, confidence intervals, inline SVG plots, Shapley
bars for a Shapley run, the paired comparison of two runs), and the summary as text.

`palaestra paired RUN_A [RUN_B] [--a X --b Y] [--by FIELD] [--metric success|score]`:
the paired comparison of two runs on the same tasks and seeds, or of two groups of one
run (by default its systems: `J@with` vs `J@without`).
"""

from __future__ import annotations

import argparse
from typing import Any

from palaestra.core import UserError


def add_report_parser(sub: Any, store_arg: Any) -> None:
    p = sub.add_parser("report", help="a self-contained HTML report of one or more runs")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run ids, unique prefixes, or 'last'")
    p.add_argument("-o", "--output", default="report.html", help="HTML file to write")
    p.add_argument(
        "--group-by",
        action="append",
        default=[],
        metavar="FIELD",
        help="also break each run down by FIELD (env, task, seed, epoch, system, "
        "params.NAME, operators.AGENT, ...); repeatable",
    )
    p.add_argument("--title", help="title of the report")
    p.add_argument(
        "--curve",
        action="append",
        default=[],
        metavar="PATH",
        help="add the learning curve of `palaestra train` (its curve.jsonl or checkpoint "
        "folder); repeatable",
    )
    store_arg(p)

    p = sub.add_parser(
        "paired", help="paired comparison of two runs, or two groups of one run, task by task"
    )
    p.add_argument("run_a", metavar="RUN_A")
    p.add_argument("run_b", metavar="RUN_B", nargs="?", help="omit to compare groups of RUN_A")
    p.add_argument("--by", default="system", help="group field splitting one run (default system)")
    p.add_argument("--a", dest="group_a", help="group of RUN_A taken as a")
    p.add_argument("--b", dest="group_b", help="group taken as b (of RUN_B, if given)")
    p.add_argument("--metric", choices=["success", "score"], default="success")
    store_arg(p)


def _records(store: Any, run_id: str, by: str, group: str | None) -> list[Any]:
    from palaestra.eval import episode_records, group_records

    records = episode_records(store, run_id)
    if group is None:
        return records
    groups = group_records(records, by)
    if group not in groups:
        raise UserError(
            f"run {run_id}: no episodes with {by} = {group!r}; present: {', '.join(groups)}"
        )
    return groups[group]


def cmd_paired(store: Any, args: argparse.Namespace) -> int:
    from palaestra.eval import episode_records, group_records, paired_compare

    run_a = store.resolve_run(args.run_a).run_id
    try:
        if args.run_b:
            run_b = store.resolve_run(args.run_b).run_id
            a = _records(store, run_a, args.by, args.group_a)
            b = _records(store, run_b, args.by, args.group_b)
            labels = (args.group_a or run_a, args.group_b or run_b)
        else:
            groups = group_records(episode_records(store, run_a), args.by)
            if args.group_a is None or args.group_b is None:
                if len(groups) != 2:
                    raise UserError(
                        f"run {run_a} has {len(groups)} groups by {args.by} "
                        f"({', '.join(groups)}); name two with --a and --b"
                    )
                names = list(groups)
                args.group_a = args.group_a or names[0]
                args.group_b = args.group_b or names[1]
            a = _records(store, run_a, args.by, args.group_a)
            b = _records(store, run_a, args.by, args.group_b)
            labels = (args.group_a, args.group_b)
        comparison = paired_compare(a, b, metric=args.metric, labels=labels)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    print(comparison.describe(), end="")
    return 0


def _curves(paths: list[str]) -> dict[str, list[tuple[float, float]]] | None:
    """Named (step, value) series from `palaestra train` curve files."""
    if not paths:
        return None
    from palaestra.train import learning_curves, read_curve

    out: dict[str, list[tuple[float, float]]] = {}
    for path in paths:
        prefix = f"{path}: " if len(paths) > 1 else ""
        for name, series in learning_curves(read_curve(path)).items():
            out[prefix + name] = series
    return out


def cmd_report(store: Any, args: argparse.Namespace) -> int:
    from palaestra.eval import GROUP_FIELDS, episode_records, metrics, metrics_table, write_report

    run_ids = [store.resolve_run(ref).run_id for ref in args.runs]
    try:
        path = write_report(
            store,
            run_ids,
            args.output,
            group_by=args.group_by,
            title=args.title,
            learning_curves=_curves(args.curve),
        )
    except ValueError as exc:
        raise UserError(f"{exc} (group fields: {', '.join(GROUP_FIELDS)})") from None
    for run_id in run_ids:
        records = episode_records(store, run_id)
        print(f"run {run_id}: {len(records)} finished episodes")
        if records:
            print(metrics_table(metrics(records, group_by="job")), end="")
    print(f"report written to {path}")
    return 0
