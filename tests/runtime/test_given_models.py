"""`palaestra.run(models=...)`: a ready model passed in satisfies a name the experiment
does not declare under `models:`, and replaces one it does declare."""

from __future__ import annotations

import pytest

import palaestra
from palaestra.core import ConfigError
from palaestra.models import ScriptedModel
from palaestra.runtime import Experiment, load_experiment

_UNDECLARED = {
    "name": "given",
    "jobs": [{"env": "test.counter", "operator": {"kind": "llm", "model": "smart"}}],
}


def _solver() -> ScriptedModel:
    return ScriptedModel([ScriptedModel.call("add", n=3), "DONE"])


def test_a_given_model_satisfies_an_undeclared_name(db_path):
    result = palaestra.run(dict(_UNDECLARED), store=db_path, models={"smart": _solver()})
    (row,) = result.episodes
    assert row.outcome == "success" and row.steps == 2


def test_a_given_model_satisfies_an_undeclared_name_in_a_yaml_file(db_path, tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(
        "name: given\njobs:\n  - env: test.counter\n    operator: {kind: llm, model: smart}\n"
    )
    result = palaestra.run(path, store=db_path, models={"smart": _solver()})
    assert [row.outcome for row in result.episodes] == ["success"]


def test_without_the_given_model_the_undeclared_name_is_still_an_error():
    with pytest.raises(ConfigError, match="'smart' is neither a name under `models:`"):
        load_experiment(dict(_UNDECLARED))


def test_a_given_model_replaces_a_declared_one(db_path):
    declared = {
        **_UNDECLARED,
        # a declared model that would fail the episode if it were used
        "models": {"smart": {"spec": "scripted", "replies": ["DONE"]}},
    }
    result = palaestra.run(declared, store=db_path, models={"smart": _solver()})
    (row,) = result.episodes
    assert row.outcome == "success" and row.steps == 2


def test_load_experiment_accepts_the_given_names():
    exp = load_experiment(dict(_UNDECLARED), given_models=["smart"])
    assert isinstance(exp, Experiment) and "smart" not in exp.models
