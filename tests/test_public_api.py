"""One meaning per public name: a name exported by two packages of palaestra is the same
object in both (a re-export), never two different things."""

from __future__ import annotations

import importlib
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "palaestra"


def public_packages() -> list[str]:
    return sorted(
        ".".join(("palaestra", *path.parent.relative_to(SRC).parts))
        for path in SRC.rglob("__init__.py")
        if not any(part.startswith("_") for part in path.parent.relative_to(SRC).parts)
    )


def exporters() -> dict[str, list[tuple[str, object]]]:
    """public name -> (package, object) for every package whose `__all__` lists it."""
    found: dict[str, list[tuple[str, object]]] = defaultdict(list)
    for name in public_packages():
        module = importlib.import_module(name)
        for public in getattr(module, "__all__", ()):
            found[public].append((name, getattr(module, public)))
    return found


SAME_ROLE = {"create_app", "serve", "token_from_env"}
"""Names each server package (`envs.remote`, `viewer`) gives its own app, its serving
function and its token variable: one role, one object per server."""


def _clash(where: list[tuple[str, object]]) -> bool:
    """Different objects under one name, unless only environment packages export it:
    each environment (`envs.arith`, `envs.code`, ...) has its own `AGENT`, `TOOLS`,
    `generate_tasks`, the same role for a different environment."""
    if len({id(obj) for _, obj in where}) < 2:
        return False
    return not all(package.startswith("palaestra.envs.") for package, _ in where)


def test_a_public_name_means_one_thing() -> None:
    clashes = [
        f"{name}: " + ", ".join(f"{package}.{name}" for package, _ in where)
        for name, where in sorted(exporters().items())
        if _clash(where) and name not in SAME_ROLE
    ]
    assert not clashes, "give each its own name:\n" + "\n".join(clashes)
