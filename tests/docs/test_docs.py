"""README code is executed; the public API is exactly what `__all__` lists; every example
experiment validates (the demo itself runs in tests/docs/test_demo.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import palaestra
from palaestra.runtime import Experiment

ROOT = Path(__file__).resolve().parents[2]


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize("index", range(len(_python_blocks((ROOT / "README.md").read_text()))))
def test_readme_python_blocks_run(index, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = _python_blocks((ROOT / "README.md").read_text())[index]
    exec(compile(code, f"README.md block {index}", "exec"), {"__name__": "__readme__"})
    assert "run " in capsys.readouterr().out


def test_readme_yaml_experiment_validates(tmp_path):
    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks
    for block in blocks:
        path = tmp_path / "readme.yaml"
        path.write_text(block)
        Experiment.from_yaml(path)


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "examples").rglob("*.yaml")),
    ids=lambda p: str(p.relative_to(ROOT / "examples")),
)
def test_example_experiments_validate(path):
    experiment = Experiment.from_yaml(path)
    assert experiment.jobs


def test_public_api_is_exactly_all():
    exported = {name for name in dir(palaestra) if not name.startswith("_")}
    modules = {
        "core",
        "models",
        "tools",
        "boundaries",
        "operators",
        "envs",
        "config",
        "runtime",
        "studies",
        "store",
        "cli",
        "testing",
        "systems",
        "eval",
        "assurance",
        "viewer",
        "train",
        "sandbox",
    }
    assert exported - modules == set(palaestra.__all__) - {"__version__"}
    for name in palaestra.__all__:
        assert hasattr(palaestra, name)
