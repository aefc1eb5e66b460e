"""The dependency direction of docs/ARCHITECTURE.md, checked on the source: each package
imports only the packages listed for it (a cycle is a design bug)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "palaestra"

_BELOW_RUNTIME = {
    "core",
    "models",
    "tools",
    "boundaries",
    "operators",
    "systems",
    "sandbox",
    "envs",
}
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "models": {"core"},
    "tools": {"core", "models"},
    "boundaries": {"core", "models", "tools"},
    "operators": {"core", "models", "tools", "boundaries"},
    "systems": {"core", "models", "tools", "boundaries", "operators"},
    "sandbox": {"core", "tools"},
    "envs": {"core", "tools", "sandbox"},
    "store": {"core"},
    "eval": {"core", "store"},
    "assurance": {"core", "store"},
    "viewer": {"core", "store"},
    "runtime": _BELOW_RUNTIME | {"store", "eval", "assurance"},
    "train": _BELOW_RUNTIME | {"store", "eval", "runtime"},
    "testing": {"core", "models", "tools", "sandbox", "envs"},
    "cli": _BELOW_RUNTIME | {"store", "eval", "assurance", "runtime", "train", "viewer"},
}


SHARED = {"_asgi": {"core"}, "_webguard": {"core"}, "_safe_yaml": {"core"}}
"""Private top-level modules any package may use, with what they may import themselves."""


def imported_packages() -> dict[str, dict[str, str]]:
    """package -> {imported package: the first file importing it}."""
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).parts
        package = parts[0] if len(parts) > 1 else path.stem
        if len(parts) == 1 and package not in SHARED:
            continue  # palaestra/__init__.py and __main__.py: the curated top level
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                bits = name.split(".")
                if bits[0] == "palaestra" and len(bits) > 1 and bits[1] != package:
                    found[package].setdefault(bits[1], str(path.relative_to(SRC)))
    return found


def test_every_package_is_listed() -> None:
    packages = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages == set(ALLOWED), "add the package to ALLOWED and docs/ARCHITECTURE.md"


def test_imports_follow_the_dependency_direction() -> None:
    wrong = [
        f"{package} imports {other} ({where})"
        for package, imports in imported_packages().items()
        for other, where in sorted(imports.items())
        if other not in {**ALLOWED, **SHARED}[package] and other not in SHARED
    ]
    assert not wrong, "\n".join(wrong)
