"""Export formats other packages add: `palaestra export RUN --format NAME`.

palaestra's own formats (`jsonl`, `adp`, `sft`, `parquet`, `otel`: `EXPORT_FORMATS`)
each have options of their own on the command line. Another package adds a format as a
function ``export(store, run_id, output) -> int | str | None``:

- `output` is a `pathlib.Path` (``-o FILE``) or a text stream (standard output);
- it returns what it wrote, as a count of records or a phrase (printed after
  "exported"), or None.

It is registered with `register_exporter("NAME", export)` (by a module given with
``--import``), by an entry point in group ``palaestra.exporters`` named for the format,
or named by reference, ``--format package.module:function``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, cast

from palaestra.core import Registry, UserError, qualified_name, unknown_name

EXPORT_FORMATS = ("jsonl", "adp", "sft", "parquet", "otel")
"""palaestra's own export formats."""

Exporter = Callable[[Any, str, "Path | IO[str]"], "int | str | None"]
"""``export(store, run_id, output)``: see the module docstring."""


def _as_exporter(name: str, obj: Any) -> Exporter:
    if not callable(obj):
        raise UserError(f"exporter {name!r}: {qualified_name(obj)} is not a function")
    return cast(Exporter, obj)


EXPORTERS: Registry[Exporter] = Registry(
    "exporter",
    "palaestra.exporters",
    adapt=_as_exporter,
    same=lambda old, new: old is new or qualified_name(old) == qualified_name(new),
)
"""The export formats other packages add (`register_exporter`, entry points, references)."""


def register_exporter(name: str, export: Exporter | str, *, replace: bool = False) -> None:
    """Make `export` (or the ``package.module:function`` it names) the format `name`."""
    if name in EXPORT_FORMATS:
        raise UserError(f"export format {name!r} is one of palaestra's own; choose another name")
    EXPORTERS.register(name, export, replace=replace)


def exporter(name: str) -> Exporter:
    """The exporter of format `name`, or a `UserError` listing close matches among
    palaestra's formats and the plugins'."""
    found = EXPORTERS.find(name)
    if found is None:
        known = [*EXPORT_FORMATS, *EXPORTERS.names()]
        raise unknown_name("export format", name, known, group=EXPORTERS.plugins.group)
    return found


def run_exporter(name: str, store: Any, run_id: str, output: Path | IO[str]) -> str:
    """Run the plugin format `name` on a run; what it wrote, as a phrase."""
    wrote = exporter(name)(store, run_id, output)
    if isinstance(wrote, bool) or not isinstance(wrote, int | str | type(None)):
        raise UserError(
            f"exporter {name!r} returned a {type(wrote).__name__}; it returns a count, a "
            "phrase or None"
        )
    if wrote is None:
        return f"{name} export"
    return f"{wrote} {name} records" if isinstance(wrote, int) else wrote
