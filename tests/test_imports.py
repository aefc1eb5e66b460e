"""`import palaestra` is lazy: importing a package loads none of the heavy optional
libraries a user may never need (the OpenAI SDK, llama-cpp, torch, pyarrow, the MCP SDK),
and the top level and the command line's `--help` do not even load pydantic.

Checked on `sys.modules` of a fresh interpreter, not on a timing (timings:
benchmarks/importtime.py, docs/benchmarks.md)."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "palaestra"

HEAVY = ("openai", "httpx", "httpx2", "llama_cpp", "torch", "transformers", "pyarrow", "mcp")
"""Optional or heavy libraries no package of palaestra may import when it is imported."""

LIGHT_TOP = (*HEAVY, "pydantic", "numpy", "yaml", "asyncio")
"""What `import palaestra` and `palaestra --help` must not load either."""

PACKAGES = sorted(p.name for p in SRC.iterdir() if (p / "__init__.py").exists())


def loaded_after(code: str) -> set[str]:
    """The top-level names in `sys.modules` after running `code` in a fresh interpreter."""
    names = "sorted({m.split('.')[0] for m in sys.modules})"
    probe = f"{code}\nimport json, sys\nprint(json.dumps({names}))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    return set(json.loads(out.strip().splitlines()[-1]))


def test_import_palaestra_loads_nothing_heavy() -> None:
    loaded = loaded_after("import palaestra")
    assert not loaded & set(LIGHT_TOP), sorted(loaded & set(LIGHT_TOP))


def test_cli_help_loads_nothing_heavy() -> None:
    code = (
        "import contextlib, io, sys\nsys.argv = ['palaestra', '--help']\n"
        "from palaestra.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main()"
    )
    loaded = loaded_after(code)
    assert not loaded & set(LIGHT_TOP), sorted(loaded & set(LIGHT_TOP))


@pytest.mark.parametrize("package", PACKAGES)
def test_importing_a_package_loads_no_optional_sdk(package: str) -> None:
    loaded = loaded_after(f"import palaestra.{package}")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_public_name_still_loads_its_module() -> None:
    loaded = loaded_after("from palaestra.models import OpenAIModel")
    assert "openai" in loaded  # the check above can fail: the probe sees a real import


def lazy_inits() -> list[Path]:
    return sorted(
        path
        for path in SRC.rglob("__init__.py")
        if "lazy_exports(" in path.read_text(encoding="utf-8")
    )


def _module_name(path: Path) -> str:
    return ".".join(("palaestra", *path.parent.relative_to(SRC).parts))


def _typed_and_lazy(path: Path) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """name -> module as the `if TYPE_CHECKING:` imports give it, as the lazy table
    gives it, and the names of `__all__`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typed: dict[str, str] = {}
    lazy: dict[str, str] = {}
    exported: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module, ast.unparse(stmt)
                typed.update({a.asname or a.name: stmt.module for a in stmt.names})
            for call in ast.walk(ast.Module(body=node.orelse, type_ignores=[])):
                if isinstance(call, ast.Call) and ast.unparse(call.func) == "lazy_exports":
                    table = call.args[1]
                    assert isinstance(table, ast.Dict)
                    for key, value in zip(table.keys, table.values, strict=True):
                        assert isinstance(key, ast.Constant) and isinstance(value, ast.Tuple)
                        for name in value.elts:
                            assert isinstance(name, ast.Constant)
                            lazy[name.value] = key.value
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "__all__":
            exported = list(ast.literal_eval(node.value))
    return typed, lazy, exported


@pytest.mark.parametrize("path", lazy_inits(), ids=_module_name)
def test_lazy_table_matches_the_type_checking_imports_and_all(path: Path) -> None:
    typed, lazy, exported = _typed_and_lazy(path)
    assert lazy == typed, "the lazy table and the TYPE_CHECKING imports must name the same"
    module = importlib.import_module(_module_name(path))
    defined_here = {name for name in exported if name in vars(module) and name not in lazy}
    assert set(exported) == set(lazy) | defined_here, "every lazy name is in __all__"
    for name in exported:
        assert getattr(module, name) is not None, name


def test_a_missing_name_is_an_attribute_error() -> None:
    import palaestra.models

    with pytest.raises(AttributeError, match="no attribute 'NoSuchModel'"):
        _ = palaestra.models.NoSuchModel
    with pytest.raises(ImportError):
        exec("from palaestra.core import NoSuchType", {})
