"""The environment server over real HTTP on 127.0.0.1: AgentGym's verbs, palaestra's
fields, and every error status with its message."""

from __future__ import annotations

import time

import httpx
import pytest

from palaestra.core import UserError
from palaestra.envs.remote import EnvServer, create_app


def test_verbs_play_a_whole_episode(toy_server):
    with httpx.Client(base_url=toy_server.url) as http:
        health = http.get("/").json()
        assert health["status"] == "ok" and health["env"] == "test.remote_toy"
        assert health["params"] == {"goal": 3} and health["instances"] == 0

        created = http.post("/create").json()
        idx = created["env_idx"]
        assert created["id"] == idx and created["agents"] == ["a"]

        reset = http.post("/reset", json={"env_idx": idx, "seed": 7, "task": "other"}).json()
        assert reset["agents"] == ["a"]
        assert reset["observations"]["a"]["text"] == "seed 7 task other count 0"
        assert reset["observations"]["a"]["data"] == {"count": 0}

        step = http.post("/step", json={"env_idx": idx, "actions": {"a": {"text": "2"}}}).json()
        assert step["observations"] == {
            "a": {"text": "count 2", "data": {}, "tools": [], "messages": []}
        }
        assert step["rewards"] == {"a": 0.5} and step["info"] == {"n": 1}
        assert (step["terminated"], step["truncated"]) == (False, False)
        # AgentGym's fields
        assert (step["state"], step["reward"], step["done"]) == ("count 2", 0.5, False)
        assert "score" not in step

        assert http.get("/observation", params={"env_idx": idx}).json()["state"] == "count 2"
        assert http.get("/score", params={"env_idx": idx}).json() == {
            "value": 0.0,
            "success": False,
            "metrics": {"count": 2.0},
            "explanation": "",
        }
        assert http.get("/agents", params={"env_idx": idx}).json() == {"agents": ["a"]}

        # AgentGym's single action string, for a single-agent env
        http.post("/step", json={"env_idx": idx, "action": "x"})
        last = http.post("/step", json={"env_idx": idx, "action": "9"}).json()
        assert last["done"] and last["terminated"] and last["observations"] == {}
        assert last["score"]["metrics"] == {"count": 12.0}

        assert http.post("/close", json={"env_idx": idx}).json() == {"closed": idx}
        assert http.get("/").json()["instances"] == 0


def test_tasks_params_and_data_idx(toy_server):
    with httpx.Client(base_url=toy_server.url) as http:
        assert http.get("/tasks").json() == {"tasks": ["goal-3", "other"]}
        assert http.get("/tasks", params={"params": '{"goal": 5}'}).json()["tasks"][0] == "goal-5"
        idx = http.post("/create", json={"params": {"goal": 1}}).json()["env_idx"]
        assert http.get("/tasks", params={"env_idx": idx}).json()["tasks"][0] == "goal-1"
        # data_idx is AgentGym's task index
        obs = http.post("/reset", json={"env_idx": idx, "data_idx": 1}).json()["observations"]
        assert obs["a"]["text"] == "seed 0 task other count 0"
        # goal 1: the first step ends the episode
        assert http.post("/step", json={"env_idx": idx, "action": "1"}).json()["score"]["success"]

        bad = http.post("/reset", json={"env_idx": idx, "data_idx": 2})
        assert bad.status_code == 400 and "data_idx 2 out of range: 2 tasks" in bad.json()["error"]
        bad = http.post("/create", json={"params": {"goal": 0}})
        assert bad.status_code == 422 and "goal" in bad.json()["error"]
        bad = http.post("/create", json={"params": {"speed": 1}})
        assert bad.status_code == 422 and "speed" in bad.json()["error"]
        bad = http.get("/tasks", params={"params": "{nope"})
        assert bad.status_code == 422 and "params: not JSON" in bad.json()["error"]


def test_client_errors_name_what_is_wrong(toy_server):
    with httpx.Client(base_url=toy_server.url) as http:
        idx = http.post("/create").json()["env_idx"]

        missing = http.post("/step", json={"env_idx": 99, "action": "1"})
        assert missing.status_code == 404
        assert "no environment instance with env_idx 99" in missing.json()["error"]
        assert http.get("/score", params={"env_idx": 99}).status_code == 404

        early = http.post("/step", json={"env_idx": idx, "action": "1"})
        assert early.status_code == 409 and "not reset" in early.json()["error"]

        bad = http.post("/step", json={"env_idx": idx, "actions": {"a": {"tool_calls": "call it"}}})
        assert bad.status_code == 422
        assert "actions.a.tool_calls" in bad.json()["error"]
        bad = http.post("/step", json={"env_idx": idx, "actions": {"a": {"txt": "1"}}})
        assert bad.status_code == 422 and "actions.a.txt" in bad.json()["error"]
        both = http.post("/step", json={"env_idx": idx, "action": "1", "actions": {}})
        assert both.status_code == 422 and "exactly one of actions" in both.json()["error"]
        no_idx = http.post("/reset", json={"seed": 1})
        assert no_idx.status_code == 422 and "env_idx: Field required" in no_idx.json()["error"]
        no_query = http.get("/score")
        assert no_query.status_code == 422 and "query.env_idx" in no_query.json()["error"]


def test_an_env_exception_is_a_500_and_the_instance_is_kept(toy_server):
    with httpx.Client(base_url=toy_server.url) as http:
        idx = http.post("/create").json()["env_idx"]
        http.post("/reset", json={"env_idx": idx})
        boom = http.post("/step", json={"env_idx": idx, "action": "boom"})
        assert boom.status_code == 500
        assert boom.json()["error"] == "environment step raised ValueError: the toy exploded"
        # kept, but its episode is over until the next reset
        assert http.get("/agents", params={"env_idx": idx}).status_code == 200
        again = http.post("/step", json={"env_idx": idx, "action": "1"})
        assert again.status_code == 409 and "the last step raised" in again.json()["error"]
        http.post("/reset", json={"env_idx": idx})
        assert http.post("/step", json={"env_idx": idx, "action": "1"}).status_code == 200


def test_step_after_the_end_is_refused(toy_server):
    with httpx.Client(base_url=toy_server.url) as http:
        idx = http.post("/create", json={"params": {"goal": 1}}).json()["env_idx"]
        http.post("/reset", json={"env_idx": idx})
        assert http.post("/step", json={"env_idx": idx, "action": "1"}).json()["done"]
        late = http.post("/step", json={"env_idx": idx, "action": "1"})
        assert late.status_code == 409 and "(terminated)" in late.json()["error"]


def test_a_full_server_answers_503_with_retry_after(toy_server):
    with httpx.Client(base_url=toy_server.url) as http:
        ids = [http.post("/create").json()["env_idx"] for _ in range(3)]
        full = http.post("/create")
        assert full.status_code == 503 and full.headers["retry-after"] == "1"
        assert "max_instances=3" in full.json()["error"]
        http.post("/close", json={"env_idx": ids[0]})
        assert http.post("/create").status_code == 200


def test_a_multi_agent_env_refuses_a_single_action_string(coloring_server):
    with httpx.Client(base_url=coloring_server.url) as http:
        idx = http.post("/create").json()["env_idx"]
        http.post("/reset", json={"env_idx": idx})
        single = http.post("/step", json={"env_idx": idx, "action": "ANSWER: 1"})
        assert single.status_code == 422 and "single-agent" in single.json()["error"]
        unknown = http.post("/reset", json={"env_idx": idx, "task": "nope"})
        assert unknown.status_code == 400 and "nope" in unknown.json()["error"]
        http.post("/close", json={"env_idx": idx})


def test_idle_instances_are_closed(toy_id):
    with (
        EnvServer(toy_id, idle_timeout_s=0.2) as server,
        httpx.Client(base_url=server.url) as http,
    ):
        idx = http.post("/create").json()["env_idx"]
        deadline = time.monotonic() + 5
        while http.get("/").json()["instances"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert http.get("/").json()["instances"] == 0
        assert http.get("/agents", params={"env_idx": idx}).status_code == 404


def test_create_app_refuses_bad_configuration(toy_id):
    with pytest.raises(UserError, match="unknown environment 'nope'"):
        create_app("nope")
    with pytest.raises(UserError, match="goal"):
        create_app(toy_id, {"goal": -1})
    with pytest.raises(UserError, match="max_instances must be >= 1"):
        create_app(toy_id, max_instances=0)
