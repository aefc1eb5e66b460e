"""The viewer's JSON API over a real store with real runs (FastAPI's TestClient)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from palaestra.core import (
    ContractVerdict,
    EpisodeEnd,
    EpisodeStart,
    Fault,
    Governance,
    ScoreEvent,
    make_event,
)
from palaestra.store import EpisodeRow, EpisodeSummary, Store
from palaestra.viewer import StoreReader, create_app
from tests.viewer.conftest import ViewerRuns


@pytest.fixture(scope="module")
def client(viewer_runs: ViewerRuns) -> Iterator[TestClient]:
    with TestClient(create_app(viewer_runs.store), base_url="http://127.0.0.1") as opened:
        yield opened


def ok(client: TestClient, path: str, **params: object) -> dict:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_runs_page_newest_first_with_counts(client, viewer_runs):
    page = ok(client, "/api/runs")
    ids = [run["run_id"] for run in page["items"]]
    assert ids == [viewer_runs.errors, viewer_runs.system, viewer_runs.tooluse]
    assert page["total"] == 3
    errors = page["items"][0]
    assert (errors["episodes"], errors["error"], errors["success"]) == (5, 2, 3)
    assert errors["success_rate"] == pytest.approx(3 / 5)
    assert "experiment" not in errors  # the list stays small; /api/run has it
    second = ok(client, "/api/runs", limit=2, offset=2)
    assert [r["run_id"] for r in second["items"]] == [viewer_runs.tooluse]


def test_run_resolves_prefixes_and_summarises(client, viewer_runs):
    run = ok(client, "/api/run", run="errors")
    assert run["run_id"] == viewer_runs.errors
    assert run["experiment"]["name"] == "viewer-errors"
    assert run["summary"]["by_outcome"] == {"success": 3, "failure": 0, "error": 2}
    assert ok(client, "/api/run", run="last")["run_id"] == viewer_runs.errors
    missing = client.get("/api/run", params={"run": "nope"})
    assert missing.status_code == 404
    assert "valid choices" in missing.json()["detail"] and "errors-run" in missing.json()["detail"]


def test_facets_list_filter_choices_with_counts(client, viewer_runs):
    facets = ok(client, "/api/facets", run=viewer_runs.tooluse)
    assert facets["env"] == [["tooluse.airline", 2], ["tooluse.store", 4]]
    assert facets["job"] == [["shop", 4], ["airline-two-agents", 2]]
    # the runner's episode rows carry no agents: they come from each episode_start
    assert dict(facets["agent"]) == {"agent": 6, "user": 2}
    assert facets["outcome"] == [["success", 6]]


def test_episodes_filters(client, viewer_runs):
    def ids(**filters: object) -> list[str]:
        page = ok(client, "/api/episodes", run=viewer_runs.tooluse, **filters)
        assert page["total"] == len(page["items"])
        return [e["episode_id"] for e in page["items"]]

    everything = ids()
    assert len(everything) == 6 and everything[0] == "shop/cancel-000/0/0"  # start order
    assert ids(env="tooluse.airline") == [e for e in everything if e.startswith("airline")]
    assert ids(job="shop") == [e for e in everything if e.startswith("shop/")]
    assert ids(agent="user") == ids(job="airline-two-agents")
    assert ids(task="CANCEL") == [e for e in everything if "cancel" in e]
    assert ids(task="100%") == []  # LIKE wildcards are matched literally
    assert ids(outcome="error") == []
    assert ids(score_min=0.5, score_max=1) == everything
    assert ids(score_min=1.5) == []

    errors = ok(client, "/api/episodes", run=viewer_runs.errors, outcome=["error"])
    assert [e["episode_id"].split("/")[0] for e in errors["items"]] == ["runs-out"] * 2
    assert all("ModelError" in e["error"] for e in errors["items"])
    both = ok(client, "/api/episodes", run=viewer_runs.errors, outcome="error,success")
    assert both["total"] == 5


def test_episodes_pagination(client, viewer_runs):
    first = ok(client, "/api/episodes", run=viewer_runs.tooluse, limit=4)
    rest = ok(client, "/api/episodes", run=viewer_runs.tooluse, limit=4, offset=4)
    assert (first["total"], rest["total"]) == (6, 6)
    assert len(first["items"]) == 4 and len(rest["items"]) == 2
    ids = [e["id"] for e in first["items"] + rest["items"]]
    assert ids == sorted(ids) and len(set(ids)) == 6


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({"outcome": "won"}, 400, "valid choices: success, failure, error, running"),
        ({"score_min": 1, "score_max": 0}, 400, "score_min"),
        ({"limit": 0}, 422, "limit"),
        ({"limit": 5000}, 422, "limit"),
        ({"score_min": "high"}, 422, "score_min"),
    ],
)
def test_bad_episode_queries_say_what_is_wrong(client, viewer_runs, params, status, needle):
    response = client.get("/api/episodes", params={"run": viewer_runs.tooluse, **params})
    assert response.status_code == status
    assert needle in str(response.json()["detail"])


def test_episode_by_id_and_by_reference(client, viewer_runs):
    page = ok(client, "/api/episodes", run=viewer_runs.system)
    (row,) = page["items"]
    by_id = ok(client, "/api/episode", id=row["id"])
    by_ref = ok(client, "/api/episode", run="system", episode_id=row["episode_id"])
    assert by_id == by_ref
    assert by_id["lanes"] == ["env", "agent"] and by_id["n_events"] == 22
    assert client.get("/api/episode", params={"id": 10**6}).status_code == 404
    assert client.get("/api/episode").status_code == 400


def test_events_keyset_pages_cover_the_episode_in_order(client, viewer_runs):
    (row,) = ok(client, "/api/episodes", run=viewer_runs.system)["items"]
    seen: list[dict] = []
    after = -1
    while after is not None:
        page = ok(client, "/api/events", episode=row["id"], after_seq=after, limit=5)
        seen += page["items"]
        after = page["next_after_seq"]
    assert [e["seq"] for e in seen] == list(range(row["n_events"]))
    assert seen[0]["kind"] == "episode_start" and seen[-1]["kind"] == "episode_end"
    # the workers are internal agents, nested under the messages that consulted them
    by_seq = {e["seq"]: e for e in seen}
    worker = next(e for e in seen if e["agent"] == "agent/q1_solver")
    assert by_seq[worker["parent"]]["kind"] == "message"
    response = next(e for e in seen if e["kind"] == "model_response")
    assert response["facts"]["input_tokens"] > 0 and "delegate_to_q1_solver" in response["summary"]
    call = next(e for e in seen if e["kind"] == "tool_call")
    assert call["facts"]["tool"] == "delegate_to_q1_solver"


def test_events_filters_by_kind_and_agent(client, viewer_runs):
    (row,) = ok(client, "/api/episodes", run=viewer_runs.system)["items"]
    calls = ok(client, "/api/events", episode=row["id"], kind="tool_call,tool_result")
    assert {e["kind"] for e in calls["items"]} == {"tool_call", "tool_result"}
    assert len(calls["items"]) == 4 and calls["next_after_seq"] is None
    team = ok(client, "/api/events", episode=row["id"], agent="agent")
    agents = {e["agent"] for e in team["items"]}
    assert agents == {"agent", "agent/q1_solver", "agent/q2_solver"}  # members included
    bad = client.get("/api/events", params={"episode": row["id"], "kind": "thought"})
    assert bad.status_code == 400 and "valid choices" in bad.json()["detail"]


def test_event_is_the_stored_json(client, viewer_runs):
    errors = ok(client, "/api/episodes", run=viewer_runs.errors, outcome="error")["items"][0]
    with Store(viewer_runs.store) as store:
        stored = store.events(viewer_runs.errors, errors["episode_id"])
    last = ok(client, "/api/event", episode=errors["id"], seq=len(stored) - 1)
    assert last == stored[-1].model_dump(mode="json")
    assert last["payload"]["reason"] == "error"
    # a model that failed for good ends the episode with its error and no traceback
    assert last["payload"]["error"].startswith("ModelError: ")
    assert last["payload"]["traceback"] is None
    assert client.get("/api/event", params={"episode": errors["id"], "seq": 999}).status_code == 404


def test_static_page_is_served_without_external_resources(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert 'src="static/app.js"' in page.text
    for name in ("app.js", "style.css"):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and asset.text
        assert "http://" not in asset.text and "https://" not in asset.text
    assert "http" not in page.text.split("<body>")[0]
    assert client.get("/static/secret.py").status_code == 404


def test_assurance_events_show_in_the_timeline(tmp_path: Path):
    """Governance decisions, faults and contract verdicts read as badges and summaries."""
    path = tmp_path / "assured.db"
    with Store(path) as store:
        store.create_run("r", experiment={}, seed=0)
        store.start_episode("r", EpisodeRow(episode_id="job/t/0/0", env="e", task="t", seed=0))
        payloads = [
            ("env", EpisodeStart(env="e", task="t", seed=0, agents=["a"])),
            ("a", Governance(decision="block", rule="no-refunds", target="tool:refund")),
            ("a", Fault(fault="timeout", target="model", detail={"after_s": 1})),
            ("env", ContractVerdict(contract="policy", passed=False, first_violation=1)),
            ("env", ScoreEvent(value=0.0, success=False)),
            ("env", EpisodeEnd(outcome="failure", reason="done")),
        ]
        events = [make_event("job/t/0/0", i, 0, who, p) for i, (who, p) in enumerate(payloads)]
        store.append("r", events)
        store.finish_episode(
            "r",
            EpisodeSummary(episode_id="job/t/0/0", outcome="failure", reason="done", score=0.0),
        )
    with StoreReader(path) as reader:
        (episode,) = reader.episodes("r")["items"]
        items = {e["kind"]: e for e in reader.events(episode["id"])["items"]}
    assert items["governance"]["facts"] == {"decision": "block", "rule": "no-refunds"}
    assert items["governance"]["summary"] == "BLOCK on tool:refund by rule no-refunds"
    assert items["fault"]["summary"].startswith("injected timeout at model")
    assert items["contract_verdict"]["facts"]["passed"] is False
    assert "VIOLATED at #1" in items["contract_verdict"]["summary"]


def test_reader_refuses_a_missing_store(tmp_path: Path):
    from palaestra.core import UserError

    with pytest.raises(UserError, match="no event store at"):
        StoreReader(tmp_path / "absent.db")
    assert not (tmp_path / "absent.db").exists()  # nothing created
