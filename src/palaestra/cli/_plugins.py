"""`palaestra plugins`: what every registry holds, and where each entry comes from.

```
palaestra plugins [KIND ...] [--json] [--import MODULE]
```

KIND is one of `envs`, `models`, `scorers`, `contracts`, `exporters`, `topologies`,
`operators` (default: all). Each entry's source is ``built-in``, ``registered:
module:Name`` (by a module given with ``--import``), ``reference`` or ``entry point of
'DIST VERSION' (value)``. An installed plugin whose entry point fails to import is
listed as a BROKEN row with its error (the listing still succeeds), so that one broken
package neither hides the others nor stops the command.
"""

from __future__ import annotations

import argparse
import importlib
import json
from typing import Any

from palaestra.core import UserError

REGISTRIES: dict[str, tuple[str, str, str]] = {
    "envs": ("environments", "palaestra.envs", "ENVIRONMENTS"),
    "models": ("model providers", "palaestra.models", "PROVIDERS"),
    "scorers": ("scorer kinds", "palaestra.eval", "SCORERS"),
    "contracts": ("contracts", "palaestra.assurance", "CONTRACTS"),
    "exporters": ("export formats", "palaestra.store", "EXPORTERS"),
    "topologies": ("topologies", "palaestra.runtime", "TOPOLOGIES"),
    "operators": ("operator kinds", "palaestra.runtime", "OPERATORS"),
}
"""Each kind of plugin: its heading, and the package and name of its registry."""


def add_plugins_parser(sub: Any) -> None:
    """Register `plugins`."""
    p = sub.add_parser(
        "plugins",
        help="list what is registered (environments, model providers, scorers, contracts, "
        "export formats, topologies, operator kinds) and where each comes from",
    )
    p.add_argument("kinds", nargs="*", metavar="KIND", help=f"one of {', '.join(REGISTRIES)}")
    p.add_argument("--json", action="store_true")


def registry(kind: str) -> Any:
    """The registry of one kind of plugin (its package imported now)."""
    _, module, name = REGISTRIES[kind]
    return getattr(importlib.import_module(module), name)


def cmd_plugins(args: argparse.Namespace) -> int:
    kinds = args.kinds or list(REGISTRIES)
    unknown = [kind for kind in kinds if kind not in REGISTRIES]
    if unknown:
        raise UserError(
            f"palaestra plugins: unknown kind {unknown[0]!r}; kinds: {', '.join(REGISTRIES)}"
        )
    rows = {kind: registry(kind).survey() for kind in kinds}
    if args.json:
        out = {
            kind: [
                {
                    "name": row.name,
                    "source": row.source,
                    "description": row.description,
                    **({"error": row.error} if row.error else {}),
                }
                for row in found
            ]
            for kind, found in rows.items()
        }
        print(json.dumps(out, indent=2))
        return 0
    for number, (kind, found) in enumerate(rows.items()):
        if number:
            print()
        print(f"{REGISTRIES[kind][0]} ({kind}):")
        width = max((len(row.name) for row in found), default=0)
        for row in found:
            if row.error:
                print(f"  {row.name:<{width}}  BROKEN  {row.source}")
                print(f"      {row.error}")
                continue
            text = row.description
            description = f"  {text[:77]}..." if len(text) > 80 else f"  {text}" if text else ""
            print(f"  {row.name:<{width}}  {row.source}{description}")
    return 0
