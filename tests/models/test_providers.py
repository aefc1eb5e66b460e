"""Model providers from outside packages: `register_provider` (a module given with
`--import`), entry points in group `palaestra.models`, one registry that the spec parser,
the experiment's validation and the `--model` flag all ask."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from palaestra.cli._main import main
from palaestra.core import Registry, UserError
from palaestra.models import (
    ModelProvider,
    ScriptedModel,
    _spec,
    model_from_spec,
    register_provider,
    spec_problem,
)
from palaestra.models._spec import spec_forms
from palaestra.runtime import Experiment

PROVIDER_MODULE = '''
from palaestra.models import ModelProvider, ScriptedModel, register_provider

def build(name, *, spec, base_url=None, **options):
    """Always answers the text after the colon."""
    return ScriptedModel([name or "nothing"], cycle=True, name=spec, **options)

register_provider(ModelProvider("echo", build, "echo:TEXT"))
'''


@pytest.fixture
def providers(tmp_path, monkeypatch):
    """A private provider registry (the built-ins in it) and `tmp_path` importable."""
    fresh = Registry(
        "model provider",
        "palaestra.models",
        adapt=_spec._as_provider,
        same=_spec._same_provider,
    )
    fresh.entries.update(_spec.PROVIDERS.entries)
    monkeypatch.setattr(_spec, "PROVIDERS", fresh)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "echoprov.py").write_text(textwrap.dedent(PROVIDER_MODULE))
    yield tmp_path
    sys.modules.pop("echoprov", None)


def _echo(name, *, spec, base_url=None, **options):
    return ScriptedModel([name or ""], name=spec)


def test_a_registered_provider_is_one_more_spec_form(providers) -> None:
    assert "unknown model spec 'echo:hi'" in (spec_problem("echo:hi") or "")
    register_provider(ModelProvider("echo", _echo, "echo:TEXT"))
    register_provider(ModelProvider("echo", _echo, "echo:TEXT"))  # again: accepted
    with pytest.raises(UserError, match="'echo' is already registered"):
        register_provider(ModelProvider("echo", lambda name, **kw: None))
    assert spec_problem("echo:hi") is None
    assert "echo:TEXT" in spec_forms() and "openai:NAME" in spec_forms()
    model = model_from_spec("echo:hi")
    assert isinstance(model, ScriptedModel) and model.name == "echo:hi"
    # built-ins are entries of the same registry, not a separate list
    assert isinstance(model_from_spec("scripted:yes"), ScriptedModel)
    with pytest.raises(UserError, match="lacks a model name"):
        model_from_spec("openai:")


def test_an_experiment_validates_against_the_registry(providers) -> None:
    config = {
        "models": {"m": {"spec": "echo:42"}},
        "jobs": [{"env": "arith.drill", "operator": {"kind": "llm", "model": "m"}}],
    }
    with pytest.raises(ValueError, match="unknown model spec 'echo:42'.*palaestra.models"):
        Experiment.model_validate(config)
    import echoprov  # noqa: F401  (registers `echo`)

    assert Experiment.model_validate(config).models["m"].spec == "echo:42"


def test_entry_point_providers_load_by_prefix(providers) -> None:
    info = providers / "echo_models-2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-models\nVersion: 2.0\n")
    (info / "entry_points.txt").write_text(
        "[palaestra.models]\nparrot = echoprov:build\nbroken = no_such_provider_mod:build\n"
    )
    assert "echoprov" not in sys.modules
    model = model_from_spec("parrot:polly")
    assert isinstance(model, ScriptedModel) and model.name == "parrot:polly"
    assert "echoprov" in sys.modules
    with pytest.raises(UserError, match="from distribution 'echo-models 2.0' failed to import"):
        model_from_spec("broken:x")


def test_cli_model_and_import(providers, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp.yaml").write_text(
        "jobs:\n  - env: arith.drill\n    tasks: 1\n    operator: {kind: llm, model: default}\n"
    )
    args = ["run", "exp.yaml", "--model", "echo:7", "--store", "s.db", "--quiet"]
    assert main(args) == 2
    assert "--model 'echo:7': unknown model spec 'echo:7'" in capsys.readouterr().err
    assert main([*args, "--import", "echoprov"]) == 0
    assert "arith.drill" in capsys.readouterr().out


def test_a_provider_by_reference(providers, tmp_path, capsys) -> None:
    """``package.module:Name`` names a provider (its build function or a
    `ModelProvider`) with nothing registered; ``...:Name:MODEL`` passes a model name;
    a prefix typo stays an unknown spec, not a missing module."""
    model = model_from_spec("echoprov:build:hello")
    assert isinstance(model, ScriptedModel) and model.name == "echoprov:build:hello"
    assert spec_problem("echoprov:build") is None
    assert "unknown model spec 'ehco:hi'" in (spec_problem("ehco:hi") or "")
    with pytest.raises(UserError, match="module 'echoprov' has no attribute 'nothing'"):
        model_from_spec("echoprov:nothing")
    path = tmp_path / "exp.yaml"
    path.write_text(
        "models:\n  m: {spec: 'echoprov:build:42'}\n"
        "jobs:\n  - env: arith.drill\n    seeds: 1\n    operator: {kind: llm, model: m}\n"
    )
    experiment = Experiment.from_yaml(path)
    assert experiment.models["m"].spec == "echoprov:build:42"
    import palaestra
    from palaestra.store import Store

    palaestra.run(experiment, store=tmp_path / "r.db")
    with Store(tmp_path / "r.db") as store:
        run_id = store.resolve_run("last").run_id
        texts = [
            e.payload.action.text
            for ep in store.episodes(run_id)
            for e in store.events(run_id, ep.episode_id)
            if e.kind == "action"
        ]
    assert texts == ["42"]
    path.write_text(path.read_text().replace("echoprov:build:42", "echoprov:bulid:42"))
    with pytest.raises(UserError, match=r"exp.yaml:2: models.m.spec: .*no attribute 'bulid'"):
        Experiment.from_yaml(path)
