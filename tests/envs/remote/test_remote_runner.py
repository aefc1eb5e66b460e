"""A whole suite through `palaestra serve-env` subprocesses on 127.0.0.1, run by the
runner with ``env: remote.http`` and the baseline, gives the same episodes as the same
jobs in-process: outcomes, scores, steps, rewards, and every event after the first."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from palaestra.runtime import run
from palaestra.store import Store

SERVED = {"graph.coloring": {"n": 6}, "tooluse.store": {"num_tasks": 4}}


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    """One `palaestra serve-env ENV --port 0` subprocess per env; their URLs."""
    procs: list[subprocess.Popen[str]] = []
    urls: dict[str, str] = {}
    try:
        for env_id, params in SERVED.items():
            args = [f"--param={k}={v}" for k, v in params.items()]
            proc = subprocess.Popen(
                [sys.executable, "-m", "palaestra", "serve-env", env_id, "--port", "0", *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            procs.append(proc)
            assert proc.stdout is not None
            line = proc.stdout.readline()  # "serving ENV at URL", once it listens
            if " at http://" not in line:
                proc.kill()
                raise AssertionError(f"serve-env {env_id} did not start: {proc.stderr.read()}")
            urls[env_id] = line.rsplit(" at ", 1)[1].strip()
        yield urls
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


def _jobs(remote: dict[str, str] | None) -> list[dict[str, Any]]:
    jobs: list[dict[str, Any]] = []
    for env_id, params in SERVED.items():
        job: dict[str, Any] = {"label": env_id, "tasks": 3, "seeds": 2}
        if remote is None:
            job.update(env=env_id, params=params)
        else:  # the server's own parameters; the baseline learns them from GET /
            job.update(env="remote.http", params={"url": remote[env_id], "env": env_id})
        jobs.append(job)
    # parameters other than the server's, sent with each create
    bigger = {"label": "coloring-8", "tasks": 2, "seeds": [5]}
    if remote is None:
        bigger.update(env="graph.coloring", params={"n": 8})
    else:
        url = remote["graph.coloring"]
        bigger.update(env="remote.http", params={"url": url, "params": {"n": 8}})
    jobs.append(bigger)
    # no url: served from a thread of the runner's own process
    loopback = {"label": "coloring-loopback", "tasks": 2, "seeds": 1}
    if remote is None:
        loopback.update(env="graph.coloring", params={"n": 7})
    else:
        loopback.update(env="remote.http", params={"env": "graph.coloring", "params": {"n": 7}})
    jobs.append(loopback)
    return jobs


def _episodes(path: Any, run_id: str) -> dict[str, tuple[Any, list[Any]]]:
    with Store(path) as store:
        out = {}
        for row in store.episodes(run_id):
            events = store.events(run_id, row.episode_id)
            start = events[0].payload
            summary = (
                row.status,
                row.outcome,
                row.reason,
                row.score,
                row.success,
                row.steps,
                row.total_reward,
                row.n_events,
                (start.task, start.seed, start.agents, start.operators),
            )
            rest = [
                (e.seq, e.step, e.agent, e.kind, e.parent, e.payload.model_dump(mode="json"))
                for e in events[1:]
            ]
            out[row.episode_id] = (summary, rest)
        return out


def test_a_suite_through_the_servers_scores_as_in_process(servers, tmp_path):
    local = run({"name": "local", "jobs": _jobs(None)}, store=tmp_path / "local.db")
    remote = run({"name": "remote", "jobs": _jobs(servers)}, store=tmp_path / "remote.db")
    assert remote.errors == 0 and local.errors == 0
    want = _episodes(tmp_path / "local.db", local.run_id)
    got = _episodes(tmp_path / "remote.db", remote.run_id)
    assert sorted(got) == sorted(want) and len(want) == 3 * 2 + 3 * 2 + 2 + 2
    for episode_id, (summary, events) in want.items():
        assert got[episode_id][0] == summary, episode_id
        assert got[episode_id][1] == events, episode_id
    # the baselines solve these tasks, so "equal" is not "equally broken"
    assert all(s[0][1] == "success" for s in want.values())
    for label, stats in remote.jobs.items():
        assert stats.mean_score == local.jobs[label].mean_score == 1.0
