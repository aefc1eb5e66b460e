"""`palaestra run` against a real chat server that fails in every way a provider fails,
then `palaestra replay`: every episode, the failed ones included, is identical (exit 0),
and `palaestra show` lists every request the server read as an attempt."""

from __future__ import annotations

import json

import pytest

from palaestra.testing import ChatServer
from tests.cli.test_cli import palaestra

EXPERIMENT = """\
name: failing-server
models:
  remote:
    spec: openai:test
    base_url: {url}
    timeout_s: 0.3
    max_retries: 2
    options: {{backoff_base_s: 0.01}}
jobs:
  - env: tooluse.store
    tasks: 6
    max_steps: 1
    operator: {{kind: llm, model: remote}}
"""


@pytest.mark.slow
def test_run_on_a_failing_server_then_replay_is_identical(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    store = tmp_path / "p.db"
    with ChatServer(reply="I cannot help with that.") as server:
        # one episode at a time, one model call each, in task order:
        server.push()  # answered; its connection stays in the pool
        server.push(drop=True)  # dropped on that pooled connection after it was read:
        server.push()  # ... the transport's re-send is answered
        server.push(drop=True)  # dropped on the pooled connection, then 503 until the
        server.push(status=503)  # ... retries are spent
        server.push(status=503)
        server.push(status=503)
        for fault in ({"malformed": True}, {"delay_s": 1.0}, {"drop": True}):
            for _ in range(3):  # malformed JSON, a timeout, a fresh connection dropped
                server.push(**fault)  # type: ignore[arg-type]
        exp = tmp_path / "exp.yaml"
        exp.write_text(EXPERIMENT.format(url=server.base_url))
        palaestra("run", str(exp), "--run-id", "f", "--concurrency", "1", "--quiet", store=store)
        seen = server.request_count
        assert server.pending_faults == 0
    episodes = json.loads(palaestra("show", "f", "--json", store=store).stdout)["episodes"]
    assert [e["outcome"] for e in episodes].count("error") == 4
    logged = resent = 0
    for episode in episodes:
        out = palaestra("show", "f", episode["episode_id"], "--json", store=store).stdout
        attempts = [e["payload"] for e in json.loads(out) if e["kind"] == "model_response"]
        logged += len(attempts)
        resent += sum(bool(a.get("resent")) for a in attempts)
        if attempts[0].get("resent"):
            with_resend = episode["episode_id"]
    assert logged == seen == 16 and resent == 2
    timeline = palaestra("show", "f", with_resend, store=store).stdout
    assert "attempt 1 FAILED (re-sent at once): connection error: server disconnected" in timeline

    proc = palaestra("replay", "f", store=store, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "replayed 6 episodes: 6 identical, 0 differ" in proc.stdout
