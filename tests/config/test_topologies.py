"""Topologies as plugins (`runtime.TOPOLOGIES`): one registered here is validated by its
own config model from YAML (errors located at the line), built through the registry and
run; the built-ins are entries of the same registry; registration errors (a taken name,
a config that is not a `SystemBase`, an unknown name with close matches)."""

from __future__ import annotations

import pytest
from pydantic import Field

import palaestra
from palaestra.core import Action, ConfigError, Context, Observation, Operator, UserError
from palaestra.runtime import (
    TOPOLOGIES,
    Experiment,
    Members,
    SingleSystemConfig,
    SystemBase,
    Topology,
    register_topology,
)


class RelayConfig(SystemBase):
    """`test.relay`: `lead` plays the first `handover` steps, then `relief`."""

    lead: str
    relief: str
    handover: int = Field(1, ge=1)

    def roles(self) -> list[tuple[str, str]]:
        return [("lead", self.lead), ("relief", self.relief)]


class Relay:
    def __init__(self, lead: Operator, relief: Operator, handover: int):
        self.lead, self.relief, self.handover, self.steps = lead, relief, handover, 0

    async def act(self, observation: Observation, ctx: Context) -> Action:
        member = self.lead if self.steps < self.handover else self.relief
        self.steps += 1
        return await member.act(observation, ctx)


def build_relay(config: RelayConfig, members: Members) -> Operator:
    return Relay(
        members(config.lead, agent=members.agent),
        members(config.relief, agent=members.agent),
        config.handover,
    )


def other_build(config: RelayConfig, members: Members) -> Operator:
    return build_relay(config, members)


RELAY = Topology("test.relay", RelayConfig, build_relay)
"""What `topology: tests.config.test_topologies:RELAY` names."""


@pytest.fixture
def relay():
    register_topology("test.relay", RelayConfig, build_relay)
    yield
    TOPOLOGIES.entries.pop("test.relay", None)


def _experiment(tmp_path, n: int, topology: str = "test.relay", extra: str = ""):
    path = tmp_path / "exp.yaml"
    path.write_text(
        "jobs:\n"
        "  - env: test.counter\n"
        "    tasks: 1\n"
        "    operator:\n"
        f"      topology: {topology}\n"
        "      lead: first\n"
        "      relief: rest\n"
        f"{extra}"
        "      members:\n"
        "        first:\n"
        "          kind: scripted\n"
        f"          actions: [{{tool_calls: [{{id: c0, name: add, arguments: {{n: {n}}}}}]}}]\n"
        "        rest: baseline\n"
    )
    return path


@pytest.mark.parametrize(("n", "outcome", "steps"), [(2, "success", 3), (5, "failure", 2)])
def test_a_registered_topology_runs_from_yaml(relay, tmp_path, n, outcome, steps):
    exp = Experiment.from_yaml(_experiment(tmp_path, n))
    config = exp.jobs[0].operator
    assert isinstance(config, RelayConfig) and config.handover == 1
    # what a run records validates back to the same config
    assert Experiment.model_validate(exp.model_dump(mode="json", by_alias=True)) == exp
    result = palaestra.run(exp, store=tmp_path / "runs.db")
    (row,) = result.episodes
    # the lead's add decides: the baseline relief adds 1 up to the target (3), then says
    # DONE; past it (5), it says DONE at once
    assert (row.outcome, row.steps) == (outcome, steps), row.error


def test_its_own_model_validates_its_fields_at_their_line(relay, tmp_path):
    path = _experiment(tmp_path, 2, extra="      handover: 0\n")
    with pytest.raises(ConfigError) as info:
        Experiment.from_yaml(path)
    assert str(info.value).startswith(f"{path}:8: jobs.0.operator.handover: Input should be ")
    path = _experiment(tmp_path, 2, extra="      hand_over: 2\n")
    with pytest.raises(ConfigError, match=r"exp.yaml:8: jobs.0.operator.hand_over: unknown"):
        Experiment.from_yaml(path)
    path = _experiment(tmp_path, 2)
    path.write_text(path.read_text().replace("relief: rest", "relief: first"))
    with pytest.raises(ConfigError, match=r"exp.yaml:7: jobs.0.operator.relief: member 'first'"):
        Experiment.from_yaml(path)


def test_a_reference_names_a_topology_object(tmp_path):
    name = "tests.config.test_topologies:RELAY"
    exp = Experiment.from_yaml(_experiment(tmp_path, 2, topology=name))
    assert isinstance(exp.jobs[0].operator, RelayConfig)
    (row,) = palaestra.run(exp, store=tmp_path / "runs.db").episodes
    assert row.outcome == "success", row.error
    TOPOLOGIES.entries.pop(name, None)


def test_an_unknown_topology_lists_close_matches(tmp_path):
    path = _experiment(tmp_path, 2, topology="hybird")
    with pytest.raises(ConfigError) as info:
        Experiment.from_yaml(path)
    message = str(info.value)
    assert message.startswith(
        f"{path}:5: jobs.0.operator.topology: unknown topology 'hybird'; did you mean 'hybrid'?"
    )
    assert "entry point in group 'palaestra.topologies'" in message


def test_the_built_ins_are_registry_entries():
    assert {"single", "independent", "centralized", "decentralized", "hybrid"} | {
        "recursive",
        "pipeline",
    } <= set(TOPOLOGIES.names())
    single = TOPOLOGIES.get("single")
    assert single.config is SingleSystemConfig and single.name == "single"


def test_a_taken_name_is_refused_unless_it_is_the_same_registration(relay):
    register_topology("test.relay", RelayConfig, build_relay)  # a module imported twice
    with pytest.raises(UserError) as info:
        register_topology("test.relay", RelayConfig, other_build)
    message = str(info.value)
    assert "topology 'test.relay' is already registered to " in message
    assert "test_topologies:build_relay" in message and "test_topologies:other_build" in message
    with pytest.raises(UserError, match="topology 'single' is already registered"):
        register_topology("single", RelayConfig, build_relay)
    register_topology("test.relay", RelayConfig, other_build, replace=True)
    assert TOPOLOGIES.get("test.relay").build is other_build


def test_the_decorator_form_and_bad_registrations():
    @register_topology("test.decorated", RelayConfig)
    def build(config: RelayConfig, members: Members) -> Operator:
        return build_relay(config, members)

    try:
        assert TOPOLOGIES.get("test.decorated").build is build
        assert TOPOLOGIES.get("test.decorated").description.startswith("`test.relay`: `lead`")
    finally:
        TOPOLOGIES.entries.pop("test.decorated", None)
    with pytest.raises(UserError, match="is not a subclass of palaestra.config.SystemBase"):
        register_topology("test.bad", dict, build_relay)
    with pytest.raises(UserError, match="a topology name is non-empty"):
        register_topology("a/b", RelayConfig, build_relay)
    with pytest.raises(UserError, match="is not a palaestra Topology"):
        TOPOLOGIES.register("test.bad", build_relay)
    assert "test.bad" not in TOPOLOGIES.names()
