"""Experiment files: validation errors name the file, the line, the field and the valid
choices; unknown environments list the registered ones."""

from __future__ import annotations

import pytest

import palaestra
from palaestra.core import ConfigError, UserError
from palaestra.runtime import Experiment, LLMOperatorConfig

GOOD = """\
name: good
seed: 3
models:
  small: {spec: "scripted", temperature: 0.1}
jobs:
  - env: graph.coloring
    params: {n: 6}
    tasks: 2
    seeds: [4, 5]
  - env: tooluse.store
    label: shop
    operator: {kind: llm, model: small, max_tool_rounds: 2}
    agents:
      agent: baseline
"""


def _write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_good_file_builds_the_same_objects_as_python(tmp_path):
    exp = Experiment.from_yaml(_write(tmp_path, GOOD))
    assert exp.seed == 3 and exp.jobs[0].seed_list() == [4, 5]
    assert exp.jobs[0].label == "graph.coloring" and exp.jobs[1].label == "shop"
    assert isinstance(exp.jobs[1].operator, LLMOperatorConfig)
    assert exp.jobs[1].agents["agent"].kind == "baseline"
    assert exp.models["small"].temperature == 0.1


def test_unknown_field_names_file_and_line(tmp_path):
    path = _write(tmp_path, GOOD.replace("    tasks: 2\n", "    taks: 2\n"))
    with pytest.raises(ConfigError) as info:
        Experiment.from_yaml(path)
    assert f"{path}:8: jobs.0.taks: unknown field" in str(info.value)


def test_bad_operator_kind_lists_valid_kinds(tmp_path):
    path = _write(tmp_path, GOOD.replace("{kind: llm,", "{kind: robot,"))
    with pytest.raises(ConfigError) as info:
        Experiment.from_yaml(path)
    message = str(info.value)
    assert f"{path}:12: jobs.1.operator" in message
    assert f"{path}:12: jobs.1.operator.kind: unknown operator kind 'robot'; known: " in message
    assert "known: baseline, human, llm, python, scripted, system. An outside" in message


def test_wrong_type_names_line_and_field(tmp_path):
    path = _write(tmp_path, GOOD.replace("seed: 3", "seed: three"))
    with pytest.raises(ConfigError, match=rf"{path}:2: seed: Input should be a valid integer"):
        Experiment.from_yaml(path)


def test_undefined_model_name(tmp_path):
    path = _write(tmp_path, GOOD.replace("model: small", "model: big"))
    with pytest.raises(
        ConfigError,
        match=r"exp.yaml:12: jobs.1.operator.model: 'big' is neither a name under "
        r"`models:` \(small\)",
    ):
        Experiment.from_yaml(path)


def test_invalid_yaml_and_empty_file(tmp_path):
    with pytest.raises(ConfigError, match=r"exp.yaml:4: invalid YAML: .*expected .,. or .\]."):
        Experiment.from_yaml(_write(tmp_path, "name: x\njobs:\n  - env: [unclosed\n"))
    with pytest.raises(ConfigError, match="empty"):
        Experiment.from_yaml(_write(tmp_path, ""))
    with pytest.raises(ConfigError, match="missing.yaml: no such experiment file"):
        Experiment.from_yaml(tmp_path / "missing.yaml")


def test_unknown_env_lists_registered(tmp_path):
    path = _write(tmp_path, GOOD.replace("env: graph.coloring", "env: graph.colouring"))
    with pytest.raises(UserError) as info:
        palaestra.run(path, store=tmp_path / "db.sqlite")
    assert "unknown environment 'graph.colouring'" in str(info.value)
    assert "graph.coloring" in str(info.value) and "tooluse.store" in str(info.value)


def test_bad_env_params_and_task_ids(tmp_path):
    path = _write(tmp_path, GOOD.replace("params: {n: 6}", "params: {n: 6, colours: 3}"))
    with pytest.raises(UserError, match=r"invalid parameters for environment 'graph.coloring'"):
        palaestra.run(path, store=tmp_path / "db.sqlite")
    path = _write(tmp_path, GOOD.replace("tasks: 2", "tasks: [nope]"))
    with pytest.raises(UserError, match=r"unknown task ids \['nope'\]"):
        palaestra.run(path, store=tmp_path / "db.sqlite")


def test_baseline_missing_is_reported_before_running(tmp_path):
    from palaestra.envs import EnvSpec, register
    from tests.runtime.toy_env import CounterEnv, CounterParams

    register(EnvSpec(id="test.nobaseline", factory=CounterEnv, params=CounterParams), replace=True)
    with pytest.raises(ConfigError, match="has no baseline operator"):
        palaestra.run({"jobs": [{"env": "test.nobaseline"}]}, store=tmp_path / "db.sqlite")
