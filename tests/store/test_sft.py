"""SFT export on real stored runs: OpenAI chat format, one sample per conversation
(prefix deduplication), success filtering, agents without a model, the HF dataset."""

from __future__ import annotations

import io
import json

import pytest

from palaestra.core import (
    EpisodeStart,
    Message,
    ModelRequestEvent,
    ModelResponseEvent,
    ToolCall,
    make_event,
)
from palaestra.store import Store, episode_sft, export_sft, iter_sft, to_hf_dataset
from tests.store.export_runs import Runs, shared_runs


@pytest.fixture(scope="module")
def runs() -> Runs:
    return shared_runs()


@pytest.fixture
def source(runs: Runs):
    with Store(runs.store_path) as store:
        yield store


def test_llm_conversation_is_one_sample_equal_to_the_last_call(source, runs):
    records = list(iter_sft(source, runs.llm))
    assert len(records) == 1  # the failed episode is left out by default
    (record,) = records
    episode = record["metadata"]["episode_id"]
    events = source.events(runs.llm, episode)
    last_request = [e for e in events if e.kind == "model_request"][-1].payload
    last_response = [e for e in events if e.kind == "model_response"][-1].payload
    messages = record["messages"]
    assert len(messages) == len(last_request.messages) + 1
    assert messages[-1] == {"role": "assistant", "content": last_response.message.content}
    calls = [m for m in messages if m.get("tool_calls")]
    assert len(calls) == 3
    first = calls[0]["tool_calls"][0]
    assert first["type"] == "function" and first["id"] == "call_0"
    assert json.loads(first["function"]["arguments"]) == {"email": "lucas.iyer76@example.com"}
    tool_messages = [m for m in messages if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_messages] == ["call_0", "call_1", "call_2"]
    assert [t["function"]["name"] for t in record["tools"]] == [t.name for t in last_request.tools]
    assert record["tools"][0]["function"]["parameters"]["type"] == "object"
    assert record["metadata"]["success"] is True and record["metadata"]["source"] == "model"


def test_all_episodes_includes_failures(source, runs):
    records = list(iter_sft(source, runs.llm, all_episodes=True))
    assert [r["metadata"]["success"] for r in records] == [True, False]
    assert records[1]["messages"][-1]["content"] == "Sorry, I cannot help with that."


def test_baseline_demonstrations_come_from_actions(source, runs):
    records = list(iter_sft(source, runs.baseline))
    assert len(records) == 2
    messages = records[0]["messages"]
    assert records[0]["metadata"]["source"] == "actions"
    assert [m["role"] for m in messages[:3]] == ["system", "user", "assistant"]
    assert messages[2]["tool_calls"][0]["function"]["name"] == "find_user_id_by_email"
    assert messages[3] == {
        "role": "tool",
        "content": "lucas_iyer_2376",
        "tool_call_id": "call_0",
    }
    assert messages[-1]["role"] == "assistant" and messages[-1]["content"]
    assert len(records[0]["tools"]) == 10


def test_agent_filter_and_members_of_a_system(source, runs):
    records = list(iter_sft(source, runs.system))
    assert [r["metadata"]["agent"] for r in records] == [
        "agent",
        "agent/q1_solver",
        "agent/q2_solver",
    ]
    # the orchestrator's two calls are one conversation (the second extends the first)
    boss = records[0]["messages"]
    assert sum(1 for m in boss if m["role"] == "assistant") == 2
    only = list(iter_sft(source, runs.system, agents=["agent/q2_solver"]))
    assert len(only) == 1 and only[0]["messages"][-1]["content"].startswith("Q2 = 24")


def _call(seq, parent, messages, reply, agent="a"):
    return [
        make_event("e", seq, 0, agent, ModelRequestEvent(model="scripted", messages=messages)),
        make_event("e", seq + 1, 0, agent, ModelResponseEvent(message=reply), parent=seq),
    ]


def test_prefix_deduplication_keeps_each_conversation_once():
    system = Message(role="system", content="s")
    q1 = Message(role="user", content="q1")
    a1 = Message(role="assistant", content="a1")
    q2 = Message(role="user", content="q2")
    a2 = Message(
        role="assistant", tool_calls=[ToolCall(id="x", name="f", arguments={"__raw__": "{bad"})]
    )
    fresh = Message(role="user", content="again")
    events = [make_event("e", 0, 0, "env", EpisodeStart(env="t", task="t", seed=0, agents=["a"]))]
    events += _call(1, None, [system, q1], a1)
    events += _call(3, None, [system, q1, a1, q2], a2)  # continues the first
    events += _call(5, None, [system, fresh], a1)  # a new conversation
    records = episode_sft(events)
    assert [len(r["messages"]) for r in records] == [5, 3]
    # arguments that were not JSON keep the model's raw text
    assert records[0]["messages"][-1]["tool_calls"][0]["function"]["arguments"] == "{bad"


def test_jsonl_file_and_no_metadata(source, runs):
    buffer = io.StringIO()
    assert export_sft(source, runs.llm, buffer, all_episodes=True, metadata=False) == 2
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    assert [sorted(line) for line in lines] == [["messages", "tools"]] * 2


def test_hf_dataset(source, runs):
    dataset = to_hf_dataset(source, runs.system)
    assert dataset.num_rows == 3
    assert dataset["agent"] == ["agent", "agent/q1_solver", "agent/q2_solver"]
    last = dataset[0]["messages"][-1]
    assert last["role"] == "assistant" and last["tool_calls"][0]["function"]["name"] == "answer"
    tools = json.loads(dataset[0]["tools"])
    assert {t["function"]["name"] for t in tools} >= {"answer", "delegate_to_q1_solver"}
