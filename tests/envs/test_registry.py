"""The registry: ids resolve to their family's module only, unknown ids list them all."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from palaestra.core import UserError
from palaestra.envs import EnvSpec, get_spec, registered
from palaestra.envs._registry import BUILT_FROM_OTHERS, spec_from_object


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


@dataclasses.dataclass
class _Shelf:
    """A dataclass environment class (only its constructor matters here)."""

    sizes: list[int] = dataclasses.field(default_factory=lambda: [1, 2])
    label: str = "shelf"


def test_a_dataclass_default_factory_builds_the_value_not_a_placeholder() -> None:
    spec = spec_from_object("test.shelf", _Shelf)
    described = {p["name"]: p["default"] for p in spec.describe_params()}
    assert described == {"sizes": [1, 2], "label": "shelf"}
    first, second = spec.make(), spec.make()
    assert first.sizes == [1, 2]  # type: ignore[attr-defined]
    assert first.sizes is not second.sizes  # type: ignore[attr-defined]


def test_a_default_built_from_other_parameters_is_named_as_such() -> None:
    class Params(BaseModel):
        n: int = 2
        sizes: list[int] = Field(default_factory=lambda data: [0] * data["n"])

    spec = EnvSpec("test.built", lambda params: _Shelf(params.sizes), Params)
    described = {p["name"]: p["default"] for p in spec.describe_params()}
    assert described == {"n": 2, "sizes": BUILT_FROM_OTHERS}


def test_a_default_that_is_not_json_data_is_shown_as_its_repr() -> None:
    class Params(BaseModel):
        where: Path = Path("/tmp/x")
        tags: frozenset[str] = frozenset({"a"})

    spec = EnvSpec("test.paths", lambda params: _Shelf(), Params)
    described = {p["name"]: p["default"] for p in spec.describe_params()}
    assert described == {"where": "/tmp/x", "tags": ["a"]}
