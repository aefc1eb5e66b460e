"""`palaestra compare EXPERIMENT --systems a,b,c --budget-tokens N`: the same tasks and
seeds under each named system, with the same token budget per episode, in one table.

The experiment's `systems:` map defines the systems. Every job is run once per system,
as one run: job `J` becomes job `J@system` with the system as its operator (per-agent
overrides under `agents:` are kept: they play the other parties, e.g. a customer), and
`limits.max_tokens` is the budget for all. Episode ids stay `job/task/seed/epoch`
(`J@system/task/seed/epoch`), so the same `--run-id` resumes the comparison and every
other command reads the run as usual. The study itself is `palaestra.studies.compare`.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_compare_parser(sub: Any, store_arg: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="run an experiment under several named systems with one token budget; one table",
    )
    p.add_argument("experiment", help="experiment YAML file with a `systems:` map")
    p.add_argument(
        "--systems", required=True, help="comma-separated names from the experiment's `systems:`"
    )
    p.add_argument(
        "--budget-tokens",
        type=int,
        help="token budget per episode for every system (default: the experiment's "
        "limits.max_tokens)",
    )
    p.add_argument("--run-id", help="name the run; an existing id resumes it")
    store_arg(p)
    p.add_argument("--model", help="model spec for every LLM operator, e.g. openai:gpt-4o-mini")
    p.add_argument("--base-url", help="OpenAI-compatible server URL for --model")
    p.add_argument("--concurrency", type=int, help="episodes in flight")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_compare(args: argparse.Namespace) -> int:
    from palaestra.config import Experiment
    from palaestra.eval import comparison_table
    from palaestra.studies import compare

    experiment = Experiment.from_yaml(args.experiment)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    done = compare(
        experiment,
        systems,
        budget=args.budget_tokens,
        run_id=args.run_id,
        store=args.store,
        model=args.model,
        base_url=args.base_url,
        concurrency=args.concurrency,
        progress=not args.quiet,
    )
    result, reference, budget = done.result, done.reference, done.budget
    print(
        f"compare: {len(systems)} systems on the same tasks and seeds; token budget per "
        f"episode: {budget if budget is not None else 'none'}; overhead against "
        f"{reference or '- (no single system compared)'}"
    )
    print(comparison_table(done.systems), end="")
    print(f"run {result.run_id} stored in {result.store_path}")
    print(f"inspect: palaestra show {result.run_id} --store {result.store_path}")
    return 0
