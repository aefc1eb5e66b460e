"""`HttpEnvironment` against real servers: it plays exactly like the local environment,
releases what it opens, retries what may be retried, and fails with messages that name
the URL and the verb."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from typing import Any

import httpx
import pytest

from palaestra.core import Action, UserError
from palaestra.envs import Environment, check_env, get_spec, make
from palaestra.envs.remote import EnvServer, HttpEnvironment, RemoteEnvError, fetch_health
from palaestra.runtime import AgentContext, EpisodeRecorder, run


async def play(env: Environment, env_id: str, params: dict[str, Any], seed: int, task: str):
    """One episode with the registered baseline: every observation, step and the score,
    as JSON data."""
    spec = get_spec(env_id)
    validated = spec.validate(params)
    assert spec.baseline is not None
    observations = await env.reset(seed, task)
    operators = {agent: spec.baseline(validated, agent) for agent in env.agents}
    recorder = EpisodeRecorder(f"{task}/{seed}", run_seed=0)
    log: list[Any] = [{a: o.model_dump() for a, o in observations.items()}]
    for index in range(500):
        actions = {}
        for agent, observation in observations.items():
            ctx = AgentContext(recorder, agent, index, 0)
            actions[agent] = await operators[agent].act(observation, ctx)
        step = await env.step(actions)
        log.append(
            (
                {a: o.model_dump() for a, o in step.observations.items()},
                step.rewards,
                step.terminated,
                step.truncated,
                step.info,
            )
        )
        if step.terminated or step.truncated:
            score = env.score()
            log.append((score.value, score.success, score.metrics, score.explanation))
            return log
        observations = step.observations
    raise AssertionError("no end")


@pytest.mark.parametrize(
    ("env_id", "params"),
    [("graph.coloring", {"n": 6}), ("tooluse.store", {"num_tasks": 4})],
)
async def test_plays_exactly_like_the_local_env(env_id, params):
    local = make(env_id, **params)
    with EnvServer(env_id, params) as server:
        remote = HttpEnvironment(server.url, env=env_id)
        assert remote.tasks() == local.tasks()
        for task in local.tasks()[:2]:
            for seed in (0, 1):
                want = await play(local, env_id, params, seed, task)
                got = await play(remote, env_id, params, seed, task)
                assert got == want
                assert want[-1][1] is True  # the baseline solves it
        # each episode ended on its own: the client closed its instance
        assert (await remote.health())["instances"] == 0
        await remote.aclose()


async def test_passes_check_env_and_reports_the_same(coloring_server):
    env = HttpEnvironment(coloring_server.url, env="graph.coloring")
    spec = get_spec("graph.coloring")
    params = spec.validate({"n": 6})
    report = await check_env(env, operators=lambda agent: spec.baseline(params, agent))
    local = await check_env("graph.coloring", params={"n": 6})
    assert (report.task, report.steps, report.agents) == (local.task, local.steps, local.agents)
    assert report.score == local.score


async def test_params_and_score_mid_episode(toy_server):
    env = HttpEnvironment(toy_server.url, params={"goal": 5}, retries=0)
    assert env.tasks() == ["goal-5", "other"]
    with pytest.raises(RemoteEnvError, match="GET /score with no episode; reset first"):
        env.score()
    assert env.agents == []
    observations = await env.reset(3, "other")
    assert observations["a"].text == "seed 3 task other count 0" and env.agents == ["a"]
    await env.step({"a": Action(text="4")})
    mid = env.score()  # a blocking GET /score
    assert (mid.value, mid.success, mid.metrics) == (0.0, False, {"count": 4.0})
    assert (await env.observation())["a"].text == "count 4"
    await env.aclose()
    assert env.env_idx is None


async def test_errors_of_the_server_are_raised_with_url_and_verb(toy_server):
    env = HttpEnvironment(toy_server.url, retries=0)
    await env.reset(0)
    with pytest.raises(RemoteEnvError, match="the toy exploded") as boom:
        await env.step({"a": Action(text="boom")})
    assert boom.value.status == 500 and boom.value.verb == "POST /step"
    assert str(boom.value).startswith(f"remote environment {toy_server.url}: POST /step failed")

    # an instance closed under the client: 404 naming the env_idx
    await env.reset(0)
    async with httpx.AsyncClient(base_url=toy_server.url) as http:
        await http.post("/close", json={"env_idx": env.env_idx})
    with pytest.raises(RemoteEnvError, match=f"env_idx {env.env_idx}") as gone:
        await env.step({"a": Action(text="1")})
    assert gone.value.status == 404
    # ... but reset notices and starts over on a new instance
    first = env.env_idx
    await env.reset(0)
    assert env.env_idx != first
    await env.aclose()


async def test_user_errors_come_back_as_user_errors(coloring_server, toy_server):
    env = HttpEnvironment(coloring_server.url, retries=0)
    with pytest.raises(UserError, match="nope"):
        await env.reset(0, "nope")
    await env.aclose()
    with pytest.raises(UserError, match="POST /create failed: HTTP 422: .*goal"):
        await HttpEnvironment(toy_server.url, params={"goal": 0}).reset(0)
    with pytest.raises(UserError, match="http:// or https://"):
        HttpEnvironment("127.0.0.1:8000")


async def test_the_wrong_env_is_refused_and_released(coloring_server):
    env = HttpEnvironment(coloring_server.url, env="tooluse.store")
    with pytest.raises(UserError, match="serves 'graph.coloring', not 'tooluse.store'"):
        await env.reset(0)
    async with HttpEnvironment(coloring_server.url) as probe:
        assert (await probe.health())["instances"] == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_server_that_is_down_is_retried_then_named():
    url = f"http://127.0.0.1:{_closed_port()}"
    env = HttpEnvironment(url, retries=2, backoff_s=0.01)
    with pytest.raises(RemoteEnvError) as down:
        await env.reset(0)
    message = str(down.value)
    assert message.startswith(f"remote environment {url}: POST /create failed after 3 attempts")
    assert "ConnectError" in message and "palaestra serve-env" in message
    assert down.value.status is None and down.value.url == url
    with pytest.raises(RemoteEnvError, match="GET /tasks failed after 3 attempts"):
        env.tasks()


async def test_a_503_is_retried_until_the_server_has_room(toy_id):
    with EnvServer(toy_id, max_instances=1) as server:
        holder = HttpEnvironment(server.url)
        await holder.reset(0)
        # full: without retries the 503 is an error that says so
        with pytest.raises(RemoteEnvError, match="server full") as full:
            await HttpEnvironment(server.url, retries=0).reset(0)
        assert full.value.status == 503
        # with retries it waits (Retry-After: 1) and gets the room freed meanwhile
        waiting = HttpEnvironment(server.url, retries=3)
        started = time.monotonic()
        task = asyncio.create_task(waiting.reset(0))
        await asyncio.sleep(0.2)
        await holder.aclose()
        observations = await task
        assert observations["a"].text.startswith("seed 0")
        assert 0.9 < time.monotonic() - started < 5
        await waiting.aclose()


async def test_requests_do_not_wait_for_delayed_acks(toy_server):
    # one step costs well under a millisecond on localhost; a missing TCP_NODELAY on the
    # server's sockets made every response wait ~40 ms for the client's delayed ACK
    env = HttpEnvironment(toy_server.url, params={"goal": 1000})
    await env.reset(0)
    times = []
    for _ in range(15):
        started = time.perf_counter()
        await env.step({"a": Action(text="1")})
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.02, times
    await env.aclose()


def test_episodes_cut_short_by_the_runner_release_their_instances(coloring_server, tmp_path):
    # the runner never calls aclose(): a client released when it is collected
    job = {"env": "remote.http", "params": {"url": coloring_server.url}, "tasks": 3, "seeds": 2}
    result = run({"jobs": [{**job, "max_steps": 2}]}, store=tmp_path / "runs.db")
    assert [e.reason for e in result.episodes] == ["max_steps"] * 6
    deadline = time.monotonic() + 5
    while fetch_health(coloring_server.url)["instances"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fetch_health(coloring_server.url)["instances"] == 0
