"""Export formats: `palaestra export RUN --format NAME`, one registry for every format.

An export format is an `ExportFormat`: a function
``export(store, run_id, output, **options) -> int | str | None`` with what describes it:

- `output` is a `pathlib.Path` (``-o FILE``) or a text stream (standard output);
- it returns what it wrote, as a count of records or a phrase (printed after
  "exported"), or None;
- `options` are the command-line options it takes (``agent``, ``adp_version``, ...:
  the `palaestra export` flags by their argument names); a flag given to a format that
  does not take it is an error naming the formats that do.

palaestra's own formats (`jsonl`, `adp`, `sft`, `parquet`, `otel`) are entries of
`EXPORTERS` like any other; each imports its writer (pyarrow, the OpenTelemetry SDK)
only when it runs. Another package adds a format with `register_exporter("NAME",
export)` (a plain function of ``(store, run_id, output)``, or an `ExportFormat`), by an
entry point in group ``palaestra.exporters`` named for the format, or by reference,
``--format package.module:function``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from palaestra.core import Registry, UserError, qualified_name

Exporter = Callable[..., "int | str | None"]
"""``export(store, run_id, output, **options)``: see the module docstring."""


@dataclass(frozen=True)
class ExportFormat:
    """One export format: its function and what the command line needs to know."""

    name: str
    export: Exporter
    description: str = ""
    options: tuple[str, ...] = ()
    """The `palaestra export` options it takes, by argument name (``agent``, ...)."""
    reports: bool = False
    """Its result names where it went (``12 spans to stdout``): the command prints
    ``exported run ID: RESULT`` whether or not ``-o`` was given."""

    @property
    def factory(self) -> Exporter:
        """What `qualified_name` names the format by."""
        return self.export


def _as_format(name: str, obj: Any) -> ExportFormat:
    if isinstance(obj, ExportFormat):
        return (
            obj
            if obj.name == name
            else ExportFormat(name, obj.export, obj.description, obj.options, obj.reports)
        )
    if not callable(obj):
        raise UserError(f"exporter {name!r}: {qualified_name(obj)} is not a function")
    doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
    return ExportFormat(name, cast(Exporter, obj), doc[0] if doc else "")


def _same_format(old: ExportFormat, new: ExportFormat) -> bool:
    return old == new or qualified_name(old.export) == qualified_name(new.export)


def _jsonl(store: Any, run_id: str, output: Path | IO[str]) -> str:
    from palaestra.store._jsonl import export_jsonl

    target: Any = output
    if not isinstance(output, Path):  # bytes: the trailer's digest is of UTF-8
        output.flush()
        target = getattr(output, "buffer", output)
    export_jsonl(store, run_id, target)
    return "run"


def _adp(
    store: Any, run_id: str, output: Path | IO[str], *, agent: Any = None, adp_version: Any = None
) -> str:
    from palaestra.store._adp_schema import ADP_SCHEMA_VERSION
    from palaestra.store._adp_write import export_adp

    version = adp_version or ADP_SCHEMA_VERSION
    if version == "1.5.0" and not isinstance(output, Path):
        raise UserError(
            "ADP 1.5.0 is a dataset directory (trajectories.jsonl + metadata.json): give "
            "-o DIR, or --adp-version 1.3.0 to write JSONL to stdout"
        )
    count = export_adp(store, run_id, output, agents=agent, version=version)
    return f"{count} ADP trajectories"


def _sft(
    store: Any,
    run_id: str,
    output: Path | IO[str],
    *,
    agent: Any = None,
    all: bool = False,
    no_metadata: bool = False,
) -> str:
    from palaestra.store._sft import export_sft

    count = export_sft(
        store, run_id, output, all_episodes=all, agents=agent, metadata=not no_metadata
    )
    return f"{count} SFT samples"


def _parquet(store: Any, run_id: str, output: Path | IO[str]) -> str:
    from palaestra.store._parquet import export_parquet

    if not isinstance(output, Path):
        raise UserError("--format parquet needs -o DIR (or -o FILE.parquet)")
    result = export_parquet(store, run_id, output)
    return (
        f"{result.events} events to {result.events_path}, "
        f"{result.episodes} episodes to {result.episodes_path}"
    )


def _otel(
    store: Any,
    run_id: str,
    output: Path | IO[str],
    *,
    endpoint: str | None = None,
    console: bool = False,
    content: bool = False,
) -> str:
    from palaestra.store._otel import export_otel

    if endpoint and console:
        raise UserError("give --endpoint or --console, not both")
    spans = export_otel(store, run_id, endpoint=endpoint, console=console, content=content)
    env = bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"))
    where = endpoint or ("stdout" if console or not env else "OTLP")
    return f"{spans} spans to {where}"


BUILTIN_FORMATS = (
    ExportFormat("jsonl", _jsonl, "the run itself, one self-describing file (re-importable)"),
    ExportFormat("adp", _adp, "Agent Data Protocol trajectories", options=("agent", "adp_version")),
    ExportFormat("sft", _sft, "chat-format training data", options=("agent", "all", "no_metadata")),
    ExportFormat("parquet", _parquet, "analytics tables (events, episodes)", reports=True),
    ExportFormat(
        "otel",
        _otel,
        "OpenTelemetry GenAI spans",
        options=("endpoint", "console", "content"),
        reports=True,
    ),
)
"""palaestra's own formats, registered in `EXPORTERS` like a plugin's."""

EXPORT_FORMATS = tuple(f.name for f in BUILTIN_FORMATS)
"""The names of palaestra's own export formats."""


def new_registry() -> Registry[ExportFormat]:
    """An export-format registry holding palaestra's own formats (what `EXPORTERS` is;
    tests take a fresh one)."""

    def builtins(name: str | None) -> None:
        for fmt in BUILTIN_FORMATS:
            if (name is None or name == fmt.name) and fmt.name not in registry.entries:
                registry.entries[fmt.name] = fmt

    registry: Registry[ExportFormat] = Registry(
        "export format",
        "palaestra.exporters",
        adapt=_as_format,
        same=_same_format,
        builtins=builtins,
    )
    return registry


EXPORTERS: Registry[ExportFormat] = new_registry()
"""Every export format: palaestra's own, registered ones (`register_exporter`), entry
points of group ``palaestra.exporters``, and ``package.module:function`` references."""


def register_exporter(
    name: str, export: Exporter | ExportFormat | str, *, replace: bool = False
) -> None:
    """Make `export` (an `ExportFormat`, a function of ``(store, run_id, output)``, or
    the ``package.module:function`` naming one) the format `name`."""
    if name in EXPORT_FORMATS:
        raise UserError(f"export format {name!r} is one of palaestra's own; choose another name")
    EXPORTERS.register(name, export, replace=replace)


def exporter(name: str) -> ExportFormat:
    """The format `name`, or a `UserError` listing close matches among every format."""
    return EXPORTERS.get(name)


def formats_taking(option: str) -> list[str]:
    """The registered formats that take `option` (sorted; for the error naming them)."""
    EXPORTERS.names()  # palaestra's own, loaded
    return sorted(name for name, fmt in EXPORTERS.entries.items() if option in fmt.options)


def run_exporter(
    name: str, store: Any, run_id: str, output: Path | IO[str] | None = None, **options: Any
) -> str:
    """Run format `name` on a run (to standard output when `output` is None); what it
    wrote, as a phrase. `options` the format does not take are a `UserError`."""
    fmt = exporter(name)
    extra = sorted(set(options) - set(fmt.options))
    if extra:
        raise UserError(f"export format {name!r} takes no option {extra[0]!r}")
    wrote = fmt.export(store, run_id, sys.stdout if output is None else output, **options)
    if isinstance(wrote, bool) or not isinstance(wrote, int | str | type(None)):
        raise UserError(
            f"exporter {name!r} returned a {type(wrote).__name__}; it returns a count, a "
            "phrase or None"
        )
    if wrote is None:
        return f"{name} export"
    return f"{wrote} {name} records" if isinstance(wrote, int) else wrote
