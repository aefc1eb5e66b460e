"""Contract types, user contracts, the `contracts:` block, online == offline, and
`on_violation: end`."""

from __future__ import annotations

import asyncio
import textwrap

import pytest

import palaestra
from palaestra.assurance import (
    ContractSpec,
    Violation,
    budget,
    build_contracts,
    check_episode,
    check_run,
    step_contract,
    trace_contract,
)
from palaestra.config import load_contracts_file
from palaestra.core import ConfigError
from palaestra.models import ScriptedModel
from palaestra.runtime import Experiment
from palaestra.store import Store
from palaestra.studies._replay import replay_episode
from tests.assurance.test_contracts_library import HELPERS, run_counter, verdicts
from tests.runtime.toy_env import register_counter


@pytest.fixture(autouse=True)
def _counter_env() -> None:
    register_counter()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "runs.db"


ADDS = [ScriptedModel.call("add", n=1), ScriptedModel.call("add", n=3), "DONE"]


def test_user_contracts_from_yaml_entries(db_path):
    contracts = [
        {"python": f"{HELPERS}:no_big_adds"},  # a plain function: a step contract
        {"python": f"{HELPERS}:first_action_is_add"},  # decorated, reads the view
        {"python": f"{HELPERS}:total_adds_at_most", "limit": 3, "kind": "trace", "name": "sum"},
    ]
    events = run_counter(db_path, contracts, ADDS, params={"target": 4})
    v = verdicts(events)
    second_action = [e.seq for e in events if e.kind == "action"][1]
    assert v["no_big_adds"].first_violation == second_action
    assert v["no_big_adds"].detail == "add(3) adds more than 2"
    assert v["first_action_is_add"].passed
    assert v["sum"].first_violation == second_action and v["sum"].detail == "adds total 4 > 3"
    # the whole-log contract can only tell at the end: its verdict comes last
    assert [e.payload.contract for e in events if e.kind == "contract_verdict"][0] == (
        "no_big_adds"
    )


def test_step_and_trace_contract_factories_in_python():
    @step_contract
    def short(event):
        return len(getattr(event.payload, "content", "") or "") < 5 or "too long"

    @trace_contract(name="has_score")
    def has_score(events):
        return any(e.kind == "score" for e in events)

    assert short.name == "short" and not short.history
    assert has_score.name == "has_score" and has_score.history
    assert build_contracts([short, budget(max_tool_calls=1)])[1].name == "budget"
    with pytest.raises(ConfigError, match="two contracts are named 'short'"):
        build_contracts([short, short])


def test_a_contract_that_raises_fails_with_the_reason(db_path):
    experiment_contracts = [{"python": f"{HELPERS}:no_big_adds", "name": "broken"}]
    # `no_big_adds` reads int(n): a non-numeric argument makes the check raise
    script = [ScriptedModel.call("add", n="x"), "DONE"]
    events = run_counter(db_path, experiment_contracts, script, params={"target": 0})
    # the env raises on int("x") too: the episode ends in error, the verdict still names it
    v = verdicts(events)["broken"]
    assert not v.passed and "raised ValueError" in v.detail


def test_on_violation_end_stops_before_the_action_reaches_the_env(db_path):
    contracts = [
        {"use": "budget", "max_tool_calls": 1, "on_violation": "end"},
        {"use": "no_role_drift"},
    ]
    events = run_counter(db_path, contracts, ADDS, params={"target": 4})
    end = events[-1].payload
    assert end.reason == "contract" and "budget" in end.error
    second_action = [e for e in events if e.kind == "action"][1]
    assert verdicts(events)["budget"].first_violation == second_action.seq
    # the violating action was recorded but never executed: one env step, counter 1
    assert [e.step for e in events if e.kind == "env_step"] == [0]
    score = next(e.payload for e in events if e.kind == "score")
    assert score.metrics["counter"] == 1.0 and not score.success
    # passed verdicts are recorded for the others, before episode_end
    assert verdicts(events)["no_role_drift"].passed
    assert events[-2].kind == "contract_verdict"
    with Store(db_path) as store:
        (row,) = store.episodes(store.resolve_run("last").run_id)
        assert row.reason == "contract"


def test_online_equals_offline_over_a_run_and_replay_reproduces_the_verdicts(db_path):
    spec = [
        {"use": "tool_args_schema"},
        {"use": "budget", "max_tool_calls": 2},
        {"use": "terminates_within", "max_steps": 2},
        {"use": "cites_tool_result", "min_length": 1},
        {"use": "tool_calls_answered"},
        {"python": f"{HELPERS}:no_big_adds"},
    ]
    experiment = Experiment.model_validate(
        {
            "jobs": [
                {
                    "env": "test.counter",
                    "tasks": 2,
                    "seeds": 2,
                    "operator": {"kind": "llm", "model": "default"},
                }
            ],
            "contracts": spec,
            "concurrency": {"episodes": 1},
        }
    )
    script = [ScriptedModel.call("add", n=1), ScriptedModel.call("add", n="2"), "DONE"]
    model = ScriptedModel(script, cycle=True)  # one episode at a time: the same replies each
    result = palaestra.run(experiment, store=db_path, models={"default": model})
    contracts = build_contracts(experiment.contracts)
    with Store(db_path) as store:
        report = check_run(store, result.run_id, contracts)
        assert report.episodes == 4
        for row in result.episodes:
            events = store.events(result.run_id, row.episode_id)
            online = verdicts(events)
            for v in check_episode(events, contracts):
                p = online[v.contract]
                assert (p.passed, p.first_violation, p.detail) == (v.passed, v.seq, v.detail)
        replayed = asyncio.run(replay_episode(store, result.run_id, result.episodes[0].episode_id))
    assert replayed.equal
    failed = {c.contract: len(c.violations) for c in report.contracts}
    assert failed == {
        "tool_args_schema": 4,
        "budget": 0,
        "terminates_within": 4,
        "cites_tool_result": 4,
        "tool_calls_answered": 0,
        "no_big_adds": 0,
    }


def test_job_contracts_add_to_the_experiments_and_replace_by_name(db_path):
    experiment = Experiment.model_validate(
        {
            "jobs": [
                {"env": "test.counter", "label": "plain"},
                {
                    "env": "test.counter",
                    "label": "strict",
                    "contracts": [
                        {"use": "budget", "max_tool_calls": 1},
                        {"use": "no_secrets"},
                    ],
                },
            ],
            "contracts": [{"use": "budget", "max_tool_calls": 10}],
        }
    )
    result = palaestra.run(experiment, store=db_path)
    with Store(db_path) as store:
        got = {
            row.episode_id.split("/")[0]: verdicts(store.events(result.run_id, row.episode_id))
            for row in store.episodes(result.run_id)
        }
    assert set(got["plain"]) == {"budget"} and got["plain"]["budget"].passed
    assert set(got["strict"]) == {"budget", "no_secrets"}
    assert not got["strict"]["budget"].passed  # the baseline adds 1 three times


def test_yaml_errors_name_the_line_and_the_valid_choices(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            jobs:
              - env: test.counter
            contracts:
              - use: budget
                max_tool_calls: 3
              - use: terminates_whenever
            """
        )
    )
    with pytest.raises(ConfigError) as err:
        Experiment.from_yaml(path)
    message = str(err.value)
    assert f"{path}:6: contracts.1.use: unknown contract 'terminates_whenever'" in message
    assert "terminates_within" in message and "no_role_drift" in message

    path.write_text("jobs:\n  - env: test.counter\n    contracts:\n      - use: budget\n")
    with pytest.raises(ConfigError, match=r":4: jobs.0.contracts.0: give at least one of"):
        Experiment.from_yaml(path)

    path.write_text("jobs: [{env: test.counter}]\ncontracts:\n  - use: no_secrets\n    max: 3\n")
    with pytest.raises(ConfigError, match=r":4: contracts.0.max: unknown parameter \(valid:"):
        Experiment.from_yaml(path)

    path.write_text("jobs: [{env: test.counter}]\ncontracts:\n  - python: nowhere_mod:fn\n")
    expected = r":3: contracts.0.python: cannot import module 'nowhere_mod'"
    with pytest.raises(ConfigError, match=expected):
        Experiment.from_yaml(path)

    path.write_text("contracts:\n  - use: budget\n    max_tokens: 5\n  - {}\n")
    with pytest.raises(ConfigError, match=r":4: contracts.1: give either `use: NAME`"):
        load_contracts_file(path)
    path.write_text("contracts:\n  - use: budget\n    max_tokens: 5\n")
    assert load_contracts_file(path)[0].params == {"max_tokens": 5}


def test_verdicts_blame_an_earlier_event_with_its_step_and_agent():
    from palaestra.core import Action, ActionEvent, EpisodeStart, make_event

    events = [
        make_event("e", 0, 0, "env", EpisodeStart(env="x", task="t", seed=0, agents=["a"])),
        make_event("e", 1, 0, "a", ActionEvent(action=Action(text="one"))),
        make_event("e", 2, 1, "a", ActionEvent(action=Action(text="two"))),
    ]

    @trace_contract
    def blames_first(log):
        return Violation("the first action", seq=1)

    (verdict,) = check_episode(events, [blames_first])
    assert (verdict.seq, verdict.step, verdict.agent) == (1, 0, "a")
    spec = ContractSpec.model_validate({"use": "no_role_drift", "roles": ["Bot"]})
    (ok,) = check_episode(events, build_contracts([spec]))
    assert ok.passed


def test_the_example_records_the_right_first_violations(db_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / "examples/assurance/contracts.yaml"
    result = palaestra.run(example, store=db_path)
    with Store(db_path) as store:
        logs = {
            row.episode_id: store.events(result.run_id, row.episode_id) for row in result.episodes
        }
    for episode_id, events in logs.items():
        v = verdicts(events)
        if episode_id.startswith("ground-truth/"):
            assert all(p.passed for p in v.values()), episode_id
            continue
        actions = [e for e in events if e.kind == "action"]
        assert v["tool_args_schema"].first_violation == actions[0].seq  # email: 42
        assert v["no_secrets"].first_violation == actions[1].seq  # the card number
        assert v["no_role_drift"].first_violation == actions[1].seq  # "User: ..."
        assert v["terminates_within"].passed and v["budget"].passed
