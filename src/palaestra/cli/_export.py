"""`palaestra export` and `palaestra import`: a run to and from other formats.

```
palaestra export RUN [--format jsonl] [-o FILE]            the run, re-importable (default)
palaestra export RUN --format adp -o DIR [--agent A]        ADP 1.5.0: trajectories + metadata.json
palaestra export RUN --format adp --adp-version 1.3.0|1.2.0 [-o FILE]   ADP JSONL of that version
palaestra export RUN --format sft [-o FILE] [--all] [--agent A] [--no-metadata]
palaestra export RUN --format parquet -o DIR_OR_FILE        events + episodes tables
palaestra export RUN --format otel [--endpoint URL | --console] [--content]
palaestra import FILE [--format jsonl|adp] [--run-id ID] [--partial]   (adp: FILE or DIR)
```
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from palaestra.core import UserError

ADP_VERSIONS = ("1.2.0", "1.3.0", "1.5.0")
"""What `--adp-version` takes (`palaestra.store.ADP_VERSIONS`, without importing the store)."""
IMPORT_FORMATS = ("jsonl", "adp")


def add_export_parsers(sub: Any, store_arg: Callable[[argparse.ArgumentParser], None]) -> None:
    """Register `export` and `import`."""
    p = sub.add_parser("export", help="export a run (JSONL, ADP, SFT, Parquet, OpenTelemetry)")
    p.add_argument("run", help="run id, a unique prefix, or 'last'")
    p.add_argument(
        "--format",
        default="jsonl",
        help="jsonl: the run itself (re-importable); adp: Agent Data Protocol trajectories; "
        "sft: chat-format training data; parquet: analytics tables; otel: OpenTelemetry "
        "GenAI spans; or a format another package adds (`palaestra plugins exporters` "
        "lists every one; docs/extending.md)",
    )
    p.add_argument("-o", "--output", help="file to write (default: stdout; parquet: required)")
    p.add_argument("--agent", action="append", help="adp/sft: only this agent (repeatable)")
    p.add_argument(
        "--adp-version",
        choices=ADP_VERSIONS,
        help=f"adp: the ADP schema version to write (default {ADP_VERSIONS[-1]}: a directory, "
        "-o DIR; 1.3.0 and 1.2.0: one JSONL file or stdout)",
    )
    p.add_argument(
        "--all", action="store_true", help="sft: every finished episode, not only successes"
    )
    p.add_argument(
        "--no-metadata",
        action="store_true",
        help="sft: write only messages and tools (what OpenAI's fine-tuning upload accepts)",
    )
    p.add_argument("--endpoint", help="otel: OTLP/HTTP endpoint, e.g. http://localhost:4318")
    p.add_argument("--console", action="store_true", help="otel: print spans to stdout")
    p.add_argument(
        "--content",
        action="store_true",
        help="otel: include message content, tool arguments and results (opt-in)",
    )
    store_arg(p)

    p = sub.add_parser("import", help="import a run exported as JSONL, or ADP trajectories")
    p.add_argument("file")
    p.add_argument("--format", choices=IMPORT_FORMATS, default="jsonl")
    p.add_argument("--run-id", help="import under a new run id")
    p.add_argument(
        "--partial",
        action="store_true",
        help="jsonl: import what a cut or altered file holds (its trailer does not prove it "
        "whole); the run is marked interrupted",
    )
    store_arg(p)


_FLAGS = {
    "agent": "--agent",
    "adp_version": "--adp-version",
    "all": "--all",
    "no_metadata": "--no-metadata",
    "endpoint": "--endpoint",
    "console": "--console",
    "content": "--content",
}
"""The format options `palaestra export` takes, by argument name (an `ExportFormat`'s
`options`), and their flags."""


def cmd_export(store: Any, args: argparse.Namespace) -> int:
    from palaestra.store import exporter, formats_taking, run_exporter

    run = store.resolve_run(args.run)
    fmt = exporter(args.format)  # an unknown one lists close matches and every format
    options = {dest: getattr(args, dest) for dest in _FLAGS if getattr(args, dest)}
    for dest in options:
        if dest not in fmt.options:
            where = " and ".join(formats_taking(dest)) or "no format"
            raise UserError(f"{_FLAGS[dest]} applies to --format {where} only")
    output: Any = Path(args.output) if args.output else sys.stdout
    wrote = run_exporter(fmt.name, store, run.run_id, output, **options)
    if fmt.reports:
        print(f"exported run {run.run_id}: {wrote}", file=sys.stderr)
    elif args.output:
        print(f"exported {wrote} of run {run.run_id} to {args.output}", file=sys.stderr)
    return 0


def cmd_import(store: Any, args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.exists():
        raise UserError(f"no file {path}")
    if args.format == "adp":
        from palaestra.store import import_adp

        if args.partial:
            raise UserError("--partial applies to --format jsonl only")
        run_id = import_adp(store, path, run_id=args.run_id)
    else:
        from palaestra.store import import_jsonl

        result = import_jsonl(store, path, run_id=args.run_id, partial=args.partial)
        run_id = result.run_id
        if not result.complete:
            print(
                f"warning: {path} is not whole ({'; '.join(result.problems)}); imported "
                f"{result.episodes} episodes and {result.events} events as run {run_id}, "
                "marked interrupted",
                file=sys.stderr,
            )
    print(f"imported run {run_id} into {store.path}")
    return 0
