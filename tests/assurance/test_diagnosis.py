"""Diagnosis on hand-built logs: every category is detected on a log that shows it, and
the earliest decisive error is chosen when several occur."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from palaestra.assurance import (
    TAXONOMY,
    diagnose,
    diagnose_run,
    diagnosis_counts,
    findings,
)
from palaestra.core import ContractVerdict, Fault, Governance, MessageEvent
from tests.assurance.builders import LogBuilder

ROOT = Path(__file__).resolve().parents[2]


def test_success_has_no_diagnosis_and_bad_logs_are_refused():
    b = LogBuilder()
    b.observe()
    b.act(text="done")
    b.env_step()
    assert diagnose(b.end("success")) is None
    with pytest.raises(ValueError, match="no events"):
        diagnose([])
    running = LogBuilder()
    running.observe()
    with pytest.raises(ValueError, match="no episode_end"):
        diagnose(running.events)
    other = LogBuilder("job/t/1/0").end()
    with pytest.raises(ValueError, match="2 episodes"):
        diagnose([*LogBuilder().end(), *other])


def test_contract_violation_blames_the_first_violating_event():
    b = LogBuilder()
    b.observe()
    bad = b.act(text="my key is sk-123")
    b.env_step()
    b.add(
        "env",
        ContractVerdict(
            contract="no_secret", passed=False, first_violation=bad, detail="secret-looking string"
        ),
    )
    d = diagnose(b.end())
    assert d is not None
    assert (d.level, d.category, d.decisive.seq) == ("agent", "contract_violation", bad)
    assert d.decisive.kind == "action" and d.decisive.confidence == "high"
    assert "no_secret" in d.explanation and d.job == "job"


def test_unrecovered_tool_error_is_tool_misuse_and_a_recovered_one_is_not():
    b = LogBuilder()
    b.observe()
    b.model()
    bad = b.tool("lookup", "Error: tool 'lookup' failed: KeyError: 'K9'", error=True)
    b.model()  # the agent acts again and never calls lookup successfully
    b.act(text="it is 3")
    b.env_step()
    d = diagnose(b.end())
    assert d is not None and (d.category, d.level, d.decisive.seq) == ("tool_misuse", "agent", bad)
    assert d.decisive.kind == "tool_call" and "never made good" in d.explanation

    r = LogBuilder()
    r.observe()
    r.tool("lookup", "Error: no such key", error=True)
    r.tool("lookup", "7")  # recovered
    last = r.act(text="it is 3")
    r.env_step()
    d = diagnose(r.end())
    assert d is not None and d.category == "wrong_action" and d.decisive.seq == last
    assert [f.category for f in d.findings if not f.decisive] == ["tool_misuse"]


def test_error_right_before_the_end_is_only_contributing():
    b = LogBuilder()
    b.observe()
    b.act(text="x")
    b.env_step()
    b.tool("lookup", "Error: no such key", error=True)  # no decision after it
    d = diagnose(b.end(reason="max_steps"))
    assert d is not None and d.category == "step_limit"
    assert any(f.category == "tool_misuse" and not f.decisive for f in d.findings)


def test_environment_tool_error_in_observation_data_blames_the_action():
    b = LogBuilder()
    b.observe()
    bad = b.act(calls=[("get_order", {"order_id": "#W0"})])
    call_id = b.events[bad].payload.action.tool_calls[0].id
    b.env_step()
    b.observe(
        tool_results=[
            {"id": call_id, "name": "get_order", "content": "Error: order not found", "error": True}
        ]
    )
    b.act(text="Your order is on its way.")
    b.env_step()
    d = diagnose(b.end())
    assert d is not None and (d.category, d.decisive.seq, d.decisive.kind) == (
        "tool_misuse",
        bad,
        "action",
    )
    assert "order not found" in d.explanation


def test_platform_tool_errors_and_bad_json_are_told_apart():
    b = LogBuilder()
    b.observe()
    timeout = b.tool("search", "Error: tool 'search' failed: TimeoutError: timed out", error=True)
    b.act(text="sorry")
    b.env_step()
    d = diagnose(b.end())
    assert d is not None and (d.level, d.category, d.decisive.seq) == (
        "platform",
        "tool_failure",
        timeout,
    )
    j = LogBuilder()
    j.observe()
    bad = j.tool("search", "Error: the arguments for tool 'search' were not valid JSON", error=True)
    j.act(text="sorry")
    j.env_step()
    d = diagnose(j.end())
    assert d is not None and (d.category, d.decisive.seq) == ("malformed_output", bad)


def test_invalid_answer_reported_by_the_env_is_malformed_output_unless_fixed():
    b = LogBuilder(agents=("n0", "n1"))
    b.observe("n0")
    b.observe("n1")
    b.act("n0", "ANSWER: red")
    b.act("n1", "ANSWER: ???")
    b.env_step(answers_invalid=["n1"])
    b.observe("n1")
    still = b.act("n1", "ANSWER: ???")
    b.env_step(answers_invalid=["n1"])
    d = diagnose(b.end())
    assert d is not None and (d.category, d.decisive.seq, d.decisive.agent) == (
        "malformed_output",
        still,
        "n1",
    )
    f = LogBuilder(agents=("n0", "n1"))
    f.observe("n1")
    f.act("n1", "ANSWER: ???")
    f.env_step(answers_invalid=["n1"])
    f.observe("n1")
    last = f.act("n1", "ANSWER: blue")
    f.env_step(answers_invalid=[])
    d = diagnose(f.end(explanation="2 of 3 edges join different colours"))
    assert d is not None and (d.category, d.decisive.seq) == ("wrong_action", last)
    assert any(x.category == "malformed_output" and not x.decisive for x in d.findings)


def test_governance_block_never_got_past_is_blocked_action():
    b = LogBuilder()
    b.observe()
    call = b.tool("refund", "Error: blocked by policy", error=False)
    block = b.add(
        "agent", Governance(decision="block", rule="refund-owner", target="refund"), parent=call
    )
    b.act(text="I cannot refund that.")
    b.env_step()
    d = diagnose(b.end())
    assert d is not None and (d.level, d.category, d.decisive.seq) == (
        "agent",
        "blocked_action",
        block,
    )
    r = LogBuilder()
    r.observe()
    r.add("agent", Governance(decision="block", rule="refund-owner", target="refund"))
    r.add("agent", Governance(decision="rewrite", rule="clamp", target="refund"))
    r.act(text="done")
    r.env_step()
    d = diagnose(r.end())
    assert d is not None and d.category == "wrong_action"


def test_a_loop_until_max_steps_is_step_repetition_at_its_first_repeat():
    b = LogBuilder()
    seqs = []
    for _ in range(4):
        b.observe()
        seqs.append(b.act(calls=[("list_orders", {})]))
        b.env_step()
    d = diagnose(b.end(reason="max_steps"))
    assert d is not None and (d.category, d.decisive.seq) == ("step_repetition", seqs[1])
    assert "4 times" in d.explanation
    # two identical actions are not a loop: the step limit is blamed
    s = LogBuilder()
    for text in ("a", "a", "b"):
        s.observe()
        s.act(text=text)
        s.env_step()
    d = diagnose(s.end(reason="truncated"))
    assert d is not None and (d.level, d.category) == ("workflow", "step_limit")
    assert d.decisive.kind == "episode_end" and "truncated" in d.explanation


def test_negative_reward_blames_that_step_action():
    b = LogBuilder()
    b.observe()
    b.act(text="fine")
    b.env_step({"agent": 0.0})
    b.observe()
    bad = b.act(text="delete everything")
    b.env_step({"agent": -1.0})
    b.observe()
    b.act(text="sorry")
    b.env_step({"agent": 0.0})
    d = diagnose(b.end())
    assert d is not None and (d.category, d.decisive.seq, d.decisive.confidence) == (
        "wrong_action",
        bad,
        "medium",
    )


def test_fallback_blames_the_last_action_or_is_unexplained():
    b = LogBuilder()
    b.observe()
    b.act(text="a")
    b.env_step()
    b.observe()
    last = b.act(text="b")
    b.env_step()
    d = diagnose(b.end(explanation="1/2 required outputs found"))
    assert d is not None and (d.category, d.decisive.seq, d.decisive.confidence) == (
        "wrong_action",
        last,
        "low",
    )
    assert "1/2 required outputs" in d.explanation
    e = LogBuilder()
    d = diagnose(e.end())
    assert d is not None and (d.level, d.category) == ("unknown", "unexplained")


ENV_TRACE = """Traceback (most recent call last):
  File "/s/palaestra/runtime/_episode.py", line 282, in _loop
    result_step = await env.step(actions)
                  ^^^^^^^^^^^^^^^^^^^^^^^
  File "/s/palaestra/envs/mas/_env.py", line 5, in step
    raise RuntimeError("boom")
RuntimeError: boom
"""
OPERATOR_TRACE = """Traceback (most recent call last):
  File "/s/palaestra/runtime/_episode.py", line 278, in _loop
    raise failure
  File "/s/palaestra/runtime/_episode.py", line 254, in _loop
    results = [await operators[turn.agent].act(observations[turn.agent], turn)]
  File "/s/palaestra/envs/tooluse/_baselines.py", line 48, in act
    raise UserError(
palaestra.core._errors.UserError: no task_id
"""


def test_errors_that_end_the_episode():
    b = LogBuilder()
    b.observe()
    d = diagnose(
        b.end(
            "error",
            "error",
            error="KeyError: 'price'",
            traceback='File "/x/my_operator.py", line 3, in act\nKeyError',
        )
    )
    assert d is not None and (d.level, d.category) == ("agent", "operator_error")
    e = LogBuilder()
    e.observe()
    d = diagnose(e.end("error", "error", error="RuntimeError: boom", traceback=ENV_TRACE))
    assert d is not None and (d.level, d.category) == ("platform", "env_failure")
    # a baseline operator that lives under envs/ is still an operator
    o = LogBuilder()
    o.observe()
    d = diagnose(o.end("error", "error", error="UserError: no task_id", traceback=OPERATOR_TRACE))
    assert d is not None and (d.level, d.category) == ("agent", "operator_error")
    g = LogBuilder()
    g.observe()
    d = diagnose(g.end("failure", "budget", error="token budget of 100 exceeded"))
    assert d is not None and (d.level, d.category) == ("workflow", "budget_exhausted")


def test_model_failure_exhausted_retries_and_a_recovered_retry():
    b = LogBuilder()
    b.observe()
    b.model(errors=1)  # a retry succeeded: not decisive
    request = b.model(errors=3, ok=False)
    d = diagnose(b.end("error", "error", error="ModelError: HTTP 503"))
    assert d is not None and (d.level, d.category) == ("platform", "model_failure")
    assert d.decisive.seq == request + 3 and d.decisive.kind == "model_response"
    assert "3 attempt(s)" in d.explanation
    recovered = [f for f in d.findings if not f.decisive]
    assert [f.category for f in recovered] == ["model_failure"]


@pytest.mark.parametrize(
    ("parent_kind", "fault", "category"),
    [
        ("model", "error", "model_failure"),
        ("tool", "timeout", "tool_failure"),
        ("memory", "corrupt", "memory_failure"),
        ("message", "drop", "communication_failure"),
        ("env", "malformed_observation", "env_failure"),
    ],
)
def test_faults_are_platform_failures_of_their_boundary(parent_kind, fault, category):
    b = LogBuilder()
    obs = b.observe()
    if parent_kind == "model":
        parent = b.model(ok=False)
    elif parent_kind == "tool":
        parent = b.tool("lookup", "Error: timed out", error=True)
    elif parent_kind == "memory":
        parent = None
    elif parent_kind == "message":
        parent = b.add("agent", MessageEvent(sender="agent", recipients=["agent/w"], content="x"))
    else:
        parent = obs
    target = "memory:notes" if parent_kind == "memory" else "x"
    seq = b.add("agent", Fault(fault=fault, target=target), parent=parent)
    b.act(text="answer")
    b.env_step()
    d = diagnose(b.end())
    assert d is not None and (d.level, d.category, d.decisive.seq) == ("platform", category, seq)
    assert d.decisive.injected and "injected fault" in d.explanation


def test_recovered_and_delay_faults_are_not_decisive():
    b = LogBuilder()
    b.observe()
    call = b.tool("lookup", "Error: timed out", error=True)
    b.add("agent", Fault(fault="timeout", target="tool:lookup"), parent=call)
    b.add("agent", Fault(fault="delay", target="model"))
    b.tool("lookup", "7")
    last = b.act(text="answer 3")
    b.env_step()
    d = diagnose(b.end())
    assert d is not None and (d.category, d.decisive.seq) == ("wrong_action", last)
    assert sum(f.injected and not f.decisive for f in d.findings) == 2
    s = LogBuilder()
    s.observe()
    delay = s.add("agent", Fault(fault="delay", target="model", detail={"seconds": 30}))
    d = diagnose(s.end(reason="budget", error="wall-time budget of 10 s exceeded"))
    assert d is not None and (d.category, d.decisive.seq) == ("model_failure", delay)


def test_wrong_sub_result_named_by_the_score_is_found_with_high_confidence():
    b = LogBuilder()
    b.observe()
    b.add("agent", MessageEvent(sender="agent", recipients=["agent/q1"], content="Q1?"))
    b.add("agent", MessageEvent(sender="agent", recipients=["agent/q2"], content="Q2?"))
    b.add("agent/q2", MessageEvent(sender="agent/q2", recipients=["agent"], content="Q2 = 24"))
    wrong = b.add(
        "agent/q1",
        MessageEvent(sender="agent/q1", recipients=["agent"], content="Q1 = 15 (K937 is 7.5)"),
    )
    b.act(
        calls=[
            ("answer", {"subproblem": "Q1", "value": 15}),
            ("answer", {"subproblem": "Q2", "value": 24}),
        ]
    )
    b.env_step()
    d = diagnose(
        b.end(explanation="1 of 2 sub-problems answered correctly; wrong: Q1 got 15, expected 14")
    )
    assert d is not None and (d.level, d.category, d.decisive.seq) == (
        "workflow",
        "wrong_sub_result",
        wrong,
    )
    assert d.decisive.agent == "agent/q1" and d.decisive.confidence == "high"
    assert "expected 14" in d.explanation


def test_wrong_sub_result_traced_without_a_named_value_is_low_confidence():
    b = LogBuilder()
    b.observe()
    b.add("agent", MessageEvent(sender="agent", recipients=["agent/w"], content="colour?"))
    reply = b.add(
        "agent/w", MessageEvent(sender="agent/w", recipients=["agent"], content="ANSWER: red")
    )
    b.act(text="ANSWER: red")
    b.env_step()
    d = diagnose(b.end(explanation="2 of 3 edges join different colours"))
    assert d is not None and (d.category, d.decisive.seq, d.decisive.confidence) == (
        "wrong_sub_result",
        reply,
        "low",
    )


def test_the_earliest_decisive_error_is_chosen():
    b = LogBuilder()
    b.observe()
    call = b.tool("lookup", "Error: timed out", error=True, fault="timeout")
    fault = call + 1
    b.model()
    bad = b.act(text="sk-123")
    b.env_step()
    b.add("env", ContractVerdict(contract="no_secret", passed=False, first_violation=bad))
    d = diagnose(b.end("error", "error", error="ModelError: HTTP 500"))
    assert d is not None
    # the fault under the tool call is the root of the chain
    assert (d.category, d.decisive.seq, d.decisive.kind) == ("tool_failure", fault, "fault")
    assert d.decisive.injected
    decisive = [f for f in d.findings if f.decisive]
    assert [f.category for f in decisive] == ["tool_failure", "contract_violation", "model_failure"]
    assert [f.seq for f in decisive] == sorted(f.seq for f in decisive)
    faulted_call = [f for f in d.findings if f.seq == call]
    assert len(faulted_call) == 1 and not faulted_call[0].decisive
    assert findings(b.events) == list(d.findings)
    # without the fault, the contract violation comes first
    c = LogBuilder()
    c.observe()
    bad = c.act(text="sk-123")
    c.env_step()
    c.observe()
    c.tool("lookup", "Error: no such key", error=True)
    c.act(text="?")
    c.env_step()
    c.add("env", ContractVerdict(contract="no_secret", passed=False, first_violation=bad))
    d = diagnose(c.end())
    assert d is not None and (d.category, d.decisive.seq) == ("contract_violation", bad)


def test_run_level_diagnosis_and_counts():
    ok = LogBuilder("a/t/0/0")
    ok.act(text="x")
    ok.env_step()
    loop = LogBuilder("a/t/1/0")
    for _ in range(3):
        loop.act(text="same")
        loop.env_step()
    crash = LogBuilder("b/t/0/0")
    unfinished = LogBuilder("b/t/1/0")
    events = [
        *ok.end("success"),
        *loop.end(reason="max_steps"),
        *crash.end("error", "error", error="ModelError: down"),
        *unfinished.events,
    ]
    diagnoses = diagnose_run(events)
    assert [(d.episode_id, d.job, d.category) for d in diagnoses] == [
        ("a/t/1/0", "a", "step_repetition"),
        ("b/t/0/0", "b", "model_failure"),
    ]
    assert diagnosis_counts(diagnoses) == {
        "agent": {"step_repetition": 1},
        "platform": {"model_failure": 1},
    }
    line = diagnoses[0].describe()
    assert line.startswith("a/t/1/0  failure/max_steps  seq ") and "agent/step_repetition" in line
    assert diagnoses[1].to_dict()["decisive"]["level"] == "platform"


def test_docs_table_lists_every_category_with_its_level():
    text = (ROOT / "docs" / "diagnosis.md").read_text()
    documented = {cat: level for level, cat in re.findall(r"^\| (\w+) \| `(\w+)` \|", text, re.M)}
    assert documented == {c.name: c.level for c in TAXONOMY}


# -- real runs: the runtime's episode loop, real environments, the SQLite store ---------

DELEGATE = {
    "topology": "centralized",
    "mode": "holistic",
    "orchestrator": "boss",
    "workers": ["q1_solver", "q2_solver"],
    "members": {
        "boss": {"kind": "llm", "model": "boss"},
        "q1_solver": {"kind": "llm", "model": "q1", "max_tool_rounds": 2},
        "q2_solver": {"kind": "llm", "model": "q2", "max_tool_rounds": 2},
    },
}


def _calls(*calls: tuple[str, dict]) -> dict:
    return {"calls": [{"name": n, "arguments": a} for n, a in calls]}


REAL = {
    "name": "diagnosis",
    "seed": 0,
    "models": {
        # looks up an order that does not exist, then tells the customer all is well
        "wrong_call": {
            "spec": "scripted",
            "replies": [
                _calls(("get_order_details", {"order_id": "#W0000000"})),
                "I have taken care of it.",
            ],
        },
        "boss": {
            "spec": "scripted",
            "replies": [
                _calls(
                    ("delegate_to_q1_solver", {"task": "Compute 2 times the value of K937."}),
                    ("delegate_to_q2_solver", {"task": "Compute 12 times the value of K220."}),
                ),
                _calls(
                    ("answer", {"subproblem": "Q1", "value": 15}),
                    ("answer", {"subproblem": "Q2", "value": 24}),
                ),
            ],
        },
        "q1": {"spec": "scripted", "replies": ["Q1 = 15 (K937 is 7.5)"]},  # wrong: 14
        "q2": {"spec": "scripted", "replies": ["Q2 = 24 (K220 is 2)"]},
        "one": {"spec": "scripted", "replies": ["ANSWER: 1"]},  # every node picks colour 1
        "short": {"spec": "scripted"},  # replaced by a ScriptedModel that runs out
    },
    "jobs": [
        {
            "env": "tooluse.store",
            "label": "wrong-call",
            "tasks": 1,
            "max_steps": 2,
            "operator": {"kind": "llm", "model": "wrong_call"},
        },
        {
            "env": "tooluse.store",
            "label": "crash",
            "tasks": 1,
            "max_steps": 4,
            "operator": {"kind": "llm", "model": "short"},
        },
        {
            "env": "mas.controlled",
            "label": "delegate",
            "params": {"depth": 1, "horizon": 1, "breadth": 2, "parallel": 2, "instances": 1},
            "operator": DELEGATE,
        },
        {
            "env": "graph.coloring",
            "label": "same-colour",
            "params": {"family": "ws", "n": 4, "rounds": 1},
            "tasks": 1,
            "operator": {
                "topology": "independent",
                "members": {
                    "a": {"kind": "llm", "model": "one"},
                    "b": {"kind": "llm", "model": "one"},
                },
            },
        },
    ],
}


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    import palaestra
    from palaestra.models import ScriptedModel
    from palaestra.store import Store

    path = tmp_path_factory.mktemp("diag") / "runs.db"
    # one reply, then the script runs out: the second model call raises ModelError
    short = ScriptedModel(["Let me check."], name="short")
    palaestra.run(REAL, store=path, run_id="real", models={"short": short})
    with Store(path) as store:
        events = list(store.iter_events("real"))
    return {d.job: d for d in diagnose_run(events)}, events


def test_real_tooluse_wrong_call_never_recovered(real_run):
    diagnoses, events = real_run
    d = diagnoses["wrong-call"]
    assert (d.outcome, d.level, d.category) == ("failure", "agent", "tool_misuse")
    blamed = next(e for e in events if e.episode_id == d.episode_id and e.seq == d.decisive.seq)
    assert blamed.kind == "action"
    assert blamed.payload.action.tool_calls[0].arguments == {"order_id": "#W0000000"}
    assert "not found" in d.explanation


def test_real_run_that_ends_with_an_error(real_run):
    diagnoses, _ = real_run
    d = diagnoses["crash"]
    assert (d.outcome, d.reason, d.level, d.category) == (
        "error",
        "error",
        "platform",
        "model_failure",
    )
    assert d.decisive.kind == "model_response" and d.decisive.confidence == "high"


def test_real_system_member_with_a_wrong_sub_result(real_run):
    diagnoses, _ = real_run
    d = diagnoses["delegate"]
    assert (d.level, d.category, d.decisive.confidence) == ("workflow", "wrong_sub_result", "high")
    assert d.decisive.agent == "agent/q1_solver" and d.decisive.kind == "message"
    assert "Q1 got 15" not in d.explanation and "expected 14" in d.explanation


def test_real_graph_system_whose_members_agree_on_a_bad_answer(real_run):
    diagnoses, _ = real_run
    d = diagnoses["same-colour"]
    assert (d.category, d.decisive.confidence, d.decisive.kind) == (
        "wrong_sub_result",
        "low",
        "message",
    )
    assert d.decisive.agent.endswith("/a") and "(1)" in d.explanation
