"""Benchmark of the viewer's API on a store of one million events, against raw sqlite3.

Builds the store fast, through the store's own batched writer (`Store.append_rows` with
events serialised once from a template episode and only their episode id substituted):
R runs of multi-agent episodes (observation, model request and response, tool call and
result, action, env step per agent turn; start, score, end), outcomes and scores mixed,
two envs, plus one long episode (default 20,000 events) in the newest run. As the real
runner does, episode rows are written without their agents list (the viewer reads it
from each `episode_start`).

Then times each endpoint as the browser calls it (FastAPI's TestClient: routing,
validation, JSON encoding, all in process) and the `StoreReader` method under it,
against a raw sqlite3 `SELECT ... LIMIT` of the same rows in the same process (no
counting, no summaries, no JSON parsing): the medians over `--repeat` calls and the
ratio API / raw.

    .venv/bin/python benchmarks/viewer.py                     # 1,000,000 events
    .venv/bin/python benchmarks/viewer.py --events 100000 --repeat 5
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from palaestra.core import (
    Action,
    ActionEvent,
    EnvStep,
    EpisodeEnd,
    EpisodeStart,
    Message,
    ModelRequestEvent,
    ModelResponseEvent,
    Observation,
    ObservationEvent,
    Payload,
    ScoreEvent,
    ToolCall,
    ToolCallEvent,
    ToolResultEvent,
    Usage,
    make_event,
)
from palaestra.store import EpisodeRow, EpisodeSummary, Store
from palaestra.viewer import EpisodeFilter, StoreReader, create_app

PLACEHOLDER = "@@EPISODE@@"
AGENTS = ["planner", "coder", "tester"]
ENVS = ["tooluse.store", "mas.controlled"]
OUTCOMES = ["success", "success", "failure", "error"]


def template(steps: int) -> list[tuple[int, str, str, int, str]]:
    """One episode's rows (seq, kind, agent, step, json) with a placeholder episode id."""
    payloads: list[tuple[int, str, int | None, Payload]] = [
        (0, "env", None, EpisodeStart(env="tooluse.store", task="t", seed=0, agents=AGENTS))
    ]
    for step in range(steps):
        agent = AGENTS[step % len(AGENTS)]
        call = ToolCall(id=f"call_{step}", name="lookup", arguments={"key": f"K{step}"})
        base = len(payloads)
        payloads += [
            (step, agent, None, ObservationEvent(observation=Observation(text=f"Step {step}."))),
            (
                step,
                agent,
                base,
                ModelRequestEvent(
                    model="openai:gpt-4o-mini",
                    messages=[
                        Message(role="system", content="You are one agent of a team."),
                        Message(role="user", content=f"Step {step}: look up K{step}."),
                    ],
                ),
            ),
            (
                step,
                agent,
                base + 1,
                ModelResponseEvent(
                    message=Message(role="assistant", tool_calls=[call]),
                    usage=Usage(input_tokens=60 + step, output_tokens=9),
                ),
            ),
            (step, agent, base + 2, ToolCallEvent(call=call)),
            (step, agent, base + 3, ToolResultEvent(call_id=call.id, name="lookup", content="7")),
            (step, agent, base, ActionEvent(action=Action(text=f"K{step} is 7"))),
            (step, "env", None, EnvStep(rewards={agent: 0.1})),
        ]
    payloads += [
        (steps, "env", None, ScoreEvent(value=1.0, success=True)),
        (steps, "env", None, EpisodeEnd(outcome="success", reason="done", steps=steps)),
    ]
    rows = []
    for seq, (step, agent, parent, payload) in enumerate(payloads):
        event = make_event(PLACEHOLDER, seq, step, agent, payload, parent=parent, time=1.7e9)
        rows.append((seq, event.kind, agent, step, event.to_json()))
    return rows


def write_episode(store: Store, run_id: str, episode_id: str, rows: list, i: int) -> None:
    env = ENVS[i % len(ENVS)]
    store.start_episode(
        run_id, EpisodeRow(episode_id=episode_id, env=env, task=f"task-{i % 97:03d}", seed=i)
    )
    store.append_rows(
        run_id,
        [(episode_id, seq, kind, agent, step, text.replace(PLACEHOLDER, episode_id, 1))
         for seq, kind, agent, step, text in rows],
    )  # fmt: skip
    outcome = OUTCOMES[i % len(OUTCOMES)]
    store.finish_episode(
        run_id,
        EpisodeSummary(
            episode_id=episode_id,
            outcome=outcome,  # type: ignore[arg-type]
            reason="error" if outcome == "error" else "done",
            score=None if outcome == "error" else (i % 11) / 10,
            success=outcome == "success",
            steps=rows[-1][3],
            n_events=len(rows),
            input_tokens=1000,
            output_tokens=100,
        ),
    )


def build(path: Path, events: int, runs: int, steps: int, long_events: int) -> dict[str, Any]:
    """Write the store; returns what the timings need (run ids, episode ids)."""
    short = template(steps)
    long = template(max(1, (long_events - 3) // 7))
    n_episodes = max(runs, (events - len(long)) // len(short))
    with Store(path, batch_size=20_000, flush_interval_s=60.0) as store:
        run_ids = [f"bench-run-{r}" for r in range(runs)]
        for r, run_id in enumerate(run_ids):
            store.create_run(run_id, experiment={"name": run_id}, seed=r)
        for i in range(n_episodes):
            run_id = run_ids[i * runs // n_episodes]
            write_episode(store, run_id, f"job{i % 3}/task-{i:06d}/0/0", short, i)
        write_episode(store, run_ids[-1], "long/task-long/0/0", long, 1)
        store.flush()
    return {
        "runs": run_ids,
        "episodes": n_episodes + 1,
        "events": n_episodes * len(short) + len(long),
        "long_events": len(long),
    }


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm: first-use costs (statement cache, page cache) are not a page view
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=13, help="steps per episode (7 events each)")
    parser.add_argument("--long-events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "viewer-bench.db"
        start = time.perf_counter()
        built = build(path, args.events, args.runs, args.steps, args.long_events)
        took = time.perf_counter() - start
        size = path.stat().st_size / 2**20
        print(
            f"store: {built['events']:,} events in {built['episodes']:,} episodes of "
            f"{args.runs} runs, written in {took:.1f} s ({size:.0f} MiB)"
        )
        raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        app = create_app(reader := StoreReader(path))
        with reader, TestClient(app, base_url="http://127.0.0.1") as client:
            run = built["runs"][-1]
            per_run = built["episodes"] // args.runs
            (first_id,) = raw.execute(
                "SELECT id FROM episodes WHERE run_id = ? ORDER BY id LIMIT 1", (run,)
            ).fetchone()
            (long_id,) = raw.execute(
                "SELECT id FROM episodes WHERE episode_id = 'long/task-long/0/0'"
            ).fetchone()
            deep = built["long_events"] - 500
            middle = (per_run // 2) // 50 * 50

            def api(path: str, **params: Any) -> Callable[[], Any]:
                def call() -> Any:
                    response = client.get(path, params=params)
                    assert response.status_code == 200, response.text
                    return response.json()

                return call

            def sql(query: str, *params: Any) -> Callable[[], Any]:
                return lambda: raw.execute(query, params).fetchall()

            filtered = EpisodeFilter(outcome=("failure",), env=ENVS[0], task="task-01")
            cases = [
                (
                    "runs: first page",
                    api("/api/runs"),
                    lambda: reader.runs(),
                    sql("SELECT * FROM runs ORDER BY created_at DESC LIMIT 50"),
                ),
                (
                    "episodes: first page",
                    api("/api/episodes", run=run),
                    lambda: reader.episodes(run),
                    sql("SELECT * FROM episodes WHERE run_id = ? ORDER BY id LIMIT 50", run),
                ),
                (
                    f"episodes: page at offset {middle:,}",
                    api("/api/episodes", run=run, offset=middle),
                    lambda: reader.episodes(run, offset=middle),
                    sql(
                        "SELECT * FROM episodes WHERE run_id = ? ORDER BY id LIMIT 50 OFFSET ?",
                        run,
                        middle,
                    ),
                ),
                (
                    "episodes: filter outcome+env+task",
                    api("/api/episodes", run=run, outcome="failure", env=ENVS[0], task="task-01"),
                    lambda: reader.episodes(run, filtered),
                    sql(
                        "SELECT * FROM episodes WHERE run_id = ? AND outcome = 'failure' AND "
                        "env = ? AND task LIKE '%task-01%' ORDER BY id LIMIT 50",
                        run,
                        ENVS[0],
                    ),
                ),
                (
                    "episodes: filter agent",
                    api("/api/episodes", run=run, agent="coder"),
                    lambda: reader.episodes(run, EpisodeFilter(agent="coder")),
                    sql("SELECT * FROM episodes WHERE run_id = ? ORDER BY id LIMIT 50", run),
                ),
                (
                    "events: an episode's first page",
                    api("/api/events", episode=first_id),
                    lambda: reader.events(first_id),
                    sql(
                        "SELECT json FROM events WHERE episode = ? ORDER BY seq LIMIT 200",
                        first_id,
                    ),
                ),
                (
                    f"events: page after seq {deep:,}",
                    api("/api/events", episode=long_id, after_seq=deep),
                    lambda: reader.events(long_id, after_seq=deep),
                    sql(
                        "SELECT json FROM events WHERE episode = ? AND seq > ? "
                        "ORDER BY seq LIMIT 200",
                        long_id,
                        deep,
                    ),
                ),
                (
                    "event: one event's JSON",
                    api("/api/event", episode=long_id, seq=deep),
                    lambda: reader.event(long_id, deep),
                    sql("SELECT json FROM events WHERE episode = ? AND seq = ?", long_id, deep),
                ),
                (
                    "facets of a run",
                    api("/api/facets", run=run),
                    lambda: reader.facets(run),
                    sql("SELECT env, COUNT(*) FROM episodes WHERE run_id = ? GROUP BY env", run),
                ),
            ]
            print(f"medians of {args.repeat} calls; raw = sqlite3 SELECT ... LIMIT, same rows")
            print(f"{'endpoint':<36} {'api ms':>8} {'reader ms':>10} {'raw ms':>8} {'ratio':>8}")
            for name, through_api, through_reader, baseline in cases:
                api_ms = median_ms(through_api, args.repeat)
                reader_ms = median_ms(through_reader, args.repeat)
                raw_ms = median_ms(baseline, args.repeat)
                print(
                    f"{name:<36} {api_ms:>8.2f} {reader_ms:>10.2f} {raw_ms:>8.3f} "
                    f"{api_ms / raw_ms:>7.1f}x"
                )
        raw.close()


if __name__ == "__main__":
    main()
