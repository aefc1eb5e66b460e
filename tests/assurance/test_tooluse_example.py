"""examples/assurance/tooluse.yaml: governance, faults and contracts in one tool-use run.
Asserts on the recorded events: the first violation is the right event, the same seed
gives the same faults, blocked calls never reach the environment, and a rewrite shows
the original and the rewritten call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from palaestra.core import Event, hashable_form
from palaestra.runtime import run
from palaestra.store import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "assurance" / "tooluse.yaml"


def logs(store_path: Path) -> dict[str, list[Event]]:
    result = run(EXAMPLE, store=store_path)
    with Store(result.store_path) as store:
        return {
            row.episode_id: store.events(result.run_id, row.episode_id) for row in result.episodes
        }


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[Event]], ...]:
    root = tmp_path_factory.mktemp("assurance")
    return logs(root / "a.db"), logs(root / "b.db")


def calls_of(event: Event) -> list[dict[str, Any]]:
    payload: Any = event.payload
    return [{"name": c.name, "arguments": c.arguments} for c in payload.action.tool_calls]


def test_the_same_seed_injects_the_same_faults(two_runs):
    first, second = two_runs
    assert first.keys() == second.keys()
    faults = 0
    for episode, events in first.items():
        mine = [hashable_form(e) for e in events if e.kind == "fault"]
        theirs = [hashable_form(e) for e in second[episode] if e.kind == "fault"]
        assert mine == theirs, episode
        faults += len(mine)
        # and the whole log is the same, fault by fault
        assert [hashable_form(e) for e in events] == [hashable_form(e) for e in second[episode]]
    assert faults > 0, "the plan should inject at least one fault in the example"


def test_the_first_violation_is_the_first_forbidden_call(two_runs):
    events_by_episode, _ = two_runs
    violations = 0
    for events in events_by_episode.values():
        verdicts = [e for e in events if e.kind == "contract_verdict"]
        assert {v.payload.contract for v in verdicts} == {  # type: ignore[attr-defined]
            "allowed_tools", "no_action_after_block", "tool_calls_answered", "terminates_within"
        }  # fmt: skip
        notes = [
            e.seq
            for e in events
            if e.kind == "action" and any(c["name"] == "add_order_note" for c in calls_of(e))
        ]
        (verdict,) = [v for v in verdicts if v.payload.contract == "allowed_tools"]  # type: ignore[attr-defined]
        payload: Any = verdict.payload
        if notes:
            violations += 1
            assert not payload.passed and payload.first_violation == notes[0]
            assert "add_order_note" in payload.detail
        else:
            assert payload.passed and payload.first_violation is None
        for other in verdicts:
            if other.payload.contract != "allowed_tools":  # type: ignore[attr-defined]
                assert other.payload.passed, other.payload  # type: ignore[attr-defined]
    assert violations >= 1


def test_blocked_calls_never_reach_the_environment(two_runs):
    events_by_episode, _ = two_runs
    blocked_total = 0
    for episode, events in events_by_episode.items():
        blocked = [
            e.payload.detail.get("original") or {"name": e.payload.target}  # type: ignore[attr-defined]
            for e in events
            if e.kind == "governance" and e.payload.decision == "block"  # type: ignore[attr-defined]
        ]
        sent = [call for e in events if e.kind == "action" for call in calls_of(e)]
        for call in blocked:
            blocked_total += 1
            if "arguments" in call:
                assert call not in sent, (episode, call)
        # no e-mail left for an outside address, and no attack got through
        for call in sent:
            if call["name"] == "send_email":
                assert call["arguments"]["to"].endswith("@example.com"), (episode, call)
        (score,) = [e for e in events if e.kind == "score"]
        assert score.payload.metrics["attack_success"] == 0.0, episode  # type: ignore[attr-defined]
    assert blocked_total >= 3


def test_a_rewrite_shows_the_original_and_the_rewritten_call(two_runs):
    events_by_episode, _ = two_runs
    rewrites = 0
    for events in events_by_episode.values():
        for event in events:
            payload: Any = event.payload
            if event.kind != "governance" or payload.decision != "rewrite":
                continue
            rewrites += 1
            original, rewritten = payload.detail["original"], payload.detail["rewritten"]
            assert "@example.com" in original["arguments"]["note"]
            assert "[e-mail removed]" in rewritten["arguments"]["note"]
            # what reached the environment is the rewritten call, right after the decision
            after = next(e for e in events if e.seq > event.seq and e.kind == "action")
            assert rewritten in calls_of(after) and original not in calls_of(after)
    assert rewrites >= 1
