"""The `system` operator kind: every topology from YAML (and the same objects from Python),
errors that name the file, the line and the valid choices, the builder (nesting, named
systems, per-member models, fresh members per episode) and scripted replies in YAML."""

from __future__ import annotations

import asyncio

import pytest

import palaestra
from palaestra.core import ConfigError, Message
from palaestra.models import ModelRequest
from palaestra.runtime import (
    CentralizedSystemConfig,
    Experiment,
    IndependentSystemConfig,
    Job,
    LLMOperatorConfig,
    ModelConfig,
    PipelineStageConfig,
    PipelineSystemConfig,
    SystemRefConfig,
)
from palaestra.runtime._build import scripted_from_config
from palaestra.store import Store
from palaestra.systems import Centralized, Independent, Pipeline, Recursive

MAS = "params: {depth: 1, horizon: 1, breadth: 1, parallel: 1, instances: 1}"

GOOD = f"""\
name: systems
models:
  m: {{spec: scripted, replies: ["ok"]}}
systems:
  vote:
    topology: independent
    members:
      a: {{kind: llm, model: m}}
      b: {{kind: llm, model: m}}
  debate:
    topology: decentralized
    rounds: 3
    edges: [[a, b]]
    members:
      a: {{kind: llm, model: m}}
      b: {{kind: llm, model: m}}
  team:
    topology: centralized
    orchestrator: boss
    members:
      boss: {{kind: llm, model: m}}
      voters: vote
      coder: {{kind: llm, model: m, max_tool_rounds: 2}}
jobs:
  - env: mas.controlled
    {MAS}
    operator: team
  - env: mas.controlled
    label: roma
    {MAS}
    operator:
      topology: recursive
      max_depth: 1
      atomizer: at
      planner: pl
      executor: ex
      aggregator: ag
      members:
        at: {{kind: llm, model: m}}
        pl: {{kind: llm, model: m}}
        ex: {{kind: llm, model: m}}
        ag: {{kind: llm, model: m}}
  - env: mas.controlled
    label: sop
    {MAS}
    operator:
      topology: pipeline
      stages:
        - {{member: w, schema: "pydantic:BaseModel", instructions: "write"}}
        - {{name: review, member: r}}
      members:
        w: {{kind: llm, model: m}}
        r: baseline
  - env: mas.controlled
    label: mixed
    {MAS}
    operator:
      topology: hybrid
      coordinator: lead
      peer_rounds: 0
      members:
        lead: {{kind: llm, model: m}}
        x: {{kind: llm, model: m}}
        y: {{topology: single, members: {{solo: {{kind: llm, model: m}}}}}}
"""


def _write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def _error(tmp_path, text) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        Experiment.from_yaml(path)
    return str(info.value).replace(str(path), "exp.yaml")


def test_every_topology_loads_with_its_defaults(tmp_path):
    exp = Experiment.from_yaml(_write(tmp_path, GOOD))
    vote, debate, team = exp.systems["vote"], exp.systems["debate"], exp.systems["team"]
    assert isinstance(vote, IndependentSystemConfig)
    assert vote.voters == ["a", "b"] and vote.aggregate == "majority"
    assert debate.peers == ["a", "b"] and debate.rounds == 3 and debate.edges == [("a", "b")]
    assert isinstance(team, CentralizedSystemConfig)
    assert team.workers == ["voters", "coder"]  # every member but the orchestrator
    assert team.members["voters"] == SystemRefConfig(use="vote")
    assert exp.jobs[0].operator == SystemRefConfig(use="team")
    sop = exp.jobs[2].operator
    assert isinstance(sop, PipelineSystemConfig)
    assert [(s.name, s.member, s.schema_) for s in sop.stages] == [
        ("w", "w", "pydantic:BaseModel"),
        ("review", "r", None),
    ]
    assert sop.members["r"].kind == "baseline"
    mixed = exp.jobs[3].operator
    assert mixed.workers == ["x", "y"] and mixed.members["y"].topology == "single"


def test_python_objects_equal_the_yaml(tmp_path):
    exp = Experiment.from_yaml(_write(tmp_path, GOOD))
    m = LLMOperatorConfig(model="m")
    vote = IndependentSystemConfig(members={"a": m, "b": m})
    team = CentralizedSystemConfig(
        orchestrator="boss",
        members={
            "boss": m,
            "voters": SystemRefConfig(use="vote"),
            "coder": LLMOperatorConfig(model="m", max_tool_rounds=2),
        },
    )
    assert exp.systems["vote"] == vote and exp.systems["team"] == team
    sop = PipelineSystemConfig(
        stages=[
            PipelineStageConfig(member="w", schema="pydantic:BaseModel", instructions="write"),
            PipelineStageConfig(name="review", member="r"),
        ],
        members={"w": m, "r": {"kind": "baseline"}},
    )
    assert exp.jobs[2].operator == sop
    # and the round trip through JSON data (what a run records) gives the same
    again = Experiment.model_validate(exp.model_dump(mode="json", by_alias=True))
    assert again == exp


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "topology: independent",
            "topology: star",
            "exp.yaml:6: systems.vote.topology: unknown topology 'star'; known: centralized, "
            "decentralized, hybrid, independent, pipeline, recursive, single. An outside "
            "topology is named package.module:Name, or registered by a module given with "
            "--import MODULE, or by an installed package's entry point in group "
            "'palaestra.topologies'",
        ),
        (
            "orchestrator: boss",
            "orchestrator: bos",
            "exp.yaml:19: systems.team.orchestrator: 'bos' is not a member; defined "
            "members: boss, voters, coder",
        ),
        (
            "edges: [[a, b]]",
            "edges: [[a, c]]",
            "exp.yaml:13: systems.debate.edges.0: 'c' is not one of the peers (a, b)",
        ),
        (
            "edges: [[a, b]]",
            "edges: [[a, a]]",
            "exp.yaml:13: systems.debate.edges.0: an edge joins two different peers",
        ),
        (
            "edges: [[a, b]]",
            "edges: [[a, b], [a, b]]",
            "exp.yaml:13: systems.debate.edges.1: edge [a, b] is listed twice",
        ),
        (
            "{name: review, member: r}",
            "{name: review, member: w}",
            "exp.yaml:50: jobs.2.operator.stages.1.member: member 'w' is already used as "
            "stages.0.member; a member plays one role",
        ),
        (
            "        r: baseline\n",
            "        r: baseline\n        extra: baseline\n",
            "exp.yaml:54: jobs.2.operator.members.extra: defined but used by no role of this "
            "pipeline system (an unused member is an error",
        ),
        (
            "pydantic:BaseModel",
            "pydantic:NoSuchModel",
            "exp.yaml:49: jobs.2.operator.stages.0.schema: schema 'pydantic:NoSuchModel' does "
            "not resolve: module 'pydantic' has no attribute 'NoSuchModel'",
        ),
        (
            "pydantic:BaseModel",
            "json:dumps",
            "exp.yaml:49: jobs.2.operator.stages.0.schema: schema 'json:dumps' is <function",
        ),
        (
            "      voters: vote",
            "      voters: vot",
            "exp.yaml:22: systems.team.members.voters: 'vot' is neither an operator kind "
            "(baseline, human, llm, python, scripted, system) nor a system defined under "
            "`systems:` (vote, debate, team)",
        ),
        (
            "      coder: {kind: llm, model: m, max_tool_rounds: 2}",
            "      coder: {kind: system, members: {q: {kind: llm}}}",
            "exp.yaml:23: systems.team.members.coder: a system needs a `topology` "
            "(centralized, decentralized, hybrid, independent, pipeline, recursive, single) "
            "or `use: NAME` of a system defined under `systems:`",
        ),
        (
            "      coder: {kind: llm, model: m, max_tool_rounds: 2}",
            "      coder: {kind: llm, model: big}",
            "exp.yaml:23: systems.team.members.coder.model: 'big' is neither a name under "
            "`models:` (m)",
        ),
        (
            "      boss: {kind: llm, model: m}",
            "      boss: baseline",
            "exp.yaml:19: systems.team.orchestrator: 'boss' is a 'baseline' member; the "
            "orchestrator delegates by calling its workers as tools, so it must be an `llm` "
            "member",
        ),
        (
            "      b: {kind: llm, model: m}\n  debate:",
            "      aggregator: {kind: llm, model: m}\n  debate:",
            "exp.yaml:9: systems.vote.members.aggregator: 'aggregator' is the name of the "
            "independent system's own internal agent; rename this member",
        ),
        (
            "        pl: {kind: llm, model: m}",
            "        pl: {kind: llm, model: m, colour: red}",
            "exp.yaml:40: jobs.1.operator.members.pl.colour: unknown field",
        ),
        (
            "      max_depth: 1",
            "      max_depth: -1",
            "exp.yaml:33: jobs.1.operator.max_depth: Input should be greater than or equal to 0",
        ),
        (
            "      topology: recursive\n",
            "      topology: recursive\n      atomiser: at\n",
            "exp.yaml:33: jobs.1.operator.atomiser: unknown field",
        ),
        (
            '"pydantic:BaseModel"',
            "{answer: str, score: decimal}",
            "exp.yaml:49: jobs.2.operator.stages.0.schema.score: unknown type 'decimal'; "
            "valid: str, int, float, bool, list[str], list[int], list[float], dict",
        ),
        (
            "  m: {spec: scripted,",
            "  m: {spec: 'openai:gpt-4o-mini',",
            "exp.yaml:3: models.m.replies: only a `scripted` model takes replies",
        ),
    ],
)
def test_bad_blocks_name_file_line_and_valid_choices(tmp_path, old, new, expected):
    assert GOOD.count(old) == 1, old
    message = _error(tmp_path, GOOD.replace(old, new))
    assert expected in message, message


def test_a_cycle_between_named_systems_is_an_error(tmp_path):
    text = GOOD.replace("      a: {kind: llm, model: m}\n      b: {kind: llm, model: m}\n  debate:",
                        "      a: {kind: llm, model: m}\n      b: team\n  debate:")  # fmt: skip
    assert "b: team" in text
    message = _error(tmp_path, text)
    assert (
        "exp.yaml:22: systems.team.members.voters: systems use each other in a cycle "
        "(vote -> team -> vote); a system cannot contain itself"
    ) in message, message
    # a system that contains itself directly
    text = GOOD.replace("      voters: vote\n", "      voters: vote\n      again: team\n")
    expected = "exp.yaml:23: systems.team.members.again: systems use each other in a cycle "
    assert expected + "(team -> team)" in _error(tmp_path, text)


def test_system_names_must_not_shadow_operator_kinds(tmp_path):
    text = GOOD.replace("  debate:\n", "  baseline:\n")
    assert "systems.baseline: a system name must not be an operator kind" in _error(tmp_path, text)


def test_errors_from_python_objects_name_the_field(tmp_path):
    with pytest.raises(ConfigError, match=r"jobs\.0\.operator\.workers\.0: 'ghost' is not a"):
        palaestra.run(
            {
                "jobs": [
                    {
                        "env": "mas.controlled",
                        "operator": {
                            "topology": "centralized",
                            "orchestrator": "boss",
                            "workers": ["ghost"],
                            "members": {"boss": {"kind": "llm"}},
                        },
                    }
                ]
            },
            store=tmp_path / "runs.db",
        )


# -- building and running ----------------------------------------------------------------

ANSWER_125 = {"calls": [{"name": "answer", "arguments": {"subproblem": "Q1", "value": 125}}]}


def _nested_experiment(seeds: int = 1) -> Experiment:
    """A centralized team whose `voters` worker is the named independent system `vote`
    (nesting by name), each member on its own scripted model."""
    return Experiment.model_validate(
        {
            "name": "nested",
            "concurrency": {"episodes": 1},
            "models": {
                "boss": {
                    "spec": "scripted",
                    "replies": [
                        {"calls": [{"name": "delegate_to_voters", "arguments": {"task": "Q1?"}}]},
                        ANSWER_125,
                    ],
                },
                "yes": {"spec": "scripted", "replies": ["125"]},
                "no": {"spec": "scripted", "replies": ["126"]},
            },
            "systems": {
                "vote": {
                    "topology": "independent",
                    "members": {
                        "a": {"kind": "llm", "model": "yes"},
                        "b": {"kind": "llm", "model": "yes"},
                        "c": {"kind": "llm", "model": "no"},
                    },
                },
            },
            "jobs": [
                {
                    "env": "mas.controlled",
                    "label": "nested",
                    "params": {"depth": 1, "horizon": 1, "breadth": 1, "parallel": 1},
                    "tasks": 1,
                    "seeds": seeds,
                    "operator": {
                        "topology": "centralized",
                        "orchestrator": "boss",
                        "members": {"boss": {"kind": "llm", "model": "boss"}, "voters": "vote"},
                    },
                }
            ],
        }
    )


def test_nested_named_system_runs_with_per_member_models(tmp_path):
    result = palaestra.run(_nested_experiment(), store=tmp_path / "runs.db")
    (row,) = result.episodes
    assert row.outcome == "success", row.error
    with Store(result.store_path) as store:
        events = store.events(result.run_id, row.episode_id)
    start = events[0].payload
    assert (
        start.operators["agent"].startswith("centralized[iterative](")
        and "independent(" in (start.operators["agent"])
    )
    models = {(e.agent, e.payload.model) for e in events if e.kind == "model_request"}
    assert models == {
        ("agent", "scripted[boss]"),
        ("agent/voters/a", "scripted[yes]"),
        ("agent/voters/b", "scripted[yes]"),
        ("agent/voters/c", "scripted[no]"),
    }
    decision = [e.payload for e in events if e.kind == "message"
                and e.payload.sender == "agent/voters/aggregator"]  # fmt: skip
    assert len(decision) == 1 and decision[0].content.startswith("majority: a wins with 2 of 3")
    results = [e.payload.content for e in events if e.kind == "tool_result"]
    assert results == ["125"]  # the vote's answer is what the orchestrator reads


def test_members_are_fresh_in_every_episode(tmp_path):
    result = palaestra.run(_nested_experiment(seeds=3), store=tmp_path / "runs.db")
    assert [r.outcome for r in result.episodes] == ["success"] * 3
    with Store(result.store_path) as store:
        lengths = []
        for row in result.episodes:
            requests = [e.payload for e in store.events(result.run_id, row.episode_id)
                        if e.kind == "model_request" and e.agent == "agent/voters/a"]  # fmt: skip
            lengths.append([len(r.messages) for r in requests])
    # one request per episode with the system prompt and the task only: no leaked history
    assert lengths == [[2], [2], [2]]


def test_builder_makes_the_topology_objects(tmp_path):
    from palaestra.envs import get_spec
    from palaestra.runtime._build import ModelPool, operator_factory

    exp = Experiment.from_yaml(_write(tmp_path, GOOD))
    pool = ModelPool(exp)
    spec = get_spec("mas.controlled")
    built = {}
    for job in exp.jobs:
        params = spec.validate(job.params)
        built[job.label] = operator_factory(job, spec, params, pool)("agent")
    team = built["mas.controlled"]
    assert isinstance(team, Centralized) and set(team.workers) == {"voters", "coder"}
    assert isinstance(team.workers["voters"], Independent)
    assert isinstance(built["roma"], Recursive) and built["roma"].max_depth == 1
    sop = built["sop"]
    assert isinstance(sop, Pipeline) and [s.name for s in sop.stages] == ["w", "review"]
    from pydantic import BaseModel

    assert sop.stages[0].schema is BaseModel and sop.stages[1].schema is None
    # LLM members are forked from one prototype per (agent, member): same model object
    again = operator_factory(exp.jobs[0], spec, spec.validate(exp.jobs[0].params), pool)("agent")
    assert again.workers["coder"] is not team.workers["coder"]
    assert again.workers["coder"].model is team.workers["coder"].model


def test_inline_schema_is_a_pydantic_model(tmp_path):
    text = GOOD.replace('"pydantic:BaseModel"', '{answer: str, votes: "list[int]"}')
    stage = Experiment.from_yaml(_write(tmp_path, text)).jobs[2].operator.stages[0]
    model = stage.schema_model()
    assert model is stage.schema_model()  # made once
    assert model.model_validate({"answer": "a", "votes": [1, 2]}).votes == [1, 2]
    with pytest.raises(ValueError, match="votes"):
        model.model_validate({"answer": "a", "votes": ["x"]})


def test_schema_next_to_the_experiment_file(tmp_path):
    (tmp_path / "my_schemas_for_test.py").write_text(
        "from pydantic import BaseModel\n\nclass Out(BaseModel):\n    answer: str\n"
    )
    text = GOOD.replace("pydantic:BaseModel", "my_schemas_for_test:Out")
    exp = Experiment.from_yaml(_write(tmp_path, text))
    assert exp.jobs[2].operator.stages[0].schema_ == "my_schemas_for_test:Out"


# -- scripted replies in YAML ------------------------------------------------------------


def _ask(model, agent: str, text: str):
    request = ModelRequest(messages=[Message(role="user", content=text)], agent=agent)
    return asyncio.run(model.generate(request)).message


def test_scripted_replies_cycle_per_agent_and_carry_tool_calls():
    config = ModelConfig(
        spec="scripted",
        replies=["one", {"text": "two", "calls": [{"name": "f", "arguments": {"x": 1}}]}],
    )
    model = scripted_from_config(config)
    assert _ask(model, "a", "hi").content == "one"
    second = _ask(model, "a", "hi")
    assert second.content == "two"
    assert [(c.id, c.name, c.arguments) for c in second.tool_calls] == [("call_0", "f", {"x": 1})]
    assert _ask(model, "b", "hi").content == "one"  # its own cursor
    assert _ask(model, "a", "hi").content == "one"  # from the start again


def test_scripted_replies_with_when_match_the_last_message():
    config = ModelConfig(
        spec="scripted",
        replies=[{"when": "Q2", "text": "129"}, {"when": "Q1", "text": "70"}, "fallback"],
    )
    model = scripted_from_config(config, name="scripted[x]")
    assert model.name == "scripted[x]"
    assert _ask(model, "a", "Compute Q2 from Q1") == Message(role="assistant", content="129")
    assert _ask(model, "a", "Compute Q1").content == "70"
    assert _ask(model, "a", "nothing").content == "fallback"
    only_when = scripted_from_config(
        ModelConfig(spec="scripted", replies=[{"when": "x", "text": "y"}])
    )
    with pytest.raises(Exception, match="no reply `when` \\('x'\\) matches"):
        _ask(only_when, "a", "zzz")


def test_system_from_python_job(tmp_path):
    """The Python API builds the same run as YAML: a Job whose operator is a config."""
    members = {"a": LLMOperatorConfig(model="ok"), "b": LLMOperatorConfig(model="ok")}
    exp = Experiment(
        models={"ok": ModelConfig(spec="scripted", replies=[ANSWER_125])},
        jobs=[
            Job(
                env="mas.controlled",
                params={"depth": 1, "horizon": 1, "breadth": 1, "parallel": 1, "instances": 1},
                operator=IndependentSystemConfig(members=members, aggregate="first_valid"),
            )
        ],
    )
    result = palaestra.run(exp, store=tmp_path / "runs.db")
    assert [r.outcome for r in result.episodes] == ["success"]


def test_per_agent_override_may_be_a_named_system(tmp_path):
    exp = _nested_experiment().model_dump(mode="json", by_alias=True)
    job = exp["jobs"][0]
    job["operator"] = "baseline"
    job["agents"] = {"agent": "vote"}
    exp["models"]["yes"]["replies"] = [ANSWER_125]
    result = palaestra.run(exp, store=tmp_path / "runs.db")
    (row,) = result.episodes
    assert row.outcome == "success", row.error
    with Store(result.store_path) as store:
        start = store.events(result.run_id, row.episode_id)[0].payload
    assert start.operators == {
        "agent": "independent(majority: a=llm:scripted[yes], b=llm:scripted[yes], "
        "c=llm:scripted[no])"
    }
