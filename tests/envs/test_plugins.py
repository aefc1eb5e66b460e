"""Environments from outside packages: `package.module:Name` ids, Gymnasium-style
`register(id=..., entry_point=...)`, entry points in group `palaestra.envs`, `--import`,
and the error for an id nobody knows."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from palaestra.cli._main import main
from palaestra.core import Registry, UserError
from palaestra.envs import EnvSpec, _registry, get_spec, register, registered

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SRC = ROOT / "examples" / "plugin" / "src"

FACTORY_MODULE = '''
from palaestra_example_plugin.ledger import LedgerEnv, LedgerParams

def make_ledger(entries: int = 3, num_tasks: int = 2):
    """A short ledger, built from keyword parameters."""
    return LedgerEnv(LedgerParams(entries=entries, num_tasks=num_tasks))

def other_ledger(entries: int = 9):
    return LedgerEnv(LedgerParams(entries=entries))
'''


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """A private registry (built-ins loaded), the example plugin and `tmp_path` importable,
    and a fresh entry-point group; `write(name, code)` adds a module."""
    _registry._load_builtins()
    fresh = Registry(
        "environment",
        "palaestra.envs",
        adapt=_registry.spec_from_object,
        same=_registry._same,
        builtins=_registry._load_builtins,
    )
    fresh.entries.update(_registry.ENVIRONMENTS.entries)
    monkeypatch.setattr(_registry, "ENVIRONMENTS", fresh)
    monkeypatch.setattr("palaestra.envs.ENVIRONMENTS", fresh)  # what `palaestra envs` lists
    monkeypatch.setattr(_registry, "_REGISTRY", fresh.entries)
    monkeypatch.syspath_prepend(str(PLUGIN_SRC))
    monkeypatch.syspath_prepend(str(tmp_path))
    written: list[str] = []

    def write(name: str, code: str) -> None:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(code))
        written.append(name)

    yield write
    for name in written:
        sys.modules.pop(name, None)


def test_a_reference_imports_its_module_on_demand(plugins) -> None:
    plugins("refplug", FACTORY_MODULE)
    assert "refplug" not in sys.modules
    spec = get_spec("refplug:make_ledger")
    assert "refplug" in sys.modules
    assert spec.id == "refplug:make_ledger"
    assert spec.description == "A short ledger, built from keyword parameters."
    # keyword parameters become the validated parameters, with their defaults
    assert [(p["name"], p["default"]) for p in spec.describe_params()] == [
        ("entries", 3),
        ("num_tasks", 2),
    ]
    env = spec.make(entries=4)
    assert env.tasks() == ["ledger-0", "ledger-1"]
    assert env.params.entries == 4  # type: ignore[attr-defined]
    with pytest.raises(UserError, match="entries"):
        spec.make(entries="many")
    with pytest.raises(UserError, match="colour"):
        spec.make(colour=1)  # an unknown parameter is refused, not ignored


def test_a_class_taking_a_params_model_and_an_envspec_resolve(plugins) -> None:
    by_class = get_spec("palaestra_example_plugin.ledger:LedgerEnv")
    assert by_class.params.__name__ == "LedgerParams"
    assert by_class.make(entries=2).params.entries == 2  # type: ignore[attr-defined]
    by_spec = get_spec("palaestra_example_plugin.ledger:LEDGER")
    assert by_spec.baseline is not None  # the EnvSpec's own baseline comes with it


def test_bad_references_name_what_is_missing(plugins) -> None:
    with pytest.raises(UserError, match="no module named 'no_such_pkg'"):
        get_spec("no_such_pkg.envs:Env")
    with pytest.raises(UserError, match="has no attribute 'Missing'"):
        get_spec("palaestra_example_plugin.ledger:Missing")
    with pytest.raises(UserError, match="not an EnvSpec, an environment class or a factory"):
        get_spec("palaestra_example_plugin.ledger:READ_ENTRY")


def test_gymnasium_style_register_is_lazy_and_idempotent(plugins) -> None:
    plugins("lazyplug", FACTORY_MODULE)
    register(id="lazy.ledger", entry_point="lazyplug:make_ledger")
    register(id="lazy.ledger", entry_point="lazyplug:make_ledger")  # a re-import: accepted
    assert "lazyplug" not in sys.modules
    with pytest.raises(UserError, match="already registered to lazyplug:make_ledger"):
        register(id="lazy.ledger", entry_point="lazyplug:other_ledger")
    assert get_spec("lazy.ledger").make().tasks() == ["ledger-0", "ledger-1"]
    assert "lazyplug" in sys.modules
    register(id="lazy.ledger", entry_point="lazyplug:make_ledger")  # still the same one
    register(id="lazy.ledger", entry_point="lazyplug:other_ledger", replace=True)
    assert get_spec("lazy.ledger").make().params.entries == 9  # type: ignore[attr-defined]


def test_registering_the_same_spec_again_is_accepted_a_different_one_refused(plugins) -> None:
    from palaestra_example_plugin.ledger import LEDGER, LedgerEnv, LedgerParams

    register(LEDGER)
    register(LEDGER)
    # a module imported twice (as __main__ and by name) builds equal-named new objects
    again = EnvSpec(LEDGER.id, LedgerEnv, LedgerParams, baseline=LEDGER.baseline)
    register(again)
    with pytest.raises(UserError, match="already registered"):
        register(EnvSpec(LEDGER.id, lambda params: LedgerEnv(params), LedgerParams))


def _install_fake_distribution(root: Path, entry_points: str) -> None:
    info = root / "fake_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_entry_points_load_lazily_once_and_name_a_broken_distribution(plugins, tmp_path) -> None:
    plugins("epplug", FACTORY_MODULE)
    _install_fake_distribution(
        tmp_path,
        """
        [palaestra.envs]
        fake.ledger = epplug:make_ledger
        fake.spec = palaestra_example_plugin.ledger:LEDGER
        fake.broken = no_such_module_for_palaestra:Env
        """,
    )
    assert "epplug" not in sys.modules
    spec = get_spec("fake.ledger")
    assert spec.id == "fake.ledger" and "epplug" in sys.modules
    assert get_spec("fake.ledger") is spec  # loaded once
    assert get_spec("fake.spec").baseline is not None
    with pytest.raises(UserError) as info:
        get_spec("fake.broken")
    message = str(info.value)
    assert "'fake.broken'" in message and "'fake-plugin 1.0'" in message
    assert "failed to import" in message and "no_such_module_for_palaestra" in message
    with pytest.raises(UserError, match="fake-plugin 1.0"):
        registered()  # a listing loads every plugin, and says which one is broken


def test_unknown_id_suggests_close_matches_and_how_to_plug_in(plugins, tmp_path) -> None:
    _install_fake_distribution(tmp_path, "[palaestra.envs]\nfake.ledger = epplug:make_ledger\n")
    with pytest.raises(UserError) as info:
        get_spec("fake.ledgr")
    message = str(info.value)
    assert "unknown environment 'fake.ledgr'; did you mean 'fake.ledger'" in message
    assert "graph.coloring" in message  # every known id is listed
    assert "package.module:Name" in message and "--import MODULE" in message
    assert "'palaestra.envs'" in message and "docs/extending.md" in message


def test_cli_import_registers_before_the_command(plugins, capsys) -> None:
    plugins(
        "scriptplug",
        """
        from palaestra.envs import register
        from palaestra_example_plugin.ledger import LedgerEnv, LedgerParams

        register(id="script.ledger", entry_point=LedgerEnv, params=LedgerParams)
        """,
    )
    assert main(["envs", "--import", "scriptplug"]) == 0
    out = capsys.readouterr().out
    assert "script.ledger  (no baseline)  Add up a ledger read one entry at a time" in out
    assert "    entries: int (default 5) entries in each ledger" in out
    assert main(["envs", "--import", "no_such_script"]) == 2
    assert "error: --import no_such_script: no module named 'no_such_script'" in (
        capsys.readouterr().err
    )


def test_envs_json_shows_defaults_built_by_a_factory(plugins, capsys) -> None:
    import json

    from palaestra_example_plugin.ledger import LedgerEnv
    from pydantic import BaseModel, Field

    class Params(BaseModel):
        weights: list[int] = Field(default_factory=lambda: [1, 2], description="weights")

    register(EnvSpec("factory.defaults", lambda params: LedgerEnv(params), Params))
    assert main(["envs", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["factory.defaults"]["params"]
    assert listed == [
        {
            "name": "weights",
            "type": "list[int]",
            "default": [1, 2],
            "required": False,
            "description": "weights",
        }
    ]
