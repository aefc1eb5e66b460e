"""Each built-in contract on real runs that violate it and that satisfy it: the verdict
recorded online names the right first violating event, and the offline check agrees."""

from __future__ import annotations

from typing import Any

import pytest

import palaestra
from palaestra.assurance import ContractSpec, build_contracts, check_episode
from palaestra.core import Event
from palaestra.models import ScriptedModel
from palaestra.runtime import Experiment, Job, LLMOperatorConfig, PythonOperatorConfig
from palaestra.store import Store
from tests.runtime.toy_env import register_counter

HELPERS = "tests.assurance.contract_helpers"


@pytest.fixture(autouse=True)
def _counter_env() -> None:
    register_counter()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "runs.db"


def run_counter(
    db: Any,
    contracts: list[dict[str, Any]],
    script: list[Any] | None = None,
    *,
    operator: Any = None,
    max_steps: int | None = None,
    tools: list[str] | None = None,
    params: dict[str, Any] | None = None,
) -> list[Event]:
    """One episode of `test.counter` under `contracts`; returns its stored log (and
    asserts the offline check gives the verdicts recorded online)."""
    op = operator or LLMOperatorConfig(model="default", tools=tools or [])
    experiment = Experiment(
        jobs=[Job(env="test.counter", operator=op, max_steps=max_steps, params=params or {})],
        contracts=[ContractSpec.model_validate(c) for c in contracts],
    )
    models = {"default": ScriptedModel(script)} if script is not None else None
    result = palaestra.run(experiment, store=db, models=models)
    (row,) = result.episodes
    with Store(db) as store:
        events = store.events(result.run_id, row.episode_id)
    assert_online_equals_offline(events, experiment.contracts)
    return events


def verdicts(events: list[Event]) -> dict[str, Any]:
    """Contract name → its recorded verdict payload (one each)."""
    out = {}
    for e in events:
        if e.kind == "contract_verdict":
            assert e.payload.contract not in out, "one verdict per contract"
            out[e.payload.contract] = e.payload
    return out


def assert_online_equals_offline(events: list[Event], specs: list[ContractSpec]) -> None:
    online = verdicts(events)
    contracts = build_contracts(specs)
    offline = check_episode(events, contracts)
    assert [v.contract for v in offline] == [c.name for c in contracts]
    assert len(online) == len(contracts)
    for v in offline:
        p = online[v.contract]
        assert (p.passed, p.first_violation, p.step, p.agent, p.detail) == (
            v.passed,
            v.seq,
            v.step,
            v.agent,
            v.detail,
        )


def first_seq(events: list[Event], kind: str, step: int | None = None, agent: str = "a0") -> int:
    return next(
        e.seq
        for e in events
        if e.kind == kind and e.agent == agent and (step is None or e.step == step)
    )


def test_tool_args_schema(db_path):
    bad = [ScriptedModel.call("add", n=1), ScriptedModel.call("add", n="2"), "DONE"]
    events = run_counter(db_path, [{"use": "tool_args_schema"}], bad)
    v = verdicts(events)["tool_args_schema"]
    assert not v.passed
    assert v.first_violation == first_seq(events, "action", step=1)
    assert "argument 'n' must be an integer" in v.detail
    good = [ScriptedModel.call("add", n=1), ScriptedModel.call("add", n=2), "DONE"]
    assert verdicts(run_counter(db_path, [{"use": "tool_args_schema"}], good))[
        "tool_args_schema"
    ].passed


def test_max_message_tokens_counts_words_of_replies_and_actions(db_path):
    contract = [{"use": "max_message_tokens", "max_tokens": 5, "kinds": ["action"]}]
    script = ["one two", "one two three four five six", "DONE"]
    events = run_counter(db_path, contract, script, params={"target": 0})
    v = verdicts(events)["max_message_tokens"]
    assert v.first_violation == first_seq(events, "action", step=1)
    assert "6 tokens" in v.detail and "at most 5" in v.detail
    # the model reply is measured too when asked: it is recorded before the action
    both = [{"use": "max_message_tokens", "max_tokens": 5}]
    events = run_counter(db_path, both, script, params={"target": 0})
    v = verdicts(events)["max_message_tokens"]
    assert events[v.first_violation].kind == "model_response"
    assert events[v.first_violation].step == 1
    ok = run_counter(db_path, both, ["one two", "DONE"], params={"target": 0})
    assert verdicts(ok)["max_message_tokens"].passed


def test_allowed_tools_per_agent_glob(db_path):
    script = [ScriptedModel.call("lookup", key="k"), ScriptedModel.call("add", n=3), "DONE"]
    tools = [f"{HELPERS}:lookup"]
    contract = [{"use": "allowed_tools", "allow": {"a*": ["look*"]}}]
    events = run_counter(db_path, contract, script, tools=tools)
    v = verdicts(events)["allowed_tools"]
    assert v.first_violation == first_seq(events, "action", step=0)  # the add, not lookup
    assert "'add'" in v.detail and "look*" in v.detail
    allowed = [{"use": "allowed_tools", "allow": {"a0": ["lookup", "add"]}, "others": "deny"}]
    assert verdicts(run_counter(db_path, allowed, script, tools=tools))["allowed_tools"].passed


@pytest.mark.parametrize(
    ("text", "detector"),
    [
        ("my key is sk-proj-abcdefghijklmnopqrstuvwx123", "openai_key"),
        ("AKIAIOSFODNN7EXAMPLE", "aws_access_key"),
        ("card 4111 1111 1111 1111 exp 12/30", "credit_card"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", "private_key"),
    ],
)
def test_no_secrets_finds_secrets_in_actions(db_path, text, detector):
    events = run_counter(db_path, [{"use": "no_secrets"}], ["hello", text, "DONE"])
    v = verdicts(events)["no_secrets"]
    assert v.first_violation == first_seq(events, "action", step=1)
    assert detector in v.detail
    assert text.split()[-1] not in v.detail or detector == "private_key"  # masked


def test_no_secrets_ignores_non_luhn_numbers_and_takes_own_patterns(db_path):
    script = ["order 4111 1111 1111 1112 shipped", "DONE"]
    assert verdicts(run_counter(db_path, [{"use": "no_secrets"}], script))["no_secrets"].passed
    own = [{"use": "no_secrets", "detectors": [], "patterns": {"ssn": r"\b\d{3}-\d{2}-\d{4}\b"}}]
    events = run_counter(db_path, own, ["ssn 123-45-6789", "DONE"])
    assert "ssn" in verdicts(events)["no_secrets"].detail


def test_terminates_within(db_path):
    script = [ScriptedModel.call("add", n=1)] * 3 + ["DONE"]
    events = run_counter(db_path, [{"use": "terminates_within", "max_steps": 3}], script)
    v = verdicts(events)["terminates_within"]
    assert v.first_violation == first_seq(events, "observation", step=3)
    ok = run_counter(db_path, [{"use": "terminates_within", "max_steps": 4}], script)
    assert verdicts(ok)["terminates_within"].passed
    # an episode cut by the step limit never terminates: blamed at its end
    cut = run_counter(db_path, [{"use": "terminates_within", "max_steps": 9}], script, max_steps=2)
    v = verdicts(cut)["terminates_within"]
    assert not v.passed and "ended at step 2" in v.detail


def test_tool_calls_answered(db_path):
    sloppy = PythonOperatorConfig(factory=f"{HELPERS}:SloppyOperator")
    events = run_counter(db_path, [{"use": "tool_calls_answered"}], operator=sloppy)
    v = verdicts(events)["tool_calls_answered"]
    assert v.first_violation == first_seq(events, "tool_call")
    assert "'lookup'" in v.detail
    script = [ScriptedModel.call("lookup", key="k"), ScriptedModel.call("add", n=3), "DONE"]
    ok = run_counter(db_path, [{"use": "tool_calls_answered"}], script, tools=[f"{HELPERS}:lookup"])
    assert verdicts(ok)["tool_calls_answered"].passed


def test_no_action_after_block(db_path):
    ignorer = PythonOperatorConfig(factory=f"{HELPERS}:BlockIgnorer")
    events = run_counter(db_path, [{"use": "no_action_after_block"}], operator=ignorer)
    v = verdicts(events)["no_action_after_block"]
    assert v.first_violation == first_seq(events, "action", step=0)
    assert "max-add" in v.detail
    obeys = PythonOperatorConfig(factory=f"{HELPERS}:BlockIgnorer", options={"obey": True})
    ok = run_counter(db_path, [{"use": "no_action_after_block"}], operator=obeys)
    assert verdicts(ok)["no_action_after_block"].passed


def test_no_action_after_block_holds_under_a_real_policy(db_path):
    experiment = Experiment.model_validate(
        {
            "jobs": [{"env": "test.counter", "operator": {"kind": "llm", "model": "default"}}],
            "governance": {
                "rules": [
                    {"name": "small-adds", "tools": ["add"], "when": {"n": {"minimum": 3}},
                     "decision": "block"}
                ]
            },
            "contracts": [{"use": "no_action_after_block"}, {"use": "tool_calls_answered"}],
        }
    )  # fmt: skip
    script = [ScriptedModel.call("add", n=5), ScriptedModel.call("add", n=1), "DONE"]
    result = palaestra.run(experiment, store=db_path, models={"default": ScriptedModel(script)})
    with Store(db_path) as store:
        events = store.events(result.run_id, result.episodes[0].episode_id)
    assert any(e.kind == "governance" and e.payload.decision == "block" for e in events)
    v = verdicts(events)
    assert v["no_action_after_block"].passed and v["tool_calls_answered"].passed


def test_cites_tool_result(db_path):
    contract = [{"use": "cites_tool_result", "min_length": 1}]
    script = [ScriptedModel.call("add", n=3), "The counter is 3."]
    events = run_counter(db_path, contract, script, max_steps=2)
    assert verdicts(events)["cites_tool_result"].passed
    script = [ScriptedModel.call("add", n=3), "All finished."]
    events = run_counter(db_path, contract, script, max_steps=2)
    v = verdicts(events)["cites_tool_result"]
    assert v.first_violation == first_seq(events, "action", step=1)
    assert "cites no value" in v.detail
    # own tools' JSON results count too; an answer before any result is a violation
    tools = [f"{HELPERS}:lookup"]
    script = [ScriptedModel.call("lookup", key="x"), "your code is code-x-42"]
    own = run_counter(db_path, [{"use": "cites_tool_result"}], script, tools=tools, max_steps=1)
    assert verdicts(own)["cites_tool_result"].passed
    early = run_counter(db_path, [{"use": "cites_tool_result"}], ["no idea"], max_steps=1)
    assert "before any tool result value" in verdicts(early)["cites_tool_result"].detail


def test_no_role_drift(db_path):
    script = ["Thinking.", "Sure.\nUser: now say DONE", "DONE"]
    events = run_counter(db_path, [{"use": "no_role_drift"}], script, params={"target": 0})
    v = verdicts(events)["no_role_drift"]
    assert v.first_violation == first_seq(events, "action", step=1)
    assert "'User'" in v.detail
    two = run_counter(
        db_path, [{"use": "no_role_drift"}], ["**a1**: I agree", "DONE"],
        params={"target": 0, "agents": 2},
    )  # fmt: skip
    assert "'a1'" in verdicts(two)["no_role_drift"].detail
    fine = ["The user asked: add things. a0: that is me", "DONE"]
    ok = run_counter(db_path, [{"use": "no_role_drift"}], fine, params={"target": 0})
    assert verdicts(ok)["no_role_drift"].passed


def test_budget(db_path):
    script = [ScriptedModel.call("add", n=1)] * 3 + ["DONE"]
    contract = [{"use": "budget", "max_tool_calls": 2}]
    events = run_counter(db_path, contract, script)
    v = verdicts(events)["budget"]
    assert v.first_violation == first_seq(events, "action", step=2)
    assert "3 tool calls" in v.detail
    calls = [{"use": "budget", "max_model_calls": 4, "max_tokens": 10_000}]
    assert verdicts(run_counter(db_path, calls, script))["budget"].passed
    tight = [{"use": "budget", "max_model_calls": 2, "name": "calls"}]
    events = run_counter(db_path, tight, script)
    assert verdicts(events)["calls"].first_violation == first_seq(events, "model_request", step=2)
