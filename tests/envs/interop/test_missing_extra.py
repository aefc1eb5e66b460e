"""Without the `interop` extra, the adapters say what to install (and importing the
package itself needs neither gymnasium nor pettingzoo)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from palaestra.core import UserError
from palaestra.envs import interop


@pytest.mark.parametrize("missing", ["gymnasium", "pettingzoo"])
def test_adapters_name_the_extra_when_a_package_is_missing(monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # makes `import missing` fail
    hint = f"need the '{missing}' package, which is not installed: pip install 'palaestra[interop]'"
    with pytest.raises(UserError, match="pip install 'palaestra\\[interop\\]'") as exc:
        interop.to_pettingzoo("graph.coloring")
    assert hint in str(exc.value)
    if missing == "gymnasium":
        for adapter in (interop.to_gymnasium, interop.from_gymnasium):
            with pytest.raises(UserError, match=hint.replace("[", "\\[").replace("]", "\\]")):
                adapter("tooluse.store")


def test_importing_the_package_loads_neither_library():
    code = (
        "import sys, palaestra.envs.interop, palaestra.envs.remote; "
        "print(sorted(m for m in ('gymnasium', 'pettingzoo', 'fastapi', 'uvicorn', 'httpx') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
