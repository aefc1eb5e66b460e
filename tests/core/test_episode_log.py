"""`EpisodeLog` on real recorded episodes (built-in envs with baselines, a scripted LLM
calling environment tools, a multi-agent system with its own tools and messages): each
index answers what a plain scan of the events answers, pairings match what the recorder
nested, and the log is immutable and refuses mixed episodes."""

from __future__ import annotations

import pytest

from palaestra.core import (
    ActionEvent,
    EpisodeLog,
    ModelResponseEvent,
    ObservationEvent,
    ScoreEvent,
    StoreError,
    ToolCallEvent,
    ToolResultEvent,
    UserError,
)
from palaestra.store import ReadOnlyStore, Store
from tests.store.export_runs import Runs, shared_runs


@pytest.fixture(scope="module")
def runs() -> Runs:
    return shared_runs()


@pytest.fixture(scope="module")
def logs(runs: Runs) -> dict[str, list[EpisodeLog]]:
    with Store(runs.store_path) as store:
        return {
            run: [store.episode_log(run, row.episode_id) for row in store.episodes(run)]
            for run in runs.all
        }


def every(logs: dict[str, list[EpisodeLog]]) -> list[EpisodeLog]:
    return [log for found in logs.values() for log in found]


def test_indexes_answer_what_a_scan_answers(logs) -> None:
    for log in every(logs):
        events = log.events
        assert [log.by_seq[e.seq] for e in events] == list(events)
        assert log.get(None) is None and log.get(len(events) + 5) is None
        for kind in {e.kind for e in events}:
            assert log.of_kind(kind) == tuple(e for e in events if e.kind == kind)
            assert log.kinds[kind] == sum(e.kind == kind for e in events)
        assert log.of_kind("action", "observation") == tuple(
            e for e in events if e.kind in ("action", "observation")
        )
        assert log.agents == tuple(dict.fromkeys(e.agent for e in events))
        for agent in log.agents:
            assert log.of_agent(agent) == tuple(e for e in events if e.agent == agent)
            assert log.of_agent(agent, internal=True) == tuple(
                e for e in events if e.agent == agent or e.agent.startswith(agent + "/")
            )
        assert sum(len(group) for group in log.steps.values()) == len(events)
        for event in events:
            assert log.children(event) == tuple(e for e in events if e.parent == event.seq)
            assert log.before(event) == events[: events.index(event)]
        for seq, step in log.env_steps.items():
            (logged,) = [e for e in events if e.kind == "env_step" and e.step == seq]
            assert step is logged.payload


def test_frame_start_end_and_scores(logs) -> None:
    for log in every(logs):
        assert log.start_event is log.events[0] and log.start is log.events[0].payload
        assert log.end_event is log.events[-1] and log.end is log.events[-1].payload
        own = [e.payload for e in log.events if e.kind == "score" and not e.payload.scorer]
        assert log.env_score is own[-1] and isinstance(log.env_score, ScoreEvent)
        assert log.score_of("") is log.env_score and log.score_of("nobody") is None
        assert log.episode_id == log.events[0].episode_id
    (code, *_) = logs["code"]
    (manifest,) = [e.payload for e in code.events if e.kind == "workspace"]
    assert code.workspace is manifest
    assert logs["baseline"][0].workspace is None


def test_parent_tree_of_a_multi_agent_episode(logs) -> None:
    (log, *_) = logs["system"]
    nested = [e for e in log.events if e.agent.count("/") == 1 and e.parent is not None]
    assert nested, "the delegating system's solvers act under their caller's events"
    for event in nested:
        chain = log.ancestors(event)
        expected, cursor = [], event
        while cursor.parent is not None:
            cursor = log.events[cursor.parent]
            expected.append(cursor)
        assert list(chain) == expected and log.parent(event) is chain[0]
        assert chain[-1] in log.roots
    assert log.ancestors(log.events[0]) == ()


def test_operator_tool_calls_pair_with_their_results(logs) -> None:
    (log, *_) = logs["system"]
    calls = log.of_kind("tool_call")
    assert len(calls) == 2
    for call in calls:
        result = log.result_of(call)
        assert result is not None and isinstance(result.payload, ToolResultEvent)
        assert isinstance(call.payload, ToolCallEvent)
        assert result.payload.call_id == call.payload.call.id
        assert log.call_of(result) is call
    assert log.result_of(log.events[0]) is None and log.call_of(log.events[0]) is None


def test_model_requests_pair_with_their_responses(logs) -> None:
    for log in logs["llm"] + logs["system"]:
        requests = log.of_kind("model_request")
        assert requests
        for request in requests:
            responses = log.responses_of(request)
            assert responses and all(log.request_of(r) is request for r in responses)
            assert isinstance(responses[-1].payload, ModelResponseEvent)
            assert responses[-1].payload.message is not None
        assert sum(len(log.responses_of(r)) for r in requests) == log.kinds["model_response"]


def test_environment_tool_results_find_the_action_that_called(logs) -> None:
    (solved, _) = logs["llm"]
    paired = 0
    for observation in solved.of_kind("observation"):
        assert isinstance(observation.payload, ObservationEvent)
        for result in observation.payload.observation.data.get("tool_results", []):
            action = solved.action_with_call(observation.agent, result["id"], observation.seq)
            assert action is not None and action.seq < observation.seq
            assert isinstance(action.payload, ActionEvent)
            assert result["id"] in {c.id for c in action.payload.action.tool_calls}
            paired += 1
    assert paired == 3  # the three tool calls that solve cancel-000
    assert solved.action_with_call("agent", "no-such-call", len(solved)) is None


def test_agent_side_views(logs) -> None:
    (solved, failed) = logs["llm"]
    assert solved.main_agent() == "agent"
    assert [c.name for c in solved.tool_calls()] == [
        "find_user_id_by_email",
        "get_order_details",
        "cancel_pending_order",
    ]
    assert solved.texts()[-1] == "Your order #W3606055 is cancelled."
    assert set(failed.texts()) == {"Sorry, I cannot help with that."}
    assert len(failed.texts()) == len(failed.actions()) and not failed.tool_calls()
    assert "lucas.iyer76@example.com" in solved.first_prompt()
    assert solved.transcript().count("[agent calls]") == 3
    assert solved.env_target == solved.env_target.of(solved.env_score.target)  # type: ignore[union-attr]


def test_immutable_and_one_episode_only(logs) -> None:
    (log, *_) = logs["baseline"]
    with pytest.raises(AttributeError, match="immutable"):
        log.events = ()  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del log.by_seq
    assert isinstance(log.events, tuple)
    with pytest.raises(TypeError):
        log.by_seq[0] = log.events[0]  # type: ignore[index]
    other = logs["baseline"][1]
    with pytest.raises(UserError, match="one episode's events") as info:
        EpisodeLog([*log.events, *other.events])
    assert other.episode_id in str(info.value)
    assert EpisodeLog.of(log) is log
    assert EpisodeLog([]).episode_id == "" and EpisodeLog([]).start is None


def test_indexes_are_built_on_first_use(logs) -> None:
    (source, *_) = logs["llm"]
    log = EpisodeLog(source.events)
    assert "_by_kind" not in vars(log) and "_children" not in vars(log)
    log.of_kind("action")
    assert "_by_kind" in vars(log) and "_children" not in vars(log)


def test_store_readers_give_the_same_log(runs: Runs, logs) -> None:
    (first, *_) = logs["system"]
    with ReadOnlyStore(runs.store_path) as reader:
        item = reader.episode(run="system", episode_id=first.episode_id)
        assert reader.episode_log(item["id"]).events == first.events
    with Store(runs.store_path) as store, pytest.raises(StoreError, match="no-such"):
        store.episode_log("system", "no-such")
