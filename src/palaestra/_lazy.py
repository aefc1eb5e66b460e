"""Lazy exports for package `__init__` modules (PEP 562).

A package lists its public names once in `__all__` and says which private module holds
each; nothing is imported until a name is first used, so `import palaestra` (and the
command line's `--help`) does not pay for the OpenAI SDK, pydantic models or numpy that
only some commands need. Type checkers read the same names from an
`if TYPE_CHECKING:` block of real imports in the package; tests/test_imports.py checks
that block, the lazy table and `__all__` name the same things.

```python
if TYPE_CHECKING:
    from palaestra.models._openai import OpenAIModel
else:
    __getattr__, __dir__ = lazy_exports(__name__, {"palaestra.models._openai": ("OpenAIModel",)})
```
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, exports: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, which exports `exports` (module ->
    names) on first access; each name, once loaded, is set on the package so the next
    access is a plain attribute lookup. A public submodule not yet imported is imported
    on first access too."""
    for module, names in exports.items():
        if isinstance(names, str):  # ("Name") is a string, not a one-name tuple
            raise TypeError(f"{package}: the names from {module} must be a tuple: ({names!r},)")
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str) -> object:
        module = where.get(name)
        if module is None:
            # a public subpackage or module, as `import palaestra; palaestra.eval` expects
            if name.startswith("_") or importlib.util.find_spec(f"{package}.{name}") is None:
                raise AttributeError(f"module {package!r} has no attribute {name!r}")
            return importlib.import_module(f"{package}.{name}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        """The public API (`__all__`), submodules and the module's own dunders: not the
        names the lazy machinery itself imports (`TYPE_CHECKING`, `lazy_exports`)."""
        namespace = vars(sys.modules[package])
        shown = set(where) | set(namespace.get("__all__", ()))
        shown |= {
            name
            for name, value in namespace.items()
            if name.startswith("_") or isinstance(value, types.ModuleType)
        }
        return sorted(shown)

    return __getattr__, __dir__
