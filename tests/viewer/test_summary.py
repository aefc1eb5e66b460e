"""`describe_event`: the timeline line of every event kind, from the stored JSON."""

from __future__ import annotations

import json

from palaestra.cli._render import event_summary
from palaestra.core import (
    PAYLOADS,
    Action,
    ActionEvent,
    EnvStep,
    FileEntry,
    Message,
    MessageEvent,
    ModelRequestEvent,
    ModelResponseEvent,
    ToolCall,
    ToolCallEvent,
    ToolResultEvent,
    Usage,
    WorkspaceManifest,
    make_event,
)
from palaestra.viewer import describe_event
from palaestra.viewer._summary import SUMMARY_LIMIT


def described(payload, **fields) -> dict:
    event = make_event("e", 3, 1, "agent", payload, **fields)
    return describe_event(json.loads(event.to_json()))


def test_model_turn_shows_tokens_latency_and_calls():
    call = ToolCall(id="c1", name="lookup", arguments={"key": "K937"})
    response = described(
        ModelResponseEvent(
            message=Message(role="assistant", content="checking", tool_calls=[call]),
            usage=Usage(input_tokens=120, output_tokens=7, cost_usd=0.001),
            model="gpt-x",
        ),
        parent=2,
        duration_s=0.25,
    )
    assert response["summary"] == 'calls lookup({"key":"K937"}) | checking'
    assert response["facts"]["input_tokens"] == 120 and response["facts"]["output_tokens"] == 7
    assert response["facts"]["cost_usd"] == 0.001 and response["facts"]["error"] is False
    assert (response["parent"], response["duration_s"], response["seq"]) == (2, 0.25, 3)
    failed = described(ModelResponseEvent(attempt=2, error="HTTP 503: overloaded"))
    assert failed["summary"] == "attempt 2 failed: HTTP 503: overloaded"
    assert failed["facts"]["error"] is True
    resent = described(ModelResponseEvent(attempt=1, error="connection error: x", resent=True))
    assert resent["summary"] == "attempt 1 failed (re-sent at once): connection error: x"
    request = described(
        ModelRequestEvent(model="openai:gpt", messages=[Message(role="user", content="hi")])
    )
    assert request["summary"] == "openai:gpt (1 messages) user: hi"


def test_tools_messages_actions_and_steps():
    call = ToolCall(id="c1", name="add", arguments={"n": 1})
    assert described(ToolCallEvent(call=call))["summary"] == 'add({"n":1})'
    result = described(ToolResultEvent(call_id="c1", name="add", content="bad n", is_error=True))
    assert result["summary"] == "ERROR add: bad n" and result["facts"]["error"] is True
    message = described(MessageEvent(sender="a", recipients=["b", "c"], content="hi", round=2))
    assert message["summary"] == "a → b, c [round 2]: hi"
    action = described(ActionEvent(action=Action(text="done", tool_calls=[call])))
    assert action["summary"] == 'calls add({"n":1}) | done'
    step = described(EnvStep(rewards={"a": 1.0, "b": 0.0}, terminated=True))
    assert step["summary"] == "rewards {'a': 1.0} terminated"


def test_long_text_is_clipped_to_one_line():
    text = "line one\n" + "x" * 1000
    result = described(ToolResultEvent(call_id="c", name="read", content=text))
    assert "\n" not in result["summary"] and len(result["summary"]) <= SUMMARY_LIMIT
    assert result["summary"].endswith("…")


def test_every_kind_and_odd_payloads_give_a_line():
    for kind in PAYLOADS:
        entry = describe_event({"kind": kind, "seq": 0, "agent": "a", "payload": {}})
        assert isinstance(entry["summary"], str) and entry["kind"] == kind
    # a payload of another shape (a newer writer, a hand-edited log) still shows
    odd = describe_event({"kind": "model_response", "payload": {"message": "text", "usage": 3}})
    assert odd["kind"] == "model_response" and isinstance(odd["summary"], str)
    unknown = describe_event({"kind": "thought", "payload": {"text": "hmm"}})
    assert unknown["summary"] == '{"text":"hmm"}'


def test_a_workspace_manifest_shows_its_files():
    manifest = WorkspaceManifest(
        files=[FileEntry(path="a.py", kind="file", size=3), FileEntry(path="b", kind="symlink")],
        total_files=9,
        total_bytes=300,
        truncated=True,
    )
    entry = described(manifest)
    assert entry["summary"] == "9 files, 300 bytes (truncated): a.py, b"
    assert entry["facts"] == {"files": 9, "truncated": True}
    hostile = describe_event({"kind": "workspace", "payload": {"files": 7, "total_files": "x"}})
    assert hostile["summary"] == "x files, 0 bytes"
    line = event_summary(make_event("e", 5, 2, "env", manifest))
    assert line == "9 files, 300 bytes (truncated): a.py, b"  # `palaestra show`
    assert event_summary(make_event("e", 5, 2, "env", WorkspaceManifest())) == "0 files, 0 bytes"
