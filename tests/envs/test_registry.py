"""The registry: ids resolve to their family's module only, unknown ids list them all."""

from __future__ import annotations

import subprocess
import sys

import pytest

from palaestra.core import UserError
from palaestra.envs import get_spec, registered


def test_an_id_imports_only_its_family() -> None:
    code = (
        "import sys; from palaestra.envs import get_spec\n"
        "spec = get_spec('arith.drill')\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('palaestra.envs.')"
        " and m.count('.') == 2)\n"
        "print(spec.id, loaded)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("arith.drill ")
    assert "palaestra.envs.arith" in out
    for other in ("graph", "tooluse", "code", "mas"):
        assert f"palaestra.envs.{other}'" not in out, out


def test_unknown_id_lists_every_builtin() -> None:
    with pytest.raises(UserError) as info:
        get_spec("graph.nope")
    message = str(info.value)
    assert "unknown environment 'graph.nope'" in message
    for env_id in ("arith.drill", "graph.coloring", "tooluse.store", "code.python"):
        assert env_id in message
    assert set(registered()) >= {"arith.drill", "graph.coloring", "tooluse.store"}
