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
        "GenAI spans; or a format another package adds (docs/extending.md)",
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


def cmd_export(store: Any, args: argparse.Namespace) -> int:
    run = store.resolve_run(args.run)
    fmt = args.format
    if fmt != "otel" and (args.endpoint or args.console or args.content):
        raise UserError("--endpoint, --console and --content apply to --format otel only")
    if fmt != "adp" and args.adp_version:
        raise UserError("--adp-version applies to --format adp only")
    if fmt not in ("adp", "sft") and args.agent:
        raise UserError("--agent applies to --format adp and sft only")
    if fmt != "sft" and (args.all or args.no_metadata):
        raise UserError("--all and --no-metadata apply to --format sft only")
    from palaestra.store import EXPORT_FORMATS, run_exporter

    if fmt not in EXPORT_FORMATS:  # a plugin's format (palaestra.store.register_exporter)
        wrote = run_exporter(
            fmt, store, run.run_id, Path(args.output) if args.output else sys.stdout
        )
        if args.output:
            print(f"exported {wrote} of run {run.run_id} to {args.output}", file=sys.stderr)
        return 0
    if fmt == "parquet":
        from palaestra.store import export_parquet

        if not args.output:
            raise UserError("--format parquet needs -o DIR (or -o FILE.parquet)")
        result = export_parquet(store, run.run_id, args.output)
        print(
            f"exported run {run.run_id}: {result.events} events to {result.events_path}, "
            f"{result.episodes} episodes to {result.episodes_path}",
            file=sys.stderr,
        )
        return 0
    if fmt == "otel":
        from palaestra.store import export_otel

        if args.endpoint and args.console:
            raise UserError("give --endpoint or --console, not both")
        spans = export_otel(
            store,
            run.run_id,
            endpoint=args.endpoint,
            console=args.console,
            content=args.content,
        )
        where = args.endpoint or ("stdout" if args.console or not _env_endpoint() else "OTLP")
        print(f"exported run {run.run_id}: {spans} spans to {where}", file=sys.stderr)
        return 0
    target: Any = Path(args.output) if args.output else sys.stdout
    if fmt == "jsonl":
        from palaestra.store import export_jsonl

        if not args.output:  # bytes: the trailer's digest is of UTF-8, whatever the locale
            sys.stdout.flush()
            target = getattr(sys.stdout, "buffer", sys.stdout)
        export_jsonl(store, run.run_id, target)
        what = "run"
    elif fmt == "adp":
        from palaestra.store import export_adp

        version = args.adp_version or ADP_VERSIONS[-1]
        if version == "1.5.0" and not args.output:
            raise UserError(
                "ADP 1.5.0 is a dataset directory (trajectories.jsonl + metadata.json): give "
                "-o DIR, or --adp-version 1.3.0 to write JSONL to stdout"
            )
        count = export_adp(store, run.run_id, target, agents=args.agent, version=version)
        what = f"{count} ADP trajectories"
    else:
        from palaestra.store import export_sft

        count = export_sft(
            store,
            run.run_id,
            target,
            all_episodes=args.all,
            agents=args.agent,
            metadata=not args.no_metadata,
        )
        what = f"{count} SFT samples"
    if args.output:
        print(f"exported {what} of run {run.run_id} to {args.output}", file=sys.stderr)
    return 0


def _env_endpoint() -> bool:
    import os

    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


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
