"""The dependency direction of docs/ARCHITECTURE.md, checked on the source: each package
imports only the packages listed for it (a cycle is a design bug), and no two files of
palaestra import each other in a circle (function-local imports included)."""

from __future__ import annotations

import ast
import re
import sys
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


SHARED = {"_asgi": {"core"}, "_webguard": {"core"}, "_safe_yaml": {"core"}, "_lazy": set()}
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


def private_imports() -> list[tuple[str, int, str]]:
    """(file, line, module) of each import, anywhere in a file (function-local ones too),
    of a private module of another package: `palaestra.<pkg>._x` (or `from
    palaestra.<pkg> import _x`) from outside `<pkg>`. The shared top-level private
    modules (`SHARED`) are for every package."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC).parts
        package = parts[0] if len(parts) > 1 else path.stem
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            modules: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [node.module]
                if not any(bit.startswith("_") for bit in node.module.split(".")):
                    modules += [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            for module in modules:
                bits = module.split(".")
                if bits[0] != "palaestra" or len(bits) < 3 or bits[1] == package:
                    continue
                if any(bit.startswith("_") for bit in bits[2:]):
                    found.append((str(path.relative_to(SRC)), node.lineno, module))
    return found


def test_the_private_import_check_finds_one(tmp_path, monkeypatch) -> None:
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "x.py").write_text(
        "def f():\n    from palaestra.store._sqlite import Store\n"
        "from palaestra.eval._spec import ScorerSpec\nfrom palaestra.store import Store\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "SRC", tmp_path)
    assert private_imports() == [("eval/x.py", 2, "palaestra.store._sqlite")]


def test_no_package_imports_another_packages_private_modules() -> None:
    wrong = [f"{where}:{line} imports {module}" for where, line, module in private_imports()]
    assert not wrong, "import the package's public name instead:\n" + "\n".join(wrong)


_STORE_TABLES = ("meta", "runs", "episodes", "events", "leases")
_STORE_SQL = re.compile(
    r"\b(?:SELECT\b[\s\S]*?\bFROM|INSERT(?:\s+OR\s+[A-Z]+)?\s+INTO|REPLACE\s+INTO|UPDATE"
    r"|DELETE\s+FROM|JOIN)\s+(?:" + "|".join(_STORE_TABLES) + r")\b"
)
"""SQL reading or writing a store table: upper-case keywords, as every query here is
written (a docstring's prose, skipped anyway, never matches)."""


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the string constants that are docstrings or bare string statements."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }


def store_access(source: str) -> list[str]:
    """What in `source` reaches into the store's tables: a sqlite3 import, a private
    `palaestra.store._*` module, or SQL text on a store table."""
    tree = ast.parse(source)
    found: list[str] = []
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "sqlite3":
                    found.append(f"line {node.lineno}: imports sqlite3")
                elif alias.name.startswith("palaestra.store._"):
                    found.append(f"line {node.lineno}: imports {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == "sqlite3":
                found.append(f"line {node.lineno}: imports sqlite3")
            elif node.module.startswith("palaestra.store._") or (
                node.module == "palaestra.store"
                and any(alias.name.startswith("_") for alias in node.names)
            ):
                found.append(f"line {node.lineno}: imports a private module of palaestra.store")
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
            and _STORE_SQL.search(node.value)
        ):
            found.append(f"line {node.lineno}: SQL on a store table: {node.value[:60]!r}")
    return found


def test_store_access_finds_sql_and_private_modules() -> None:
    """The check below finds what it looks for: the store's own reader is full of it."""
    reader = (SRC / "store" / "_reader.py").read_text(encoding="utf-8")
    assert any("SQL on a store table" in f for f in store_access(reader))
    assert any("sqlite3" in f for f in store_access(reader))
    assert store_access("from palaestra.store._schema import SELECT_RUN\n")
    assert store_access("q = f'SELECT json FROM events WHERE episode = {1}'\n")
    assert store_access("db.execute('INSERT OR REPLACE INTO runs VALUES (?)', x)\n")
    clean = '"""SELECT the runs FROM events of one run."""\nname = "events from runs"\n'
    assert not store_access(clean)  # prose and docstrings are not queries


def test_only_the_store_touches_its_tables() -> None:
    """Nobody outside `palaestra.store` writes SQL against the store's tables, imports
    sqlite3 or a private store module: they read through `Store`, `ReadOnlyStore` and
    `EpisodeLog` (docs/store.md, the reader API)."""
    wrong = [
        f"{path.relative_to(SRC)} {problem}"
        for path in sorted(SRC.rglob("*.py"))
        if path.relative_to(SRC).parts[0] != "store"
        for problem in store_access(path.read_text(encoding="utf-8"))
    ]
    assert not wrong, "\n".join(wrong)
