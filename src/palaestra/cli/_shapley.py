"""`palaestra shapley EXPERIMENT [--samples N] [--banzhaf]`: Shapley attribution of the
modules under the experiment's `shapley:` block (docs/metrics.md).

Every coalition the method needs runs as its own jobs of one run (`J@S=a+b`; see
`palaestra.studies.run_shapley`); the command prints v of each coalition, the Shapley
values with their efficiency check, and the Banzhaf indices with `--banzhaf` (labelled
as such). The same `--run-id` resumes; `palaestra report RUN` draws the bars.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_shapley_parser(sub: Any, store_arg: Any) -> None:
    p = sub.add_parser(
        "shapley",
        help="Shapley attribution: run every combination of the `shapley:` modules; values",
    )
    p.add_argument("experiment", help="experiment YAML file with a `shapley:` block")
    p.add_argument(
        "--samples",
        type=int,
        help="estimate from N random permutations (seeded by the run seed) instead of "
        "all 2^n combinations",
    )
    p.add_argument(
        "--banzhaf", action="store_true", help="also report the Banzhaf index (not efficient)"
    )
    p.add_argument("--run-id", help="name the run; an existing id resumes it")
    store_arg(p)
    p.add_argument("--model", help="model spec for every LLM operator, e.g. openai:gpt-4o-mini")
    p.add_argument("--base-url", help="OpenAI-compatible server URL for --model")
    p.add_argument("--concurrency", type=int, help="episodes in flight")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_shapley(args: argparse.Namespace) -> int:
    from palaestra.studies import run_shapley

    outcome = run_shapley(
        args.experiment,
        samples=args.samples,
        banzhaf=True if args.banzhaf else None,
        run_id=args.run_id,
        store=args.store,
        model=args.model,
        base_url=args.base_url,
        concurrency=args.concurrency,
        progress=not args.quiet,
    )
    values = outcome.shapley
    print(f"shapley: {len(values.players)} modules, {len(values.coalitions)} configurations")
    print("v(S), S = modules on their test variant:")
    for coalition, v in sorted(
        values.coalitions.items(), key=lambda item: (len(item[0]), sorted(item[0]))
    ):
        names = "+".join(p for p in values.players if p in coalition) or "(none)"
        print(f"  {names:<40} {v:.4f}")
    print(outcome.table(), end="")
    result = outcome.result
    print(f"run {result.run_id} stored in {result.store_path}")
    print(f"report: palaestra report {result.run_id} --store {result.store_path} -o report.html")
    return 0
