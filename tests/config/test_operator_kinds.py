"""Operator kinds as plugins (`runtime.OPERATORS`): a kind registered here is validated
by its own config model from YAML (errors located at the line), built through the
registry and run, also as a member of a system; the built-in kinds are entries of the
same registry; registration errors (a taken name, a config without `kind`, an unknown
kind with close matches)."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

import palaestra
from palaestra.core import Action, ConfigError, Context, Observation, Operator, UserError
from palaestra.runtime import (
    OPERATORS,
    BaselineOperatorConfig,
    Experiment,
    OperatorBuild,
    register_operator_kind,
)


class AdderConfig(BaseModel):
    """`test.adder`: adds `n` per step until the counter reaches `stop`, then DONE."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["test.adder"] = "test.adder"
    n: int = Field(ge=1)
    stop: int = 3


class Adder:
    def __init__(self, n: int, stop: int, agent: str):
        self.n, self.stop, self.agent = n, stop, agent

    async def act(self, observation: Observation, ctx: Context) -> Action:
        if observation.data["counter"] >= self.stop:
            return Action(text="DONE")
        call = {"id": f"{self.agent}-{ctx.step}", "name": "add", "arguments": {"n": self.n}}
        return Action(tool_calls=[call])


def build_adder(config: AdderConfig, build: OperatorBuild) -> Operator:
    assert build.env_spec.id == "test.counter" and build.params.target == 3
    return Adder(config.n, config.stop, build.agent)


def other_build(config: AdderConfig, build: OperatorBuild) -> Operator:
    return build_adder(config, build)


@pytest.fixture
def adder():
    register_operator_kind("test.adder", AdderConfig, build_adder)
    yield
    OPERATORS.entries.pop("test.adder", None)


def _write(tmp_path, operator: str):
    path = tmp_path / "exp.yaml"
    path.write_text(f"jobs:\n  - env: test.counter\n    tasks: 1\n    operator:\n{operator}")
    return path


@pytest.mark.parametrize(("n", "outcome"), [(1, "success"), (2, "failure")])
def test_a_registered_kind_runs_from_yaml(adder, tmp_path, n, outcome):
    exp = Experiment.from_yaml(_write(tmp_path, f"      kind: test.adder\n      n: {n}\n"))
    assert exp.jobs[0].operator == AdderConfig(n=n)
    assert Experiment.model_validate(exp.model_dump(mode="json", by_alias=True)) == exp
    (row,) = palaestra.run(exp, store=tmp_path / "runs.db").episodes
    assert row.outcome == outcome, row.error  # 1+1+1 reaches 3; 2+2 passes it


def test_a_registered_kind_is_a_system_member_and_a_shorthand(adder, tmp_path):
    operator = (
        "      topology: independent\n"
        "      members:\n"
        "        a: {kind: test.adder, n: 1}\n"
        "        b: {kind: test.adder, n: 1}\n"
        "        c: baseline\n"
    )
    exp = Experiment.from_yaml(_write(tmp_path, operator))
    assert exp.jobs[0].operator.members["c"] == BaselineOperatorConfig()
    (row,) = palaestra.run(exp, store=tmp_path / "runs.db").episodes
    assert row.outcome == "success", row.error


def test_its_own_model_validates_its_fields_at_their_line(adder, tmp_path):
    path = _write(tmp_path, "      kind: test.adder\n      n: 0\n")
    with pytest.raises(ConfigError) as info:
        Experiment.from_yaml(path)
    assert str(info.value).startswith(f"{path}:6: jobs.0.operator.n: Input should be ")
    path = _write(tmp_path, "      kind: test.adder\n      n: 1\n      m: 2\n")
    with pytest.raises(ConfigError, match=r"exp.yaml:7: jobs.0.operator.m: unknown field"):
        Experiment.from_yaml(path)


def test_an_unknown_kind_lists_close_matches(tmp_path):
    path = _write(tmp_path, "      kind: scriptd\n")
    with pytest.raises(ConfigError) as info:
        Experiment.from_yaml(path)
    message = str(info.value)
    assert message.startswith(
        f"{path}:5: jobs.0.operator.kind: unknown operator kind 'scriptd'; did you mean "
        "'scripted'? known: baseline, human, llm, python, scripted, system."
    )
    assert "entry point in group 'palaestra.operators'" in message


def test_a_taken_name_is_refused_unless_it_is_the_same_registration(adder):
    register_operator_kind("test.adder", AdderConfig, build_adder)  # imported twice
    with pytest.raises(UserError) as info:
        register_operator_kind("test.adder", AdderConfig, other_build)
    message = str(info.value)
    assert "operator kind 'test.adder' is already registered to " in message
    assert "test_operator_kinds:build_adder" in message
    assert "test_operator_kinds:other_build" in message
    with pytest.raises(UserError, match="operator kind 'llm' is already registered"):
        register_operator_kind("llm", AdderConfig, build_adder)
    with pytest.raises(UserError, match="'system' is the multi-agent systems'"):
        register_operator_kind("system", AdderConfig, build_adder)
    register_operator_kind("test.adder", AdderConfig, other_build, replace=True)
    assert OPERATORS.get("test.adder").build is other_build


def test_bad_registrations():
    class NoKind(BaseModel):
        n: int

    with pytest.raises(UserError, match="has no `kind` field"):
        register_operator_kind("test.nokind", NoKind, build_adder)
    with pytest.raises(UserError, match="is not a pydantic model"):
        register_operator_kind("test.dict", dict, build_adder)
    with pytest.raises(UserError, match="a kind is letters, digits"):
        register_operator_kind("a b", AdderConfig, build_adder)
    with pytest.raises(UserError, match="is not a palaestra OperatorKind"):
        OPERATORS.register("test.bad", build_adder)
    assert not {"test.nokind", "test.dict", "test.bad"} & set(OPERATORS.names())

    @register_operator_kind("test.decorated", AdderConfig)
    def build(config: AdderConfig, build: OperatorBuild) -> Operator:
        return build_adder(config, build)

    try:
        assert OPERATORS.get("test.decorated").build is build
    finally:
        OPERATORS.entries.pop("test.decorated", None)
