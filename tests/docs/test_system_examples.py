"""Every example under examples/systems/ runs, succeeds, and shows in its recorded events
the behaviour it is there to show (the vote overrules a minority, a dependent sub-task
waits for its dependency, the recursion stops at max_depth, ...); `palaestra show`
renders the nesting of a recorded system."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from palaestra.cli._render import timeline
from palaestra.core import Event
from palaestra.runtime import run
from palaestra.store import Store
from palaestra.studies._replay import replay_episode

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "systems"
TOPOLOGIES = [
    "single",
    "independent",
    "centralized",
    "decentralized",
    "hybrid",
    "recursive",
    "pipeline",
]


def events_of(name: str, tmp_path: Path) -> list[Event]:
    """Run the example; its one episode's events (after checking it succeeded)."""
    result = run(EXAMPLES / f"{name}.yaml", store=tmp_path / "runs.db")
    (row,) = result.episodes
    assert row.outcome == "success", (row.reason, row.error)
    with Store(result.store_path) as store:
        return store.events(result.run_id, row.episode_id)


def messages(events: list[Event]) -> list[tuple[int, Any]]:
    return [(e.seq, e.payload) for e in events if e.kind == "message"]


def action(events: list[Event]) -> Any:
    (found,) = [e.payload.action for e in events if e.kind == "action"]
    return found


def answers(act: Any) -> list[tuple[str, int]]:
    return [(c.arguments["subproblem"], c.arguments["value"]) for c in act.tool_calls]


def test_there_is_one_example_per_topology():
    found = sorted(p.stem for p in EXAMPLES.glob("*.yaml") if p.stem != "compare")
    assert found == sorted(TOPOLOGIES)  # compare.yaml is run by tests/cli/test_compare.py


def test_single_acts_alone_as_the_env_agent(tmp_path):
    events = events_of("single", tmp_path)
    assert messages(events) == []
    assert {e.agent for e in events if e.kind.startswith("model_")} == {"agent"}
    acts = [e.payload.action for e in events if e.kind == "action"]
    assert [c.name for a in acts for c in a.tool_calls] == ["lookup", "answer"]
    assert answers(acts[1]) == [("Q1", 125)]


def test_independent_vote_overrules_the_minority(tmp_path):
    events = events_of("independent", tmp_path)
    proposals = {
        m.sender: m.content for _, m in messages(events) if m.recipients == ["agent/aggregator"]
    }
    assert proposals == {
        "agent/a": 'answer({"subproblem": "Q1", "value": 125})',
        "agent/b": 'answer({"subproblem": "Q1", "value": 125})',
        "agent/c": 'answer({"subproblem": "Q1", "value": 126})',
    }
    (decision,) = [m.content for _, m in messages(events) if m.sender == "agent/aggregator"]
    assert decision.startswith("majority: a wins with 2 of 3 votes")
    assert answers(action(events)) == [("Q1", 125)]


def test_centralized_delegates_the_whole_plan_at_once(tmp_path):
    events = events_of("centralized", tmp_path)
    by_seq = {e.seq: e for e in events}
    calls = [e for e in events if e.kind == "tool_call"]
    assert [c.payload.call.name for c in calls] == [
        "delegate_to_q1_solver",
        "delegate_to_q2_solver",
    ]
    # holistic: both delegations come from the orchestrator's first reply
    assert calls[0].parent == calls[1].parent and by_seq[calls[0].parent].kind == "model_response"
    sent = [m for _, m in messages(events) if m.sender == "agent"]
    assert [(m.recipients, m.content) for m in sent] == [
        (["agent/q1_solver"], "Compute 2 times the value of key K937."),
        (["agent/q2_solver"], "Compute 12 times the value of key K220."),
    ]
    results = [e.payload.content for e in events if e.kind == "tool_result"]
    assert results == ["Q1 = 14 (K937 is 7)", "Q2 = 24 (K220 is 2)"]
    models = {e.agent: e.payload.model for e in events if e.kind == "model_request"}
    assert models == {
        "agent": "scripted[boss]",
        "agent/q1_solver": "scripted[q1_model]",
        "agent/q2_solver": "scripted[q2_model]",
    }
    assert answers(action(events)) == [("Q1", 14), ("Q2", 24)]


def test_decentralized_peers_talk_along_the_graph_and_converge(tmp_path):
    events = events_of("decentralized", tmp_path)
    rounds = [(m.sender, tuple(m.recipients), m.round) for _, m in messages(events)]
    # round-1 answers go to graph neighbours only (line a - b - c)
    assert ("agent/a", ("agent/b",), 1) in rounds
    assert ("agent/b", ("agent/a", "agent/c"), 1) in rounds
    assert ("agent/c", ("agent/b",), 1) in rounds
    prompts = {m.recipients[0]: m.content for _, m in messages(events)
               if m.sender == "agent" and m.round == 2}  # fmt: skip
    assert "- b:" in prompts["agent/a"] and "- c:" not in prompts["agent/a"]
    assert "- a:" in prompts["agent/b"] and "- c:" in prompts["agent/b"]
    c_said = [m.content for _, m in messages(events) if m.sender == "agent/c"]
    assert [re.search(r'"value": (\d+)', text).group(1) for text in c_said] == ["126", "125"]
    (decision,) = [m for _, m in messages(events) if m.sender == "agent/aggregator"]
    assert decision.round == 2 and "3 of 3 votes" in decision.content
    assert answers(action(events)) == [("Q1", 125)]


def test_hybrid_coordinator_instructs_workers_who_discuss(tmp_path):
    events = events_of("hybrid", tmp_path)
    instructed = [m for _, m in messages(events) if m.sender == "agent/coordinator"
                  and m.round == 1]  # fmt: skip
    assert [m.recipients for m in instructed] == [["agent/x"], ["agent/y"]]
    assert all("Look up K375" in m.content for m in instructed)
    peer = [(m.sender, m.recipients, m.content) for _, m in messages(events)
            if m.sender in ("agent/x", "agent/y") and m.round == 1]  # fmt: skip
    assert peer == [("agent/x", ["agent/y"], "Q1 = 124"), ("agent/y", ["agent/x"], "Q1 = 125")]
    reports = {m.sender: m.content for _, m in messages(events)
               if m.recipients == ["agent/coordinator"] and m.sender != "agent"}  # fmt: skip
    assert reports == {"agent/x": "Q1 = 125, as y says", "agent/y": "Q1 = 125"}
    final = [e for e in events if e.kind == "model_response" and e.agent == "agent/coordinator"]
    assert [c.name for c in final[-1].payload.message.tool_calls] == ["answer"]
    assert answers(action(events)) == [("Q1", 125)]


def test_recursive_waits_for_dependencies_and_stops_at_max_depth(tmp_path):
    events = events_of("recursive", tmp_path)
    msgs = messages(events)

    def seq_of(sender: str, recipient: str) -> int:
        (seq,) = [s for s, m in msgs if m.sender == sender and m.recipients == [recipient]]
        return seq

    # q2 depends on q1: it is sent only after q1 replied, with q1's result in its text
    assert seq_of("agent/root/q1", "agent/root") < seq_of("agent/root", "agent/root/q2")
    q2_text = next(m.content for _, m in msgs if m.recipients == ["agent/root/q2"])
    assert "- [q1]: 70" in q2_text
    apply_text = next(m.content for _, m in msgs if m.recipients == ["agent/root/q1/apply"])
    assert "- [lookup]: 9" in apply_text
    assert seq_of("agent/root/q1/lookup", "agent/root/q1") < seq_of(
        "agent/root/q1", "agent/root/q1/apply"
    )
    agents = {e.agent for e in events}
    # the atomizer said "split" at depth 1 for q1 ...
    said = {m.sender: m.content for _, m in msgs if m.sender.endswith("/atomizer")}
    assert said == {
        "agent/root/atomizer": '{"atomic": false}',
        "agent/root/q1/atomizer": '{"atomic": false}',
        "agent/root/q2/atomizer": '{"atomic": true}',
    }
    # ... but q1's sub-tasks sit at max_depth = 2: executed, the atomizer never asked
    assert {"agent/root/q1/lookup/executor", "agent/root/q1/apply/executor"} <= agents
    assert not any(a.count("/") >= 4 and a.endswith("/atomizer") for a in agents)
    assert max(a.count("/") for a in agents) == 4  # agent/root/q1/lookup/executor
    assert answers(action(events)) == [("Q1", 70), ("Q2", 129)]


def test_pipeline_reasks_a_schema_violation_once(tmp_path):
    events = events_of("pipeline", tmp_path)
    to_stage = [(m.recipients[0], m.content) for _, m in messages(events) if m.sender == "agent"]
    assert [r for r, _ in to_stage] == [
        "agent/analyst",
        "agent/solver",
        "agent/solver",  # re-asked: its first reply held no JSON object
        "agent/submitter",
    ]
    assert "did not match the schema of stage 'solver'" in to_stage[2][1]
    # the next stage reads the validated outputs of the previous ones
    previous = to_stage[3][1].split("Outputs of the previous stages (JSON):\n", 1)[1]
    outputs = json.JSONDecoder().raw_decode(previous)[0]
    assert outputs == {
        "analyst": {"subproblem": "Q1", "start": 80, "key": "K375"},
        "solver": {"subproblem": "Q1", "value": 125},
    }
    assert answers(action(events)) == [("Q1", 125)]


def test_show_renders_the_nesting(tmp_path):
    events = events_of("recursive", tmp_path)
    lines = timeline(events).splitlines()

    def indent_of(agent: str, kind: str) -> int:
        """Spaces before the agent name (after the fixed `  seq sSTEP ` prefix)."""
        for line in lines:
            head = line[11:]
            name, _, rest = head.lstrip(" ").partition(" ")
            if name == agent and rest.lstrip().startswith(kind):
                return len(head) - len(head.lstrip(" "))
        raise AssertionError(f"no {kind} of {agent} in:\n" + "\n".join(lines))

    root = indent_of("agent/root", "message")
    q1 = indent_of("agent/root/q1", "message")
    executor = indent_of("agent/root/q1/lookup/executor", "model_request")
    assert root < q1 < executor
    assert any("agent/root → agent/root/q1: Compute Q1" in x for x in lines)
    debate = timeline(events_of("decentralized", tmp_path / "d"))
    assert "agent/b → agent/a, agent/c [round 1]: answer(" in debate
    assert "agent/aggregator → agent [round 2]: majority: a wins" in debate


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_example_replays_identically(name, tmp_path):
    result = run(EXAMPLES / f"{name}.yaml", store=tmp_path / "runs.db")
    (row,) = result.episodes
    with Store(result.store_path) as store:
        report = asyncio.run(replay_episode(store, result.run_id, row.episode_id))
    assert report.equal, report.describe()


@pytest.mark.parametrize("name", TOPOLOGIES)
def test_example_is_documented(name):
    text = (EXAMPLES / f"{name}.yaml").read_text()
    assert text.startswith(f"# `{name}`") and f"palaestra run examples/systems/{name}.yaml" in text
