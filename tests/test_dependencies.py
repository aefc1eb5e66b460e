"""The dependency direction of docs/ARCHITECTURE.md, checked on the source: each package
imports only the packages listed for it (a cycle is a design bug), and no two files of
palaestra import each other in a circle (function-local imports included)."""

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
    "config": _BELOW_RUNTIME | {"eval", "assurance"},
    "runtime": _BELOW_RUNTIME | {"store", "eval", "assurance", "config"},
    "studies": _BELOW_RUNTIME | {"store", "eval", "assurance", "config", "runtime"},
    "train": _BELOW_RUNTIME | {"store", "eval", "config", "runtime", "studies"},
    "testing": {"core", "models", "tools", "sandbox", "envs"},
    "cli": _BELOW_RUNTIME
    | {"store", "eval", "assurance", "config", "runtime", "studies", "train", "viewer"},
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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (not run: no circle at run time)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                out.update(id(sub) for sub in ast.walk(inner))
    return out


def module_graph() -> dict[str, set[str]]:
    """palaestra module -> the palaestra modules it imports, anywhere in the file
    (function-local imports included, `if TYPE_CHECKING:` ones not). `from pkg import
    name` counts as importing `pkg.name` when that is a module, else `pkg`; importing a
    module also imports the packages above it (their `__init__` runs first) but for the
    importing module's own packages; the top-level `palaestra/__init__` is left out (it
    re-exports the curated API and is run before anything)."""
    modules = {_module_name(path): path for path in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_only(tree)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base_parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*base_parts, *([node.module] if node.module else [])])
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            for target in targets:
                if target.split(".")[0] != "palaestra":
                    continue
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if not target or target == "palaestra":
                    continue
                edges.add(target)
                # importing palaestra.a.b runs palaestra/a/__init__ first, unless the
                # importing module is inside palaestra.a (whose __init__ is running)
                bits = target.split(".")
                for depth in range(2, len(bits)):
                    parent = ".".join(bits[:depth])
                    if not name.startswith(parent + "."):
                        edges.add(parent)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of `graph` (its modules in order, the first repeated at the
    end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_circles_between_files() -> None:
    cycle = find_cycle(module_graph())
    assert cycle is None, "files import each other in a circle: " + " -> ".join(cycle or [])


def test_the_circle_check_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
